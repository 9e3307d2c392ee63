//go:build lab

package main

import (
	"bytes"
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
)

// labTable is a table meant to catch every way ipvsdump could print differently from
// Debian's ipvsadm: every protocol and family, firewall marks (one above 2^31, which
// ipvsadm's "%d" prints negative), the schedulers with their flags, persistence with
// timeout and netmask, ops, weights 0/1/3, every forwarding method, and addresses spread
// over the IPv4 space (10/8, 100.64/10, 172.16/12, 192.168/16, 198.18/15) so that
// ipvsadm's wrap-around comparison and merge sort give an order no plain sort gives.
func labTable() []dataplane.VirtualServer {
	rs := func(addrPort string, fwd dataplane.Forwarding, weight int) dataplane.RealServer {
		ap := netip.MustParseAddrPort(addrPort)
		return dataplane.RealServer{Address: ap.Addr(), Port: ap.Port(), Forward: fwd, Weight: weight}
	}
	svc := func(proto dataplane.Protocol, addrPort, sched string, rss ...dataplane.RealServer) dataplane.VirtualServer {
		ap := netip.MustParseAddrPort(addrPort)
		return dataplane.VirtualServer{Protocol: proto, Address: ap.Addr(), Port: ap.Port(), Scheduler: sched, RealServers: rss}
	}
	m := dataplane.Masq
	apiServer := svc(dataplane.TCP, "10.96.0.1:443", "rr",
		rs("172.18.0.3:6443", m, 1), rs("10.0.0.5:6443", m, 1), rs("192.168.1.4:6443", m, 3),
		rs("100.64.1.1:6443", m, 0), rs("10.0.0.5:6444", m, 1), rs("198.18.0.9:6443", m, 1))
	nodePort := svc(dataplane.TCP, "172.18.0.2:30089", "wrr",
		rs("10.244.3.214:80", m, 3), rs("10.244.1.5:80", m, 0), rs("192.168.7.7:80", m, 1))
	sticky := svc(dataplane.TCP, "100.64.0.10:80", "sh",
		rs("10.244.1.5:8080", m, 1), rs("172.20.0.4:8080", m, 1))
	sticky.SchedFlags = dataplane.SchedFlag1 | dataplane.SchedFlag2
	sticky.Persistent, sticky.Timeout, sticky.PrefixLen = true, 10800, 24
	dnsUDP := svc(dataplane.UDP, "10.96.0.10:53", "rr", rs("10.244.0.2:53", m, 1), rs("10.244.0.3:53", m, 1))
	dnsUDP.OnePacket = true
	sctp := svc(dataplane.SCTP, "192.168.49.2:3868", "mh", rs("10.244.2.7:3868", m, 1), rs("172.31.9.9:3868", m, 1))
	sctp.SchedFlags = dataplane.SchedFlag2
	v6 := svc(dataplane.TCP, "[fd00:10:96::1]:443", "rr",
		rs("[fd00:10:244:1::5]:8443", m, 1), rs("[2001:db8::7]:8443", m, 3), rs("[fd00:10:244:1::5]:8444", m, 0))
	v6.Persistent, v6.Timeout, v6.PrefixLen = true, 300, 64
	v6udp := svc(dataplane.UDP, "[2001:db8::53]:53", "lc", rs("[fd00:10:244:2::3]:53", m, 1))
	v6udp.OnePacket = true
	v6udp.Persistent, v6udp.Timeout = true, 60

	fwm := dataplane.VirtualServer{FWMark: 100, Family: 4, Scheduler: "wlc", RealServers: []dataplane.RealServer{
		rs("10.244.1.5:0", dataplane.Route, 1), rs("192.168.1.9:0", dataplane.Tunnel, 3), rs("172.17.0.2:0", dataplane.Masq, 0)}}
	fwm6 := dataplane.VirtualServer{FWMark: 200, Family: 6, Scheduler: "rr", Persistent: true, Timeout: 60, PrefixLen: 64,
		RealServers: []dataplane.RealServer{rs("[fd00:10:244:1::5]:0", dataplane.Route, 1)}}
	fwmHigh := dataplane.VirtualServer{FWMark: 0x80000005, Family: 4, Scheduler: "rr",
		RealServers: []dataplane.RealServer{rs("10.244.9.9:0", dataplane.Masq, 1)}}

	return []dataplane.VirtualServer{
		apiServer, nodePort, sticky, dnsUDP, sctp, v6, v6udp, fwm, fwm6, fwmHigh,
		svc(dataplane.TCP, "10.96.0.10:53", "rr", rs("10.244.0.2:53", m, 1), rs("10.244.0.3:53", m, 1)),
		svc(dataplane.TCP, "10.106.71.137:80", "rr", rs("10.244.3.214:80", m, 1)),
		svc(dataplane.TCP, "192.168.49.2:30443", "rr", rs("10.244.3.214:443", m, 1)),
		svc(dataplane.TCP, "198.18.4.4:80", "rr"),
		svc(dataplane.UDP, "172.18.0.2:30053", "wrr", rs("10.244.0.3:53", m, 1)),
		svc(dataplane.UDP, "100.96.0.1:53", "rr", rs("10.244.0.3:53", m, 1)),
		svc(dataplane.TCP, "10.96.200.5:8080", "rr", rs("10.244.3.214:8080", m, 1)),
	}
}

// openIPVS opens the guest kernel's IPVS over netlink until the test ends.
func openIPVS(t *testing.T) *ipvs.Linux {
	t.Helper()
	h, err := ipvs.NewLinux()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// programIPVS adds the virtual servers (and their real servers) to the kernel's table
// and removes them when the test ends.
func programIPVS(t *testing.T, h ipvs.Interface, table []dataplane.VirtualServer) {
	t.Helper()
	for _, vs := range table {
		if err := h.AddService(vs); err != nil {
			t.Fatalf("AddService(%s): %v", vs.Key(), err)
		}
		t.Cleanup(func() {
			if err := h.DeleteService(vs.Key()); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Errorf("cleanup: DeleteService(%s): %v", vs.Key(), err)
			}
		})
		for _, rs := range vs.RealServers {
			if err := h.AddRealServer(vs.Key(), rs); err != nil {
				t.Fatalf("AddRealServer(%s, %s): %v", vs.Key(), rs.Key(), err)
			}
		}
	}
}

// TestMatchesIPVSAdmInLab programs the kernel, then requires ipvsdump's output to equal
// Debian's ipvsadm byte for byte, for the listing, the timeouts and the save format.
func TestMatchesIPVSAdmInLab(t *testing.T) {
	labtest.Require(t)
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		t.Fatalf("the lab guest has no ipvsadm in PATH: %v", err)
	}
	h := openIPVS(t)
	old, err := h.Timeouts()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.SetTimeouts(old); err != nil {
			t.Errorf("restore IPVS timeouts %+v: %v", old, err)
		}
	})
	if err := h.SetTimeouts(dataplane.Timeouts{TCP: 7200, TCPFin: 30, UDP: 45}); err != nil {
		t.Fatal(err)
	}
	programIPVS(t, h, labTable())

	for _, c := range []struct {
		name     string
		ipvsadm  []string
		ipvsdump []string
	}{
		{"listing", []string{"-Ln"}, nil},
		{"listing with ipvsadm's flags", []string{"-L", "-n"}, []string{"-Ln"}},
		{"timeouts", []string{"-Ln", "--timeout"}, []string{"--timeout"}},
		{"save", []string{"-Sn"}, []string{"-o", "save"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := ipvsadmOutput(t, c.ipvsadm...)
			got, stderr, code := runArgs(t, kernel.Linux, c.ipvsdump...)
			if code != exitOK || stderr != "" {
				t.Fatalf("ipvsdump %s: exit %d, stderr:\n%s", strings.Join(c.ipvsdump, " "), code, stderr)
			}
			if got != want {
				t.Errorf("ipvsdump %s differs from ipvsadm %s (- ipvsadm, + ipvsdump):\n%s",
					strings.Join(c.ipvsdump, " "), strings.Join(c.ipvsadm, " "), lineDiff(want, got))
			}
		})
	}

	// The listing must hold what was programmed, or equal outputs could both be wrong.
	t.Run("listing holds the programmed table", func(t *testing.T) {
		got, err := dataplane.ParseIPVSAdm(ipvsadmOutput(t, "-Ln"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range labTable() {
			vs, ok := got.Service(want.Key())
			if !ok {
				t.Errorf("%s missing from ipvsadm -Ln", want.Key())
				continue
			}
			if d := dataplane.DiffIPVS(dataplane.IPVS{Services: []dataplane.VirtualServer{want}}, dataplane.IPVS{Services: []dataplane.VirtualServer{vs}}); len(d) > 0 {
				t.Errorf("ipvsadm lists %s otherwise than programmed:\n%s", want.Key(), d)
			}
		}
	})
}

// ipvsadmOutput runs Debian's ipvsadm and returns its standard output.
func ipvsadmOutput(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ipvsadm", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ipvsadm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// lineDiff shows two texts line by line, marking the lines that differ; trailing blanks
// are made visible with a '$' at the end of each line.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl == gl {
			b.WriteString("  " + wl + "$\n")
			continue
		}
		if i < len(w) {
			b.WriteString("- " + wl + "$\n")
		}
		if i < len(g) {
			b.WriteString("+ " + gl + "$\n")
		}
	}
	return b.String()
}
