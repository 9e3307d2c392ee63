package desired

import (
	"net/netip"
	"slices"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Merge joins the IPv4 and IPv6 results of a dual-stack node into the node's one state, as
// kube-proxy's two single-family proxiers together program it: one IPVS table and one
// kube-ipvs0 for both, KUBE-* and KUBE-6-* sets side by side, iptables from the IPv4 side
// and ip6tables from the IPv6 side.
func Merge(v4, v6 Result) Result {
	out := Result{Skipped: append(slices.Clone(v4.Skipped), v6.Skipped...)}
	st := &out.State
	st.Node = v4.State.Node
	if st.Node == "" {
		st.Node = v6.State.Node
	}
	st.IPVS.Services = append(slices.Clone(v4.State.IPVS.Services), v6.State.IPVS.Services...)
	slices.SortFunc(st.IPVS.Services, func(a, b dataplane.VirtualServer) int { return a.Key().Compare(b.Key()) })
	st.IPVS.Timeouts = v4.State.IPVS.Timeouts
	if st.IPVS.Timeouts == (dataplane.Timeouts{}) {
		st.IPVS.Timeouts = v6.State.IPVS.Timeouts
	}
	link := dataplane.Link{Name: DummyInterface, Kind: "dummy"}
	for _, r := range []Result{v4, v6} {
		if l, ok := r.State.Link(DummyInterface); ok {
			link.Addrs = append(link.Addrs, l.Addrs...)
		}
	}
	slices.SortFunc(link.Addrs, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	link.Addrs = slices.Compact(link.Addrs)
	st.Links = []dataplane.Link{link}
	st.IPSets = append(slices.Clone(v4.State.IPSets), v6.State.IPSets...)
	st.IPTables = v4.State.IPTables
	st.IP6Tables = v6.State.IP6Tables
	return out
}

// OwnedRules reduces a ruleset read from a node (iptables-save) to what kube-proxy's IPVS
// mode owns, in the layout Compute produces, so the two compare directly: kube-proxy's
// chains whole, and in the built-in chains only kube-proxy's jumps, with the policy shown as
// ACCEPT because kube-proxy never sets one. Other components' chains and rules are dropped.
func OwnedRules(actual dataplane.Ruleset) dataplane.Ruleset {
	var out dataplane.Ruleset
	for _, table := range []string{TableFilter, TableNAT} {
		at, ok := actual.Table(table)
		if !ok {
			continue
		}
		t := dataplane.Table{Name: table}
		for _, name := range builtinChains[table] {
			var ours []string
			for _, j := range jumpSpecs {
				if j.Table == table && j.From == name {
					ours = append(ours, j.Spec())
				}
			}
			if len(ours) == 0 {
				continue
			}
			c, ok := at.Chain(name)
			if !ok {
				continue
			}
			kept := dataplane.Chain{Name: name, Policy: "ACCEPT"}
			for _, r := range c.Rules {
				if slices.Contains(ours, r.Spec) {
					kept.Rules = append(kept.Rules, r)
				}
			}
			t.Chains = append(t.Chains, kept)
		}
		for _, name := range ownChains(table) {
			if c, ok := at.Chain(name); ok {
				t.Chains = append(t.Chains, dataplane.Chain{Name: name, Policy: "-", Rules: slices.Clone(c.Rules)})
			}
		}
		out.Tables = append(out.Tables, t)
	}
	return out
}
