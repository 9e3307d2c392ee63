//go:build lab

package kernel_test

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
)

// labNode is the part of a dual-stack kube-proxy node that TestReadMatchesToolsInLab
// programs through the Linux adapters, with the options the model holds in every form:
// every protocol and family, firewall marks, scheduler flags, persistence with netmask,
// ops, weights 0/1/3, every forwarding method; kube-ipvs0 with IPv4 and IPv6 addresses;
// the kube-proxy set types with members, a bitmap range and a set with comments.
func labNode() dataplane.State {
	rs := func(addrPort string, fwd dataplane.Forwarding, weight int) dataplane.RealServer {
		ap := netip.MustParseAddrPort(addrPort)
		return dataplane.RealServer{Address: ap.Addr(), Port: ap.Port(), Forward: fwd, Weight: weight}
	}
	svc := func(proto dataplane.Protocol, addrPort, sched string, rss ...dataplane.RealServer) dataplane.VirtualServer {
		ap := netip.MustParseAddrPort(addrPort)
		fam := 4
		if ap.Addr().Is6() {
			fam = 6
		}
		return dataplane.VirtualServer{Protocol: proto, Family: fam, Address: ap.Addr(), Port: ap.Port(), Scheduler: sched, RealServers: rss}
	}
	m := dataplane.Masq
	sticky := svc(dataplane.TCP, "172.18.0.2:30080", "sh", rs("10.244.1.5:8080", m, 1), rs("10.244.2.7:8080", m, 3))
	sticky.SchedFlags = dataplane.SchedFlag1 | dataplane.SchedFlag2
	sticky.Persistent, sticky.Timeout, sticky.PrefixLen = true, 10800, 24
	dns := svc(dataplane.UDP, "10.96.0.10:53", "rr", rs("10.244.0.2:53", m, 1), rs("10.244.0.3:53", m, 0))
	dns.OnePacket = true
	sctp := svc(dataplane.SCTP, "10.96.0.20:9999", "mh", rs("10.244.2.7:9999", m, 1))
	sctp.SchedFlags = dataplane.SchedFlag2
	v6 := svc(dataplane.TCP, "[fd00:10:96::1]:443", "rr", rs("[fd00:10:244:1::5]:8443", m, 1), rs("[2001:db8::7]:8443", m, 3))
	v6.Persistent, v6.Timeout, v6.PrefixLen = true, 180, 64
	return dataplane.State{
		IPVS: dataplane.IPVS{
			Services: []dataplane.VirtualServer{
				svc(dataplane.TCP, "10.96.0.1:443", "rr", rs("172.18.0.3:6443", m, 1), rs("192.168.1.4:6443", m, 1)),
				sticky, dns, sctp, v6,
				svc(dataplane.UDP, "[fd00:10:96::a]:53", "wrr", rs("[fd00:10:244:1::5]:53", m, 1)),
				{FWMark: 100, Family: 4, Scheduler: "wlc", RealServers: []dataplane.RealServer{
					rs("10.244.1.5:0", dataplane.Route, 1), rs("192.168.1.9:0", dataplane.Tunnel, 3)}},
				{FWMark: 200, Family: 6, Scheduler: "rr", Persistent: true, Timeout: 60, PrefixLen: 64,
					RealServers: []dataplane.RealServer{rs("[fd00:10:244:1::5]:0", dataplane.Route, 1)}},
			},
			Timeouts: dataplane.Timeouts{TCP: 7200, TCPFin: 30, UDP: 45},
		},
		Links: []dataplane.Link{{Name: dataplane.KubeIPVSInterface, Kind: "dummy", Addrs: []netip.Prefix{
			netip.MustParsePrefix("10.96.0.1/32"), netip.MustParsePrefix("10.96.0.10/32"),
			netip.MustParsePrefix("10.96.0.20/32"), netip.MustParsePrefix("fd00:10:96::1/128"),
			netip.MustParsePrefix("fd00:10:96::a/128"),
		}}},
		IPSets: []dataplane.IPSet{
			{Name: "KUBE-CLUSTER-IP", Type: dataplane.SetHashIPPort, Family: "inet", HashSize: 1024, MaxElem: 65536, Comment: true,
				Members: dataplane.MustParseMembers(dataplane.SetHashIPPort, "10.96.0.1,tcp:443", "10.96.0.10,udp:53", "10.96.0.20,sctp:9999")},
			{Name: "KUBE-LOOP-BACK", Type: dataplane.SetHashIPPortIP, Family: "inet", HashSize: 1024, MaxElem: 65536,
				Members: dataplane.MustParseMembers(dataplane.SetHashIPPortIP, "10.244.1.5,tcp:8080,10.244.1.5")},
			{Name: "KUBE-LOAD-BALANCER-SOURCE-CIDR", Type: dataplane.SetHashIPPortNet, Family: "inet", HashSize: 1024, MaxElem: 65536,
				Members: dataplane.MustParseMembers(dataplane.SetHashIPPortNet, "192.0.2.10,tcp:80,203.0.113.0/24")},
			{Name: "KUBE-NODE-PORT-TCP", Type: dataplane.SetBitmapPort, PortRange: "0-65535", Members: dataplane.MustParseMembers(dataplane.SetBitmapPort, "30080", "30443")},
			{Name: "KUBE-NODE-PORT-UDP", Type: dataplane.SetBitmapPort, PortRange: "30000-32767"},
			{Name: "KUBE-IPVS-IPS", Type: dataplane.SetHashIP, Family: "inet", HashSize: 1024, MaxElem: 65536,
				Members: dataplane.MustParseMembers(dataplane.SetHashIP, "10.96.0.1", "10.96.0.10", "10.96.0.20")},
			{Name: "KUBE-6-CLUSTER-IP", Type: dataplane.SetHashIPPort, Family: "inet6", HashSize: 1024, MaxElem: 65536,
				Members: dataplane.MustParseMembers(dataplane.SetHashIPPort, "fd00:10:96::1,tcp:443", "fd00:10:96::a,udp:53")},
			{Name: "KUBE-6-SOURCE-CIDR", Type: dataplane.SetHashNet, Family: "inet6", HashSize: 1024, MaxElem: 65536,
				Members: dataplane.MustParseMembers(dataplane.SetHashNet, "2001:db8:1::/48")},
		},
	}
}

// labRules is kube-proxy's ipvs-mode ruleset in the shape iptables-restore takes it, for
// IPv4 and IPv6; cleanupRules(labRules) takes it out again.
const labRules = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES -m set --match-set CLUSTER-IP-SET dst,dst -j ACCEPT
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
COMMIT
*filter
:KUBE-FORWARD - [0:0]
:KUBE-IPVS-FILTER - [0:0]
-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-IPVS-FILTER -m set --match-set CLUSTER-IP-SET dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set IPVS-IPS-SET dst -j REJECT
COMMIT
`

// cleanupRules is the restore input that takes rules out again: the rules it adds to
// built-in chains are deleted one by one, the chains it declares (which flushes them) are
// deleted whole. Derived, so that a rule added to labRules is also taken out.
func cleanupRules(rules string) string {
	var out, chains []string
	for _, line := range strings.Split(strings.TrimSuffix(rules, "\n"), "\n") {
		switch f := strings.Fields(line); {
		case strings.HasPrefix(line, ":"):
			chains = append(chains, line[1:strings.IndexByte(line, ' ')])
			out = append(out, line)
		case f[0] == "-A" && slices.Contains(chains, f[1]):
			// Flushed with its chain.
		case f[0] == "-A":
			out = append(out, "-D"+line[2:])
		case line == "COMMIT":
			for _, c := range chains {
				out = append(out, "-X "+c)
			}
			chains = nil
			out = append(out, line)
		default:
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// rulesFor names the sets of one family in labRules.
func rulesFor(fam iptables.Family, text string) []byte {
	sets := strings.NewReplacer("CLUSTER-IP-SET", "KUBE-CLUSTER-IP", "IPVS-IPS-SET", "KUBE-IPVS-IPS")
	if fam == iptables.IPv6 {
		sets = strings.NewReplacer("CLUSTER-IP-SET", "KUBE-6-CLUSTER-IP", "IPVS-IPS-SET", "KUBE-6-CLUSTER-IP",
			"-j REJECT", "-j REJECT --reject-with icmp6-port-unreachable")
	}
	return []byte(sets.Replace(text))
}

// labReadOptions read every part TestReadMatchesToolsInLab programs.
var labReadOptions = kernel.ReadOptions{IPVS: true, Timeouts: true, Links: true, IPSets: true,
	IPTables: true, IP6Tables: true, Tables: []string{"nat", "filter"}}

// programLab writes s and labRules into the kernel through the Linux adapters and takes
// them out again when the test ends, then checks that the kernel is as it was: the lab's
// tests share one kernel.
func programLab(t *testing.T, k *kernel.Kernel, s dataplane.State) {
	t.Helper()
	// Every table: reading one the nf_tables back end has not created yet would fail.
	before, err := kernel.Read(k, kernel.Everything(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // registered first, so it runs after every other cleanup
		after, err := kernel.Read(k, kernel.Everything(""))
		if err != nil {
			t.Fatal(err)
		}
		if d := dataplane.Diff(before, after); len(d) > 0 {
			t.Errorf("the test left the kernel changed (- before, + after):\n%s", d)
		}
	})
	old, err := k.IPVS.Timeouts()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.IPVS.SetTimeouts(old); err != nil {
			t.Errorf("cleanup: restore IPVS timeouts %+v: %v", old, err)
		}
	})
	if err := k.IPVS.SetTimeouts(s.IPVS.Timeouts); err != nil {
		t.Fatal(err)
	}
	for _, vs := range s.IPVS.Services {
		if err := k.IPVS.AddService(vs); err != nil {
			t.Fatalf("AddService(%s): %v", vs.Key(), err)
		}
		t.Cleanup(func() {
			if err := k.IPVS.DeleteService(vs.Key()); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Errorf("cleanup: DeleteService(%s): %v", vs.Key(), err)
			}
		})
		for _, rs := range vs.RealServers {
			if err := k.IPVS.AddRealServer(vs.Key(), rs); err != nil {
				t.Fatalf("AddRealServer(%s, %s): %v", vs.Key(), rs.Key(), err)
			}
		}
	}

	for _, l := range s.Links {
		created, err := k.Links.EnsureDummy(l.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !created {
			t.Fatalf("%s exists before the test created it: a previous lab test left it behind", l.Name)
		}
		t.Cleanup(func() {
			if err := k.Links.DeleteLink(l.Name); err != nil {
				t.Errorf("cleanup: DeleteLink(%s): %v", l.Name, err)
			}
		})
		for _, p := range l.Addrs {
			if err := k.Links.AddAddress(l.Name, p); err != nil {
				t.Fatalf("AddAddress(%s, %s): %v", l.Name, p, err)
			}
		}
	}

	for _, set := range s.IPSets {
		if err := k.IPSets.Create(set); err != nil {
			t.Fatalf("Create(%s): %v", set.Name, err)
		}
		t.Cleanup(func() {
			if err := k.IPSets.Destroy(set.Name); err != nil {
				t.Errorf("cleanup: Destroy(%s): %v", set.Name, err)
			}
		})
		if err := k.IPSets.Add(set.Name, set.Members...); err != nil {
			t.Fatalf("Add(%s, %q): %v", set.Name, set.Members, err)
		}
	}

	for _, fam := range []iptables.Family{iptables.IPv4, iptables.IPv6} {
		if err := k.IPTables.Restore(fam, rulesFor(fam, labRules)); err != nil {
			t.Fatalf("Restore(%v): %v", fam, err)
		}
		t.Cleanup(func() { // runs before the sets are destroyed: the rules use them
			if err := k.IPTables.Restore(fam, rulesFor(fam, cleanupRules(labRules))); err != nil {
				t.Errorf("cleanup: Restore(%v): %v", fam, err)
			}
		})
	}
}

// TestReadMatchesToolsInLab programs a node through the Linux adapters, then requires
// kernel.Read, which reads IPVS, links and sets over netlink, to equal the state parsed
// from what the node tools print about the same kernel: ipvsadm, ip, ipset and
// iptables-save. The rulesets are read with iptables-save on both sides, so for them the
// check is that Save's table selection and parsing keep everything.
func TestReadMatchesToolsInLab(t *testing.T) {
	labtest.Require(t)
	k := labtest.Open(t, kernel.Linux)
	want := labNode()
	programLab(t, k, want)

	got, err := kernel.Read(k, labReadOptions)
	if err != nil {
		t.Fatal(err)
	}

	text := dataplane.State{}
	text.IPVS, err = dataplane.ParseIPVSAdm(tool(t, "ipvsadm", "-Ln"))
	parsed(t, "ipvsadm -Ln", err)
	text.IPVS.Timeouts, err = dataplane.ParseIPVSAdmTimeouts(tool(t, "ipvsadm", "-Ln", "--timeout"))
	parsed(t, "ipvsadm -Ln --timeout", err)
	text.Links, err = dataplane.ParseIPAddrJSON([]byte(tool(t, "ip", "-j", "-d", "addr", "show")))
	parsed(t, "ip -j -d addr show", err)
	text.IPSets, err = dataplane.ParseIPSetSave(tool(t, "ipset", "save"))
	parsed(t, "ipset save", err)
	text.IPTables, err = dataplane.ParseIPTablesSave(tool(t, "iptables-save"))
	parsed(t, "iptables-save", err)
	text.IP6Tables, err = dataplane.ParseIPTablesSave(tool(t, "ip6tables-save"))
	parsed(t, "ip6tables-save", err)
	text.IPTables, text.IP6Tables = onlyTables(text.IPTables, labReadOptions.Tables), onlyTables(text.IP6Tables, labReadOptions.Tables)

	if d := dataplane.Diff(text, got); len(d) > 0 {
		t.Errorf("kernel.Read differs from the tools' text (- text, + kernel.Read):\n%s", d)
	}

	// Both sides must hold what was programmed, or they could agree on nothing.
	t.Run("holds what was programmed", func(t *testing.T) {
		for _, vs := range want.IPVS.Services {
			g, ok := got.IPVS.Service(vs.Key())
			if !ok {
				t.Errorf("%s not read", vs.Key())
				continue
			}
			if d := dataplane.DiffIPVS(dataplane.IPVS{Services: []dataplane.VirtualServer{vs}}, dataplane.IPVS{Services: []dataplane.VirtualServer{g}}); len(d) > 0 {
				t.Errorf("%s read otherwise than programmed:\n%s", vs.Key(), d)
			}
		}
		if got.IPVS.Timeouts != want.IPVS.Timeouts {
			t.Errorf("timeouts read as %+v, programmed %+v", got.IPVS.Timeouts, want.IPVS.Timeouts)
		}
		l, ok := got.Link(dataplane.KubeIPVSInterface)
		if !ok {
			t.Fatalf("%s not read", dataplane.KubeIPVSInterface)
		}
		wl := want.Links[0]
		wl.Index = l.Index
		if d := dataplane.Diff(dataplane.State{Links: []dataplane.Link{wl}}, dataplane.State{Links: []dataplane.Link{l}}); len(d) > 0 {
			t.Errorf("%s read otherwise than programmed:\n%s", wl.Name, d)
		}
		for _, ws := range want.IPSets {
			gs, ok := got.IPSet(ws.Name)
			if !ok {
				t.Errorf("set %s not read", ws.Name)
				continue
			}
			if d := dataplane.Diff(dataplane.State{IPSets: []dataplane.IPSet{ws}}, dataplane.State{IPSets: []dataplane.IPSet{gs}}); len(d) > 0 {
				t.Errorf("set %s read otherwise than programmed:\n%s", ws.Name, d)
			}
		}
		for _, r := range []struct {
			name string
			set  dataplane.Ruleset
		}{{"iptables", got.IPTables}, {"ip6tables", got.IP6Tables}} {
			if n := len(r.set.Rules("nat", "KUBE-POSTROUTING")); n != 3 {
				t.Errorf("%s nat KUBE-POSTROUTING has %d rules, programmed 3", r.name, n)
			}
			if n := len(r.set.Rules("filter", "KUBE-IPVS-FILTER")); n != 2 {
				t.Errorf("%s filter KUBE-IPVS-FILTER has %d rules, programmed 2", r.name, n)
			}
		}
	})

	// The other texts of the same kernel: ipvsadm's save format, ipset's list format and
	// /proc/net/ip_vs, which lacks scheduler flags and ops and lists in the kernel's order,
	// the order netlink gives too.
	t.Run("ipvsadm -Sn", func(t *testing.T) {
		save, err := dataplane.ParseIPVSAdmSave(tool(t, "ipvsadm", "-Sn"))
		parsed(t, "ipvsadm -Sn", err)
		if d := dataplane.DiffIPVS(save, dataplane.IPVS{Services: got.IPVS.Services}); len(d) > 0 {
			t.Errorf("kernel.Read differs from ipvsadm -Sn (- text, + kernel.Read):\n%s", d)
		}
	})
	t.Run("ipset list", func(t *testing.T) {
		list, err := dataplane.ParseIPSetList(tool(t, "ipset", "list"))
		parsed(t, "ipset list", err)
		if d := dataplane.Diff(dataplane.State{IPSets: list}, dataplane.State{IPSets: got.IPSets}); len(d) > 0 {
			t.Errorf("kernel.Read differs from ipset list (- text, + kernel.Read):\n%s", d)
		}
	})
	t.Run("/proc/net/ip_vs in the same order and form", func(t *testing.T) {
		data, err := os.ReadFile("/proc/net/ip_vs")
		if err != nil {
			t.Fatal(err)
		}
		proc, err := dataplane.ParseProcIPVS(string(data))
		parsed(t, "/proc/net/ip_vs", err)
		services, err := k.IPVS.Services()
		if err != nil {
			t.Fatal(err)
		}
		if w, g := order(proc.Services), order(services); !slices.Equal(w, g) {
			t.Errorf("Services() lists\n  %s\n/proc/net/ip_vs lists\n  %s", strings.Join(g, "\n  "), strings.Join(w, "\n  "))
		}
		read := dataplane.IPVS{Services: slices.Clone(services)}
		for i, vs := range read.Services {
			read.Services[i].SchedFlags = 0
			if vs.FWMark == 0 && vs.IsIPv6() {
				read.Services[i].OnePacket = false
			}
		}
		if d := dataplane.DiffIPVS(proc, read); len(d) > 0 {
			t.Errorf("Services() differs from /proc/net/ip_vs beyond scheduler flags and IPv6 ops (- proc, + Services):\n%s", d)
		}
		if out := dataplane.FormatProcIPVS(proc, dataplane.DebianKernelHZ); out != string(data) {
			t.Errorf("FormatProcIPVS(ParseProcIPVS(x)) differs from /proc/net/ip_vs (- kernel, + ours):\n%s", lineDiff(string(data), out))
		}
	})
}

// lineDiff marks the lines of two texts that differ, with a '$' at each line's end to
// show trailing blanks.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		switch {
		case i < len(w) && i < len(g) && w[i] == g[i]:
			b.WriteString("  " + w[i] + "$\n")
		default:
			if i < len(w) {
				b.WriteString("- " + w[i] + "$\n")
			}
			if i < len(g) {
				b.WriteString("+ " + g[i] + "$\n")
			}
		}
	}
	return b.String()
}

// order lists services and their real servers as "TCP 10.96.0.1:443 > 10.244.1.5:80".
func order(services []dataplane.VirtualServer) []string {
	var out []string
	for _, vs := range services {
		line := vs.Key().String()
		for _, rs := range vs.RealServers {
			line += " > " + rs.Key().String()
		}
		out = append(out, line)
	}
	return out
}

func parsed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("parsing %s: %v", what, err)
	}
}

// onlyTables keeps the named tables of a ruleset, in the order named.
func onlyTables(r dataplane.Ruleset, names []string) dataplane.Ruleset {
	var out dataplane.Ruleset
	for _, n := range names {
		if t, ok := r.Table(n); ok {
			out.Tables = append(out.Tables, t)
		}
	}
	return out
}

// tool runs a node tool and returns its standard output; anything on stderr fails.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// In the kernel lab, the real kernel reads like the fakes do.
func TestLinuxRead(t *testing.T) {
	labtest.Require(t)
	k := labtest.Open(t, kernel.Linux)
	s, err := kernel.Read(k, kernel.ReadOptions{IPVS: true, Timeouts: true, Links: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.IPVS.Timeouts.TCP == 0 {
		t.Errorf("IPVS timeouts not read: %+v", s.IPVS.Timeouts)
	}
	if _, ok := s.Link("lo"); !ok {
		t.Errorf("links lack lo: %+v", s.Links)
	}
}
