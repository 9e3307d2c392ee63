package dataplane

import "slices"

// Equal tells whether two states agree in everything Diff compares, comparing the values
// themselves: it is what Diff reports no line for, without printing anything.
func Equal(want, got State) bool {
	return equalIPVS(want.IPVS, got.IPVS) && equalLinks(want.Links, got.Links) &&
		equalIPSets(want.IPSets, got.IPSets) &&
		equalRuleset(want.IPTables, got.IPTables) && equalRuleset(want.IP6Tables, got.IP6Tables)
}

func equalIPVS(want, got IPVS) bool {
	if len(want.Services) != len(got.Services) || timeoutChanges(want.Timeouts, got.Timeouts) != "" {
		return false
	}
	w, g := normalizedIPVS(want, false), normalizedIPVS(got, false)
	return slices.EqualFunc(w.Services, g.Services, func(a, b VirtualServer) bool {
		return a.SameConfig(b) && slices.EqualFunc(a.RealServers, b.RealServers, RealServer.SameConfig)
	})
}

// equalLinks ignores the kernel's link indexes and the order of links and addresses.
func equalLinks(want, got []Link) bool {
	if len(want) != len(got) {
		return false
	}
	name := func(l Link) string { return l.Name }
	return slices.EqualFunc(sortedByName(want, name), sortedByName(got, name), func(a, b Link) bool {
		return a.Name == b.Name && a.Kind == b.Kind && a.Up == b.Up && slices.Equal(sortedAddrs(a.Addrs), sortedAddrs(b.Addrs))
	})
}

// equalIPSets ignores the order of sets and members.
func equalIPSets(want, got []IPSet) bool {
	if len(want) != len(got) {
		return false
	}
	name := func(s IPSet) string { return s.Name }
	return slices.EqualFunc(sortedByName(want, name), sortedByName(got, name), func(a, b IPSet) bool {
		return a.Name == b.Name && a.Type == b.Type && ipsetHeader(a) == ipsetHeader(b) &&
			slices.Equal(sortedMembers(a), sortedMembers(b))
	})
}

// equalRuleset compares tables and chains by name (the first of a name, as Ruleset.Table
// and Table.Chain find them): a table without chains is no table, a chain's rules compare
// in order except inside order-free runs.
func equalRuleset(want, got Ruleset) bool {
	for _, table := range namesInOrder(want.Tables, got.Tables, func(t Table) string { return t.Name }) {
		wt, _ := want.Table(table)
		gt, _ := got.Table(table)
		for _, chain := range namesInOrder(wt.Chains, gt.Chains, func(c Chain) string { return c.Name }) {
			wc, wok := wt.Chain(chain)
			gc, gok := gt.Chain(chain)
			if wok != gok {
				return false
			}
			if isUserChain(wc) != isUserChain(gc) || (!isUserChain(wc) && wc.Policy != gc.Policy) {
				return false
			}
			if !slices.Equal(canonicalRules(wc.Rules), canonicalRules(gc.Rules)) {
				return false
			}
		}
	}
	return true
}
