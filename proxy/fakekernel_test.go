package proxy

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/conntrack"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipset"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// The node of the tests: the seed tutorial's node1, one interface.
var (
	testNodeIP  = netip.MustParseAddr("10.0.2.15")
	testNodeIP6 = netip.MustParseAddr("fd00:10::15")
)

// fakes is a kernel of fakes with typed access to each.
type fakes struct {
	k        *kernel.Kernel
	ipvs     *ipvs.Fake
	links    *netif.Fake
	ipsets   *ipset.Fake
	iptables *iptables.Fake
	sysctl   *sysctl.Fake
	// moduleParams is /sys/module (the conntrack hash size).
	moduleParams *sysctl.Fake
	// conntrack's calls are not in calls(): deleting entries changes no programmed object.
	conntrack *conntrack.Fake
}

// newFakes returns a node with lo and eth0 (10.0.2.15/24, fd00:10::15/64), iptables that
// refuses rules on missing sets, and a kernel release for Setup.
func newFakes(t testing.TB) *fakes {
	return newFakesOn(t, netip.PrefixFrom(testNodeIP, 24), netip.PrefixFrom(testNodeIP6, 64))
}

// newFakesOn returns a node with lo and eth0 holding the given addresses.
func newFakesOn(t testing.TB, eth0 ...netip.Prefix) *fakes {
	t.Helper()
	f := &fakes{
		ipvs: ipvs.NewFake(),
		links: netif.NewFake(
			dataplane.Link{Name: "lo", Kind: "loopback", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}},
			dataplane.Link{Name: "eth0", Kind: "ether", Up: true, Addrs: eth0},
		),
		ipsets:       ipset.NewFake(),
		iptables:     iptables.NewFake(),
		sysctl:       sysctl.NewFake(),
		moduleParams: sysctl.NewFakeModuleParams(),
		conntrack:    conntrack.NewFake(),
	}
	f.iptables.CheckSets(f.ipsets.Has)
	f.sysctl.Define(sysctlOSRelease, "6.1.0-18-cloud-amd64")
	f.k = &kernel.Kernel{IPVS: f.ipvs, Links: f.links, IPSets: f.ipsets, IPTables: f.iptables, Sysctl: f.sysctl, ModuleParams: f.moduleParams, Conntrack: f.conntrack}
	return f
}

// calls lists every changing call the fakes saw, in the order of the fakes.
func (f *fakes) calls() []string {
	var out []string
	out = append(out, f.ipvs.Calls()...)
	out = append(out, f.links.Calls()...)
	out = append(out, f.ipsets.Calls()...)
	out = append(out, f.iptables.Calls()...)
	out = append(out, f.sysctl.Calls()...)
	return out
}

func (f *fakes) resetCalls() {
	f.ipvs.ResetCalls()
	f.links.ResetCalls()
	f.ipsets.ResetCalls()
	f.iptables.ResetCalls()
	f.sysctl.ResetCalls()
	f.moduleParams.ResetCalls()
}

// state reads everything back through kernel.Read, nat and filter only.
func (f *fakes) state(t testing.TB) dataplane.State {
	t.Helper()
	s, err := kernel.Read(f.k, kernel.ReadOptions{IPVS: true, Links: true, IPSets: true, IPTables: true, IP6Tables: true, Tables: []string{"nat", "filter"}})
	if err != nil {
		t.Fatalf("reading the fakes: %v", err)
	}
	return s
}

// kubeIPVSAddrs returns kube-ipvs0's addresses, sorted.
func kubeIPVSAddrs(s dataplane.State) []netip.Prefix {
	l, _ := s.Link(dataplane.KubeIPVSInterface)
	out := slices.Clone(l.Addrs)
	slices.SortFunc(out, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return out
}

// sameDataplane reports how two states read from fakes differ ("" when they agree),
// ignoring the node's own links other than kube-ipvs0.
func sameDataplane(want, got dataplane.State) string {
	strip := func(s dataplane.State) dataplane.State {
		l, ok := s.Link(dataplane.KubeIPVSInterface)
		s.Links = nil
		if ok {
			l.Index = 0
			s.Links = []dataplane.Link{l}
		}
		s.IPVS.Timeouts = dataplane.Timeouts{}
		return s
	}
	return dataplane.Diff(strip(want), strip(got)).String()
}
