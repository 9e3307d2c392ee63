package serve

import (
	"path"
	"strings"
	"testing"
)

// The allowlist: every shape of Allowed is accepted, and anything that could write, run a
// shell, read outside /proc's network files or send data is refused.
func TestAllowlist(t *testing.T) {
	cases := []struct {
		args    []string
		allowed bool
	}{
		{[]string{"ipvsdump"}, true},
		{[]string{"ipvsdump", "-o", "state", "--iptables"}, true},
		{[]string{"ipvsdump", "-Ln"}, true},
		{[]string{"ipvsdump", "-Ln", "--stats"}, true},
		{[]string{"ipvsdump", "--rate", "--exact"}, true},
		{[]string{"ipvsdump", "--o=json", "--links=false", "--node", "kind-worker"}, true},
		{[]string{"iptables-save"}, true},
		{[]string{"iptables-save", "-t", "nat"}, true},
		{[]string{"ip6tables-save", "-t", "filter"}, true},
		{[]string{"ip", "addr", "show"}, true},
		{[]string{"ip", "-j", "addr", "show"}, true},
		{[]string{"ip", "addr", "show", "kube-ipvs0"}, true},
		{[]string{"/usr/local/bin/ipvsdump", "-Ln"}, true},
		{[]string{"iptables", "-t", "nat", "-S"}, true},
		{[]string{"iptables", "-t", "nat", "-S", "KUBE-NODE-PORT"}, true},
		{[]string{"ip6tables", "-S"}, true},
		{[]string{"cat", "/proc/modules"}, true},
		{[]string{"/tmp/../usr/local/bin/ipvsdump", "-Ln"}, false},
		{[]string{"/usr/local/bin/ipvsdump", "serve"}, false},
		{[]string{"iptables", "-t", "nat", "-S", "KUBE-NODE-PORT", "-v"}, false},
		{[]string{"iptables", "-t", "nat", "-F", "KUBE-NODE-PORT"}, false},
		{[]string{"iptables", "-t", "nat;x", "-S"}, false},
		{[]string{"iptables", "-S", "-A"}, false},
		{[]string{"ip", "addr", "show", "dev", "eth0"}, false},
		{[]string{"ip", "addr", "show", "kube-ipvs0;reboot"}, false},
		{[]string{"ipset", "save"}, true},
		{[]string{"ipset", "list"}, true},
		{[]string{"ipset", "list", "KUBE-CLUSTER-IP"}, true},
		{[]string{"sysctl", "net.ipv4.vs.conntrack"}, true},
		{[]string{"sysctl", "net.ipv4.ip_forward", "net/ipv4/conf/all/arp_ignore"}, true},
		{[]string{"cat", "/proc/sys/net/ipv4/vs/conntrack"}, true},
		{[]string{"cat", "/proc/net/ip_vs"}, true},
		{[]string{"cat", "/proc/net/ip_vs_conn"}, true},
		{[]string{"curl", "http://10.96.0.10:80/"}, true},
		{[]string{"curl", "-sS", "--fail", "--max-time", "3", "http://10.96.0.10/"}, true},
		{[]string{"wget", "-q", "-T", "3", "-O", "-", "http://10.96.0.10/"}, true},
		{[]string{"wget", "-O", "-", "http://[fd00::10]:80/"}, true},

		{nil, false},
		{[]string{"ipvsdump", "serve"}, false},
		{[]string{"ipvsdump", "--flush"}, false},
		{[]string{"ipvsdump", "-C"}, false},
		{[]string{"ipvsdump", "-o"}, false},
		{[]string{"iptables", "-F"}, false},

		{[]string{"iptables-restore"}, false},
		{[]string{"iptables-save", "-t"}, false},
		{[]string{"iptables-save", "-t", "nat", "-c"}, false},
		{[]string{"iptables-save", "-t", "nat;reboot"}, false},
		{[]string{"iptables-save", "--modprobe=/tmp/x"}, false},
		{[]string{"ip", "addr", "add", "10.0.0.1/32", "dev", "kube-ipvs0"}, false},
		{[]string{"ip", "link", "del", "kube-ipvs0"}, false},
		{[]string{"ip", "-batch", "/tmp/x"}, false},
		{[]string{"ipset", "flush"}, false},
		{[]string{"ipset", "destroy", "KUBE-CLUSTER-IP"}, false},
		{[]string{"ipset", "list", "-o", "save"}, false},
		{[]string{"ipset", "restore"}, false},
		{[]string{"sysctl"}, false},
		{[]string{"sysctl", "-w", "x=1"}, false},
		{[]string{"sysctl", "net.ipv4.ip_forward=0"}, false},
		{[]string{"sysctl", "-p"}, false},
		{[]string{"sysctl", "-a"}, false},
		{[]string{"sysctl", "../../etc/shadow"}, false},
		{[]string{"sh", "-c", "id"}, false},
		{[]string{"bash"}, false},
		{[]string{"ipvsadm", "-C"}, false},
		{[]string{"cat", "/etc/shadow"}, false},
		{[]string{"cat", "/proc/sys/net/../../../etc/shadow"}, false},
		{[]string{"cat", "/proc/sys/kernel/hostname"}, false},
		{[]string{"cat", "/proc/net/ip_vs", "/etc/shadow"}, false},
		{[]string{"cat", "proc/net/ip_vs"}, false},
		{[]string{"curl", "-X", "POST", "http://10.96.0.10/"}, false},
		{[]string{"curl", "-d", "x", "http://10.96.0.10/"}, false},
		{[]string{"curl", "-o", "/etc/passwd", "http://10.96.0.10/"}, false},
		{[]string{"curl", "file:///etc/shadow"}, false},
		{[]string{"curl", "https://10.96.0.10/"}, false},
		{[]string{"curl", "http://a/", "http://b/"}, false},
		{[]string{"curl", "--max-time", "3600", "http://a/"}, false},
		{[]string{"curl"}, false},
		{[]string{"wget", "http://10.96.0.10/"}, false},
		{[]string{"wget", "-O", "/etc/passwd", "http://10.96.0.10/"}, false},
		{[]string{"wget", "--post-data=x", "-O", "-", "http://10.96.0.10/"}, false},
	}
	for _, tc := range cases {
		_, err := parse(tc.args)
		if (err == nil) != tc.allowed {
			t.Errorf("%q: allowed %t (%v), want %t", tc.args, err == nil, err, tc.allowed)
		}
	}
}

// FuzzParse holds the allowlist's promise for any command line: what it accepts is one of
// the listed commands and carries nothing that writes.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"iptables-save -t nat", "sysctl net.ipv4.ip_forward", "cat /proc/net/ip_vs", "curl -sS http://a/", "ipset list X", "sysctl -w x=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		cmd, err := parse(args)
		if err != nil {
			return
		}
		name := args[0]
		if path.Base(name) == "ipvsdump" {
			name = "ipvsdump" // any path of it runs this program, in-process
		}
		switch name {
		case "ipvsdump", "iptables-save", "ip6tables-save", "iptables", "ip6tables", "ip", "ipset", "sysctl", "cat", "curl", "wget":
		default:
			t.Fatalf("%q accepted", args)
		}
		for _, a := range args[1:] {
			if args[0] == "sysctl" && (strings.Contains(a, "=") || strings.HasPrefix(a, "-")) {
				t.Fatalf("%q accepted: a sysctl write", args)
			}
			if args[0] == "ipset" && a != "save" && a != "list" && a != args[len(args)-1] {
				t.Fatalf("%q accepted", args)
			}
		}
		if cmd.kind == runCat && !readableProcFile(cmd.args[0]) {
			t.Fatalf("%q accepted", args)
		}
	})
}

func TestParseCount(t *testing.T) {
	for _, tc := range []struct {
		text string
		want uint64
		ok   bool
	}{
		{"262144\n", 262144, true},
		{"0", 0, true},
		{"", 0, false},
		{"-1\n", 0, false},
		{" 12\n", 0, false},
		{"12\n\n", 0, false},
	} {
		got, err := parseCount(tc.text)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("parseCount(%q) = %d, %v; want %d, ok %t", tc.text, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseCount: a count read back as text reads as the same count, and anything else
// is an error naming what was found.
func FuzzParseCount(f *testing.F) {
	for _, s := range []string{"262144\n", "0", "", "x", "18446744073709551616"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		n, err := parseCount(text)
		if err != nil {
			if !strings.Contains(err.Error(), "expected a decimal count") {
				t.Fatalf("parseCount(%q): %v", text, err)
			}
			return
		}
		if back, err := parseCount(strings.TrimSuffix(text, "\n")); err != nil || back != n {
			t.Fatalf("parseCount(%q) = %d, but without the newline %d, %v", text, n, back, err)
		}
	})
}
