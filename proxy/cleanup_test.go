package proxy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// Cleanup removes what the proxier programmed in both families and leaves foreign virtual
// servers, sets, chains and rules in built-in chains alone.
func TestCleanup(t *testing.T) {
	f := newFakes(t)
	cfg := seedConfig(t)
	p, _, _ := newTestProxier(t, f, cfg)
	p.families = []int{4, 6}
	p.reconcilers[6], _ = NewReconciler(f.k, ReconcilerOptions{Family: 6})
	p.asm[6] = newAssembly(6)
	p.initialized = true
	p.onNode(nodeObj("node1", testNodeIP.String()), false)
	p.onService(svcObj("web", "10.96.100.10", 80, withNodePort(30080), withExternalIPs(testNodeIP.String())), false)
	p.onService(svcObj("udp", "10.96.100.11", 53, withProtocol("UDP"), withNodePort(30053)), false)
	p.onSlice(nil, sliceObj("web", "a", 8080, "TCP", ready("10.244.3.5", "node1")), false)
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}

	// Foreign objects, some on the node's own address, some in our chains' neighbourhood.
	foreignVS := []dataplane.VirtualServer{
		{Protocol: dataplane.TCP, Address: testNodeIP, Port: 8443, Scheduler: "wrr"},
		{Protocol: dataplane.UDP, Address: netip.MustParseAddr("192.168.50.10"), Port: 53, Scheduler: "rr"},
		{FWMark: 10, Family: 4, Scheduler: "rr"},
	}
	for _, vs := range foreignVS {
		if err := f.ipvs.AddService(vs); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.ipsets.Create(dataplane.IPSet{Name: "cali40this-host", Type: "hash:ip", Family: "inet"}); err != nil {
		t.Fatal(err)
	}
	foreignRules := "*nat\n:DOCKER - [0:0]\n:KUBE-SEP-LEFTOVER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n-A KUBE-SEP-LEFTOVER -s 10.244.1.5/32 -j KUBE-MARK-MASQ\nCOMMIT\n" +
		"*filter\n:cali-FORWARD - [0:0]\n-A FORWARD -j cali-FORWARD\nCOMMIT\n"
	if err := f.iptables.Restore(4, []byte(foreignRules)); err != nil {
		t.Fatal(err)
	}
	if err := f.links.AddAddress("eth0", netip.MustParsePrefix("10.0.2.16/24")); err != nil {
		t.Fatal(err)
	}

	before := f.state(t)
	if len(before.IPVS.Services) < 6 || len(before.IPSets) < 35 {
		t.Fatalf("the set-up did not program both families: %d virtual servers, %d sets", len(before.IPVS.Services), len(before.IPSets))
	}
	if err := Cleanup(f.k, CleanupOptions{}); err != nil {
		t.Fatal(err)
	}
	after := f.state(t)

	var left []string
	for _, vs := range after.IPVS.Services {
		left = append(left, vs.Key().String())
	}
	var want []string
	for _, vs := range foreignVS {
		want = append(want, vs.Key().String())
	}
	slices.Sort(left)
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("virtual servers after cleanup = %v, want only the foreign %v", left, want)
	}
	var sets []string
	for _, s := range after.IPSets {
		sets = append(sets, s.Name)
	}
	if !slices.Equal(sets, []string{"cali40this-host"}) {
		t.Errorf("sets after cleanup = %v, want only cali40this-host", sets)
	}
	if _, ok := after.Link(dataplane.KubeIPVSInterface); ok {
		t.Error("kube-ipvs0 left after cleanup")
	}
	if eth0, _ := after.Link("eth0"); len(eth0.Addrs) != 3 {
		t.Errorf("eth0 = %v, want its addresses untouched", eth0.Addrs)
	}

	// iptables: our chains and jumps gone, except KUBE-MARK-MASQ that an iptables-mode
	// leftover still uses; everything foreign kept.
	for _, rs := range []dataplane.Ruleset{after.IPTables, after.IP6Tables} {
		for _, tbl := range rs.Tables {
			for _, c := range tbl.Chains {
				for _, r := range c.Rules {
					if strings.Contains(r.Spec, "kubernetes") || strings.Contains(r.Spec, "kube-proxy") {
						t.Errorf("rule left in %s %s: %s", tbl.Name, c.Name, r.Spec)
					}
				}
			}
		}
	}
	nat, _ := after.IPTables.Table("nat")
	var kube []string
	for _, c := range nat.Chains {
		if strings.HasPrefix(c.Name, "KUBE-") {
			kube = append(kube, c.Name)
		}
	}
	if !slices.Equal(kube, []string{"KUBE-MARK-MASQ", "KUBE-SEP-LEFTOVER"}) && !slices.Equal(kube, []string{"KUBE-SEP-LEFTOVER", "KUBE-MARK-MASQ"}) {
		t.Errorf("nat KUBE-* chains after cleanup = %v, want KUBE-MARK-MASQ (still used) and the leftover", kube)
	}
	if rules := after.IPTables.Rules("nat", "PREROUTING"); !slices.Equal(rules, []dataplane.Rule{{Spec: "-m addrtype --dst-type LOCAL -j DOCKER"}}) {
		t.Errorf("nat PREROUTING = %v, want Docker's rule only", rules)
	}
	if rules := after.IPTables.Rules("filter", "FORWARD"); !slices.Equal(rules, []dataplane.Rule{{Spec: "-j cali-FORWARD"}}) {
		t.Errorf("filter FORWARD = %v, want Calico's rule only", rules)
	}
	filter6, _ := after.IP6Tables.Table("filter")
	for _, c := range filter6.Chains {
		if strings.HasPrefix(c.Name, "KUBE-") {
			t.Errorf("IPv6 chain %s left", c.Name)
		}
	}

	// A second cleanup finds nothing to do.
	f.resetCalls()
	if err := Cleanup(f.k, CleanupOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls := f.calls(); len(calls) != 0 {
		t.Errorf("a second cleanup changed things: %q", calls)
	}
}

// Cleanup goes on after a failure and names each failed object.
func TestCleanupReportsFailures(t *testing.T) {
	f, r := newFakeReconciler(t)
	mustSync(t, r, desiredFor(kubernetesService, seedService), false)
	f.ipvs.FailNext("DeleteService", errInjected)
	wanterr.Check(t, Cleanup(f.k, CleanupOptions{}), "delete virtual server TCP ")
	after := f.state(t)
	if len(after.IPVS.Services) != 1 || len(after.IPSets) != 0 {
		t.Errorf("after a failed deletion: %d virtual servers (want the failed one), %d sets (want 0)", len(after.IPVS.Services), len(after.IPSets))
	}
}

// excludeCIDRs protect virtual servers from cleanup too.
func TestCleanupHonoursExcludeCIDRs(t *testing.T) {
	f, r := newFakeReconciler(t)
	mustSync(t, r, desiredFor(kubernetesService, seedService), false)
	if err := Cleanup(f.k, CleanupOptions{ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")}}); err != nil {
		t.Fatal(err)
	}
	if vs := vsLines(f.state(t)); !slices.Equal(vs, []string{"TCP 10.96.0.1:443 -> 10.0.2.2:6443"}) {
		t.Errorf("virtual servers = %v, want the one inside excludeCIDRs", vs)
	}
}
