package dataplane

import (
	"cmp"
	"slices"
	"strings"
)

// Rules whose order cannot change what a packet meets compare as a set.
//
// iptables walks a chain's rules in order and stops at the first rule that matches and
// whose target ends the walk. Take a run of adjacent rules of one chain that all end in the
// same verdict (DROP, ACCEPT, RETURN, or REJECT with the same arguments) and whose matches
// only read the packet and its connection. A packet that matches any rule of the run meets
// that one verdict, and one that matches none falls through to the rule after the run,
// whichever order the run is in. So the order inside such a run carries no meaning. A
// match that keeps state (limit, recent, statistic, quota, ...), a target that changes the
// packet or continues (MARK, LOG, a jump to a chain), or a different verdict ends the run.
//
// Upstream kube-proxy writes some such runs in Go map order, for instance the DROP rules
// of KUBE-IPVS-OUT-FILTER of a load balancer with two ports.

// readOnlyMatches are the match modules that only read the packet, its connection or the
// sets and marks they name, and so cannot make a rule's order matter.
var readOnlyMatches = map[string]bool{
	"addrtype": true, "comment": true, "conntrack": true, "connmark": true, "ipvs": true,
	"iprange": true, "mac": true, "mark": true, "multiport": true, "physdev": true,
	"pkttype": true, "set": true, "state": true, "tcp": true, "udp": true, "sctp": true,
	"icmp": true, "icmp6": true, "length": true, "owner": true, "rpfilter": true,
}

// finalVerdicts are the targets that end the walk of the chain without changing anything.
var finalVerdicts = map[string]bool{"DROP": true, "ACCEPT": true, "RETURN": true, "REJECT": true}

// orderFreeVerdict is the verdict of a rule whose place in a run of rules with the same
// verdict carries no meaning: the target and its arguments ("DROP", "REJECT --reject-with
// icmp-port-unreachable"). ok is false for any other rule.
func orderFreeVerdict(r Rule) (verdict string, ok bool) {
	args, err := r.Args()
	if err != nil {
		return "", false
	}
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-m", "--match":
			if i+1 == len(args) || !readOnlyMatches[args[i+1]] {
				return "", false
			}
			i++
		case "-g", "--goto":
			return "", false
		case "-j", "--jump":
			if i+1 == len(args) || !finalVerdicts[args[i+1]] {
				return "", false
			}
			return strings.Join(args[i+1:], " "), true
		}
	}
	return "", false
}

// orderFreeRuns lists the runs of two or more adjacent rules with the same order-free
// verdict, as [start, end) index pairs.
func orderFreeRuns(rules []Rule) [][2]int {
	var runs [][2]int
	start, last := 0, ""
	for i := 0; i <= len(rules); i++ {
		v, ok := "", false
		if i < len(rules) {
			v, ok = orderFreeVerdict(rules[i])
		}
		if ok && i > start && v == last {
			continue
		}
		if i-start >= 2 && last != "" {
			runs = append(runs, [2]int{start, i})
		}
		start, last = i, ""
		if ok {
			last = v
		}
	}
	return runs
}

// alignOrderFreeRuns returns want's rules with each order-free run put in the order got
// has its rules, so that a run that differs only in order compares equal and a listing
// shows got's order. A rule got lacks goes after those it has; duplicates pair off in order.
func alignOrderFreeRuns(want, got []Rule) []Rule {
	runs := orderFreeRuns(want)
	if len(runs) == 0 {
		return want
	}
	at := map[string][]int{}
	for i, r := range got {
		at[r.Spec] = append(at[r.Spec], i)
	}
	seen := map[string]int{}
	place := make([]int, len(want))
	for i, r := range want {
		n := seen[r.Spec]
		seen[r.Spec]++
		place[i] = len(got) + i
		if n < len(at[r.Spec]) {
			place[i] = at[r.Spec][n]
		}
	}
	out := slices.Clone(want)
	for _, run := range runs {
		idx := make([]int, 0, run[1]-run[0])
		for i := run[0]; i < run[1]; i++ {
			idx = append(idx, i)
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(place[a], place[b]) })
		for k, i := range idx {
			out[run[0]+k] = want[i]
		}
	}
	return out
}

// canonicalRules returns the rules with each order-free run sorted, so that two chains
// that differ only inside such runs have the same canonical rules.
func canonicalRules(rules []Rule) []Rule {
	runs := orderFreeRuns(rules)
	if len(runs) == 0 {
		return rules
	}
	out := slices.Clone(rules)
	for _, run := range runs {
		slices.SortFunc(out[run[0]:run[1]], func(a, b Rule) int { return strings.Compare(a.Spec, b.Spec) })
	}
	return out
}
