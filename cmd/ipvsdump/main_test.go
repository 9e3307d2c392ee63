package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// kindNode is a kind worker in ipvs mode: the API server, DNS (TCP and UDP), the seed's
// service-test1 and its NodePort on the node's address, listed here in no useful order.
func kindNode() dataplane.State {
	rs := func(addrPort string, active, inactive int) dataplane.RealServer {
		ap := netip.MustParseAddrPort(addrPort)
		return dataplane.RealServer{Address: ap.Addr(), Port: ap.Port(), Forward: dataplane.Masq, Weight: 1, ActiveConns: active, InactiveConns: inactive}
	}
	vs := func(proto dataplane.Protocol, addrPort string, rss ...dataplane.RealServer) dataplane.VirtualServer {
		ap := netip.MustParseAddrPort(addrPort)
		return dataplane.VirtualServer{Protocol: proto, Address: ap.Addr(), Port: ap.Port(), Scheduler: "rr", RealServers: rss}
	}
	dns := []dataplane.RealServer{rs("10.244.0.3:53", 0, 0), rs("10.244.0.2:53", 0, 1)}
	return dataplane.State{
		IPVS: dataplane.IPVS{
			Services: []dataplane.VirtualServer{
				vs(dataplane.UDP, "10.96.0.10:53", dns...),
				vs(dataplane.TCP, "10.106.71.137:80", rs("10.244.3.214:80", 0, 0)),
				vs(dataplane.TCP, "10.96.0.1:443", rs("172.18.0.3:6443", 3, 0)),
				vs(dataplane.TCP, "10.96.0.10:53", dns...),
				vs(dataplane.TCP, "172.18.0.2:30089", rs("10.244.3.214:80", 0, 0)),
			},
			Timeouts: dataplane.Timeouts{TCP: 900, TCPFin: 120, UDP: 300},
		},
		Links: []dataplane.Link{
			{Name: "lo", Index: 1, Kind: "loopback", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{Name: "kube-ipvs0", Index: 3, Kind: "dummy", Addrs: []netip.Prefix{
				netip.MustParsePrefix("10.96.0.1/32"), netip.MustParsePrefix("10.96.0.10/32"), netip.MustParsePrefix("10.106.71.137/32")}},
		},
		IPSets: []dataplane.IPSet{
			{Name: "KUBE-NODE-PORT-TCP", Type: "bitmap:port", PortRange: "0-65535", Members: []dataplane.Member{{Port: 30089}}},
		},
		IPTables: dataplane.Ruleset{Tables: []dataplane.Table{{Name: "nat", Chains: []dataplane.Chain{
			{Name: "KUBE-MARK-MASQ", Policy: "-", Rules: []dataplane.Rule{{Spec: "-j MARK --set-xmark 0x4000/0x4000"}}},
		}}}},
	}
}

func fakeKernel(t *testing.T, s dataplane.State) func() (*kernel.Kernel, error) {
	t.Helper()
	k, err := kernel.FakeWith(s)
	if err != nil {
		t.Fatal(err)
	}
	return func() (*kernel.Kernel, error) { return k, nil }
}

func runArgs(t *testing.T, open func() (*kernel.Kernel, error), args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut, open)
	return out.String(), errOut.String(), code
}

// The default output is ipvsadm -Ln's, in ipvsadm's order: TCP before UDP, and within TCP
// the node port on 172.18.0.2 before the 10.96.x.x cluster IPs (libipvs' wrapping
// address comparison), real servers sorted too, counters shown.
func TestDefaultOutputIsIPVSAdm(t *testing.T) {
	open := fakeKernel(t, kindNode())
	for _, args := range [][]string{nil, {"-Ln"}, {"-L", "-n"}, {"-o", "ipvsadm"}} {
		out, errOut, code := runArgs(t, open, args...)
		if code != exitOK || errOut != "" {
			t.Fatalf("ipvsdump %q: exit %d, stderr %q", args, code, errOut)
		}
		fixture.Golden(t, filepath.Join("testdata", "kind-node.ipvsadm-Ln"), out, *update)
	}
}

func TestTimeout(t *testing.T) {
	out, _, code := runArgs(t, fakeKernel(t, kindNode()), "--timeout")
	if want := "Timeout (tcp tcpfin udp): 900 120 300\n"; code != exitOK || out != want {
		t.Errorf("--timeout: exit %d, output %q; want %q", code, out, want)
	}
}

func TestExtraParts(t *testing.T) {
	out, _, code := runArgs(t, fakeKernel(t, kindNode()), "--links", "--ipsets")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	fixture.Golden(t, filepath.Join("testdata", "kind-node.links-ipsets"), out, *update)
}

func TestSave(t *testing.T) {
	out, _, code := runArgs(t, fakeKernel(t, kindNode()), "-o", "save")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	fixture.Golden(t, filepath.Join("testdata", "kind-node.ipvsadm-Sn"), out, *update)
}

func TestJSON(t *testing.T) {
	out, _, code := runArgs(t, fakeKernel(t, kindNode()), "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var got dataplane.IPVS
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("-o json is not an IPVS table: %v\n%s", err, out)
	}
	if d := dataplane.DiffIPVS(kindNode().IPVS, got); len(d) > 0 {
		t.Errorf("-o json differs from the fake's table:\n%s", d)
	}
}

func TestState(t *testing.T) {
	cases := []struct {
		args     []string
		iptables bool
		ipsets   bool
	}{
		{[]string{"-o", "state", "--node", "kind-worker"}, true, true},
		{[]string{"-o", "state", "--node", "kind-worker", "--iptables=false", "--ipsets=false"}, false, false},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := runArgs(t, fakeKernel(t, kindNode()), tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got dataplane.State
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("-o state is not a State: %v\n%s", err, out)
			}
			want := kindNode()
			want.Node = "kind-worker"
			want.IPTables, want.IP6Tables = got.IPTables, got.IP6Tables // the fake adds built-in chains
			if !tc.ipsets {
				want.IPSets = nil
			}
			if d := dataplane.Diff(want, got); len(d) > 0 || got.Node != "kind-worker" {
				t.Errorf("-o state (node %q) differs from the fake:\n%s", got.Node, d)
			}
			if read := len(got.IPTables.Tables) > 0 && len(got.IP6Tables.Tables) > 0; read != tc.iptables {
				t.Errorf("iptables and ip6tables read = %t, want %t", read, tc.iptables)
			}
		})
	}
}

// A kind node has no iptables binaries: -o state leaves the rulesets out unless
// --iptables asks for them.
func TestStateWithoutIPTablesBinaries(t *testing.T) {
	notFound := fmt.Errorf("iptables-save: %w", exec.ErrNotFound)
	k, err := kernel.FakeWith(kindNode())
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*kernel.Kernel, error) { return k, nil }

	k.IPTables.(*iptables.Fake).FailNext("Save", notFound)
	out, errOut, code := runArgs(t, open, "-o", "state")
	var got dataplane.State
	if code != exitOK || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	if len(got.IPTables.Tables) != 0 || len(got.IP6Tables.Tables) == 0 || len(got.IPVS.Services) == 0 {
		t.Errorf("want IPVS and ip6tables without iptables, got %d services, %d and %d tables",
			len(got.IPVS.Services), len(got.IPTables.Tables), len(got.IP6Tables.Tables))
	}
	if !strings.Contains(errOut, "leaving a ruleset out of the state: reading iptables (IPv4): iptables-save: executable file not found") {
		t.Errorf("stderr %q does not say what was left out", errOut)
	}

	k.IPTables.(*iptables.Fake).FailNext("Save", notFound)
	out, errOut, code = runArgs(t, open, "-o", "state", "--iptables")
	if code != exitRead || out != "" || !strings.Contains(errOut, "reading iptables (IPv4): iptables-save") {
		t.Errorf("--iptables without the binary: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	open := func() (*kernel.Kernel, error) { t.Fatal("the kernel was opened on a usage error"); return nil, nil }
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-o", "xml"}, exitUsage, `-o "xml": expected ipvsadm, save, json or state`},
		{[]string{"-t", "10.96.0.1:443"}, exitUsage, "flag provided but not defined: -t"},
		{[]string{"list"}, exitUsage, `unexpected argument "list"`},
		{[]string{"-o", "save", "--links"}, exitUsage, "-o save prints the IPVS table only"},
		{[]string{"--stats", "--rate"}, exitUsage, "give one of them"},
		{[]string{"--rate", "--timeout"}, exitUsage, "give one of them"},
		{[]string{"-o", "save", "--stats"}, exitUsage, "-o save does not print counters"},
		{[]string{"-o", "state", "--rate"}, exitUsage, "-o state does not print counters"},
		{[]string{"-h"}, exitOK, "Usage: ipvsdump"},
	} {
		_, errOut, code := runArgs(t, open, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("ipvsdump %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}

func TestKernelErrors(t *testing.T) {
	noIPVS := func() (*kernel.Kernel, error) {
		return nil, fmt.Errorf("%w (no /proc/net/ip_vs): load the modules", ipvs.ErrNoIPVS)
	}
	out, errOut, code := runArgs(t, noIPVS)
	if code != exitNoKernel || out != "" || !strings.HasPrefix(errOut, "ipvsdump: the kernel has no IPVS (no /proc/net/ip_vs)") {
		t.Errorf("no IPVS: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	k, err := kernel.FakeWith(kindNode())
	if err != nil {
		t.Fatal(err)
	}
	k.IPVS.(*ipvs.Fake).FailNext("Services", errors.New("permission denied"))
	out, errOut, code = runArgs(t, func() (*kernel.Kernel, error) { return k, nil })
	if code != exitRead || out != "" || errOut != "ipvsdump: reading IPVS services: permission denied\n" {
		t.Errorf("read failure: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// infoIPVS is an IPVS handle that, like the Linux one, can read the kernel's IPVS info.
type infoIPVS struct {
	ipvs.Interface
	info ipvs.Info
	err  error
}

func (i infoIPVS) Info() (ipvs.Info, error) { return i.info, i.err }

// The title's version line comes from the kernel when the handle can read it: a node
// whose ip_vs module was loaded with conn_tab_bits=20 prints size=1048576.
func TestTitleFromKernelInfo(t *testing.T) {
	k, err := kernel.FakeWith(kindNode())
	if err != nil {
		t.Fatal(err)
	}
	k.IPVS = infoIPVS{Interface: k.IPVS, info: ipvs.Info{Version: 1<<16 | 2<<8 | 1, ConnTableSize: 1 << 20}}
	open := func() (*kernel.Kernel, error) { return k, nil }
	out, errOut, code := runArgs(t, open)
	want := strings.Replace(fixture.Read(t, "kind-node.ipvsadm-Ln"), "(size=4096)", "(size=1048576)", 1)
	if code != exitOK || errOut != "" || out != want {
		t.Errorf("exit %d, stderr %q, output\n%s\nwant\n%s", code, errOut, out, want)
	}
	if out, _, code := runArgs(t, open, "--timeout"); code != exitOK || out != "Timeout (tcp tcpfin udp): 900 120 300\n" {
		t.Errorf("--timeout: exit %d, output %q", code, out)
	}

	k.IPVS = infoIPVS{Interface: k.IPVS.(infoIPVS).Interface, err: errors.New("read IPVS info: operation not permitted")}
	out, errOut, code = runArgs(t, open)
	if code != exitRead || out != "" || errOut != "ipvsdump: read IPVS info: operation not permitted\n" {
		t.Errorf("info failure: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// statsIPVS is an IPVS handle that, like the Linux one, reads the traffic counters: the
// table's own services with the counters set here.
type statsIPVS struct {
	ipvs.Interface
	stats *dataplane.Stats
	rates *dataplane.Rates
}

func (s statsIPVS) ServicesWithStats() ([]dataplane.VirtualServer, error) {
	vss, err := s.Services()
	for i := range vss {
		vss[i].Stats, vss[i].Rates = s.stats, s.rates
		for j := range vss[i].RealServers {
			vss[i].RealServers[j].Stats, vss[i].RealServers[j].Rates = s.stats, s.rates
		}
	}
	return vss, err
}

// --stats and --rate print the counters the handle reads in ipvsadm's layout (the
// layout itself is dataplane's, compared with Debian's ipvsadm in the lab); a handle that
// cannot read them is an error, not a listing of zeros.
func TestCounters(t *testing.T) {
	k, err := kernel.FakeWith(kindNode())
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*kernel.Kernel, error) { return k, nil }
	if out, errOut, code := runArgs(t, open, "--stats"); code != exitRead || out != "" ||
		!strings.Contains(errOut, "does not read the kernel's traffic counters") {
		t.Errorf("--stats on a handle without counters: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	stats := &dataplane.Stats{Conns: 5, InPkts: 33, OutPkts: 27, InBytes: 123456789, OutBytes: 2519}
	rates := &dataplane.Rates{CPS: 1, InPPS: 4, OutPPS: 3, InBPS: 241, OutBPS: 285}
	k.IPVS = statsIPVS{Interface: k.IPVS, stats: stats, rates: rates}
	v := kindNode().IPVS
	dataplane.SortIPVSAdm(&v)
	for i := range v.Services {
		v.Services[i].Stats, v.Services[i].Rates = stats, rates
		for j := range v.Services[i].RealServers {
			v.Services[i].RealServers[j].Stats, v.Services[i].RealServers[j].Rates = stats, rates
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--stats"}, dataplane.IPVSAdmStatsHeader + dataplane.FormatIPVSAdmStats(v, false)},
		{[]string{"-Ln", "--stats", "--exact"}, dataplane.IPVSAdmStatsHeader + dataplane.FormatIPVSAdmStats(v, true)},
		{[]string{"--rate"}, dataplane.IPVSAdmRateHeader + dataplane.FormatIPVSAdmRate(v, false)},
	} {
		out, errOut, code := runArgs(t, open, c.args...)
		if code != exitOK || errOut != "" || out != c.want {
			t.Errorf("%q: exit %d, stderr %q, output\n%s\nwant\n%s", c.args, code, errOut, out, c.want)
		}
	}
	if !strings.Contains(dataplane.FormatIPVSAdmStats(v, false), "  123456K") {
		t.Errorf("the counters do not exercise ipvsadm's short form")
	}
	out, _, code := runArgs(t, open, "-o", "json", "--stats")
	if code != exitOK || !strings.Contains(out, `"inBytes": 123456789`) || !strings.Contains(out, `"cps": 1`) {
		t.Errorf("-o json --stats: exit %d, output lacks the counters:\n%s", code, out)
	}
}
