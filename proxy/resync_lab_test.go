//go:build lab

package proxy

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

// TestReconcilerStaleReadLab is the periodic full sync's background read on the lab
// kernel: the reconciler records what a partial sync changes after the read, and the full
// sync against that read keeps those changes (none fails on an object the read predates),
// repairs the drift the read saw, and leaves the drift made after it to the next full sync.
func TestReconcilerStaleReadLab(t *testing.T) {
	labtest.Require(t)
	k, r := newLabReconciler(t)
	desired := reconcileLabState(200)
	mustSync(t, r, *desired, true)
	vss := desired.IPVS.Services

	// Drift before the read: a real server deleted behind the reconciler's back.
	if err := k.IPVS.DeleteRealServer(vss[0].Key(), vss[0].RealServers[0].Key()); err != nil {
		t.Fatal(err)
	}
	r.Touching()
	snap := newKernelSnapshot(k)
	if _, err := snap.Links(); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.IPSets(); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Services(); err != nil {
		t.Fatal(err)
	}

	// After the read: a partial sync adds a real server, deletes a Service and adds one.
	next := reconcileLabState(200)
	grown := &next.IPVS.Services[1]
	grown.RealServers = append(grown.RealServers, dataplane.RealServer{Address: netip.MustParseAddr("10.246.0.1"), Port: 8080, Forward: dataplane.Masq, Weight: 1})
	gone := next.IPVS.Services[2]
	added := dataplane.VirtualServer{Protocol: dataplane.TCP, Family: 4, Address: netip.MustParseAddr("10.97.0.1"), Port: 80, Scheduler: "rr",
		RealServers: []dataplane.RealServer{{Address: netip.MustParseAddr("10.246.0.2"), Port: 8080, Forward: dataplane.Masq, Weight: 1}}}
	next.IPVS.Services = append(slices.Delete(next.IPVS.Services, 2, 3), added)
	link := &next.Links[0]
	link.Addrs = append(slices.DeleteFunc(link.Addrs, func(p netip.Prefix) bool { return p.Addr() == gone.Address }), netip.PrefixFrom(added.Address, 32))
	delta := &Delta{
		Services: map[dataplane.ServiceKey]*dataplane.VirtualServer{grown.Key(): grown, gone.Key(): nil, added.Key(): &added},
		Addrs:    map[netip.Prefix]bool{netip.PrefixFrom(gone.Address, 32): false, netip.PrefixFrom(added.Address, 32): true},
	}
	if _, err := r.Apply(delta); err != nil {
		t.Fatalf("partial sync after the read: %v", err)
	}
	// Drift after the read: a virtual server deleted.
	late := next.IPVS.Services[3]
	if err := k.IPVS.DeleteService(late.Key()); err != nil {
		t.Fatal(err)
	}

	r.snapshot = snap
	_, err := r.Sync(next, true)
	r.snapshot = nil
	if err != nil {
		t.Fatalf("full sync against the read that predates the partial sync: %v", err)
	}
	got, err := k.IPVS.Services()
	if err != nil {
		t.Fatal(err)
	}
	stale := *next
	stale.IPVS.Services = slices.DeleteFunc(slices.Clone(next.IPVS.Services), func(vs dataplane.VirtualServer) bool { return vs.Key() == late.Key() })
	if diff := dataplane.DiffIPVS(stale.IPVS, dataplane.IPVS{Services: got}); len(diff) > 0 {
		t.Errorf("after the full sync the IPVS table is not the desired one less the drift after the read:\n%s", diff)
	}

	// The next full sync reads afresh and repairs the rest.
	mustSync(t, r, *next, true)
	if got, err = k.IPVS.Services(); err != nil {
		t.Fatal(err)
	}
	if diff := dataplane.DiffIPVS(next.IPVS, dataplane.IPVS{Services: got}); len(diff) > 0 {
		t.Errorf("after the next full sync the IPVS table differs from the desired one:\n%s", diff)
	}
}
