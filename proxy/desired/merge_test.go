package desired

import (
	"reflect"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

func TestOwnedRules(t *testing.T) {
	in := seedInput(t)
	want := Compute(in).State.IPTables
	full, err := dataplane.ParseIPTablesSave(fixture.Read(t, "seed/iptables-save-full.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got := OwnedRules(full)
	if d := dataplane.Diff(dataplane.State{IPTables: want}, dataplane.State{IPTables: got}); len(d) > 0 {
		t.Errorf("kube-proxy's part of the node's rules differs from the computed rules:\n%s", d)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("OwnedRules layout differs from Compute's:\n got %+v\nwant %+v", got, want)
	}
	if c := full.ChainsWithPrefix("nat", "KUBE-SVC-"); len(c) != 1 {
		t.Fatalf("the fixture lost its iptables-mode leftover: %v", c)
	}
	if c := got.ChainsWithPrefix("nat", "KUBE-SVC-"); len(c) != 0 {
		t.Errorf("OwnedRules kept iptables-mode chains %v; a leftover check must read the full ruleset", c)
	}

	// A rule missing from the node shows up as missing.
	broken := OwnedRules(full)
	nat := &broken.Tables[1]
	for i := range nat.Chains {
		if nat.Chains[i].Name == ChainNodePort {
			nat.Chains[i].Rules = nil
		}
	}
	if dataplane.Equal(dataplane.State{IPTables: want}, dataplane.State{IPTables: broken}) {
		t.Errorf("a missing KUBE-NODE-PORT rule went unnoticed")
	}
}

func TestMerge(t *testing.T) {
	dual := scaleInput(t, 3, 2)
	v4 := Compute(dual)
	v6in := dual
	v6in.Family = 6
	v6 := Compute(v6in) // no IPv6 Services: sets and rules only
	m := Merge(v4, v6)
	if len(m.State.IPSets) != 34 {
		t.Errorf("%d sets, want 17 + 17", len(m.State.IPSets))
	}
	if !reflect.DeepEqual(m.State.IPTables, v4.State.IPTables) || !reflect.DeepEqual(m.State.IP6Tables, v6.State.IP6Tables) {
		t.Errorf("rulesets not taken from their own family")
	}
	if !reflect.DeepEqual(m.State.IPVS, v4.State.IPVS) {
		t.Errorf("IPVS changed by merging an empty IPv6 side")
	}
	l, _ := m.State.Link(DummyInterface)
	l4, _ := v4.State.Link(DummyInterface)
	if !reflect.DeepEqual(l, l4) {
		t.Errorf("kube-ipvs0 %v, want %v", l, l4)
	}
}
