package dataplane

import (
	"maps"
	"slices"
)

// Equal tells whether two states agree in everything Diff compares, comparing the values
// themselves: it is what Diff reports no line for, without printing anything.
func Equal(want, got State) bool {
	return equalIPVS(want.IPVS, got.IPVS) && equalLinks(want.Links, got.Links) &&
		equalIPSets(want.IPSets, got.IPSets) &&
		equalRuleset(want.IPTables, got.IPTables) && equalRuleset(want.IP6Tables, got.IP6Tables) &&
		equalSysctls(want.Sysctls, got.Sysctls) && equalConntrack(want.Conntrack, got.Conntrack)
}

// equalSysctls compares sysctls only when both sides read them (a nil map did not).
func equalSysctls(want, got map[string]string) bool {
	return want == nil || got == nil || maps.Equal(want, got)
}

// equalConntrack compares the table's limit only when both sides read it; the count is
// the kernel's.
func equalConntrack(want, got *Conntrack) bool {
	return want == nil || got == nil || want.Max == got.Max
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
	return slices.EqualFunc(sortedByName(want, linkName), sortedByName(got, linkName), func(a, b Link) bool {
		return a.Name == b.Name && a.Kind == b.Kind && a.Up == b.Up && slices.Equal(sortedAddrs(a.Addrs), sortedAddrs(b.Addrs))
	})
}

// equalIPSets ignores the order of sets and members.
func equalIPSets(want, got []IPSet) bool {
	if len(want) != len(got) {
		return false
	}
	return slices.EqualFunc(sortedByName(want, ipsetName), sortedByName(got, ipsetName), func(a, b IPSet) bool {
		return a.Name == b.Name && a.Type == b.Type && ipsetHeader(a) == ipsetHeader(b) &&
			slices.Equal(sortedMembers(a), sortedMembers(b))
	})
}

// equalRuleset compares the chains chainPairs pairs: a chain's rules compare in order
// except inside order-free runs.
func equalRuleset(want, got Ruleset) bool {
	for _, p := range chainPairs(want, got) {
		if p.inWant != p.inGot || isUserChain(p.want) != isUserChain(p.got) ||
			(!isUserChain(p.want) && p.want.Policy != p.got.Policy) ||
			!slices.Equal(canonicalRules(p.want.Rules), canonicalRules(p.got.Rules)) {
			return false
		}
	}
	return true
}
