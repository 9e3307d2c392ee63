package match

import (
	"fmt"
	"slices"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// HaveIPSetMember succeeds when the set (of a dataplane.State or a []dataplane.IPSet) has
// the member, written as `ipset save` writes it: HaveIPSetMember("KUBE-NODE-PORT-TCP",
// "30089"), HaveIPSetMember("KUBE-CLUSTER-IP", "10.96.0.1,tcp:443").
func HaveIPSetMember(set, member string) types.GomegaMatcher {
	return &ipsetMemberMatcher{set: set, member: member}
}

type ipsetMemberMatcher struct{ set, member string }

func ipsetsOf(actual any) ([]dataplane.IPSet, string, error) {
	return partOf(actual, "HaveIPSetMember", "ipsets", "IPSets", func(s dataplane.State) []dataplane.IPSet { return s.IPSets })
}

func findSet(sets []dataplane.IPSet, name string) (dataplane.IPSet, bool) {
	return dataplane.State{IPSets: sets}.IPSet(name)
}

func (m *ipsetMemberMatcher) Match(actual any) (bool, error) {
	sets, _, err := ipsetsOf(actual)
	if err != nil {
		return false, err
	}
	set, ok := findSet(sets, m.set)
	return ok && set.HasMember(m.member), nil
}

func (m *ipsetMemberMatcher) FailureMessage(actual any) string {
	sets, node, err := ipsetsOf(actual)
	if err != nil {
		return err.Error()
	}
	set, ok := findSet(sets, m.set)
	if !ok {
		// Without the set, the relevant listing is which sets there are.
		headers := make([]dataplane.IPSet, len(sets))
		for i, s := range sets {
			s.Members = nil
			headers[i] = s
		}
		return fmt.Sprintf("Expected ipset %s%s to have member %s, but there is no set %s.\nipset save (headers)%s:\n%s",
			m.set, onNode(node), m.member, m.set, onNode(node), listing(splitLines(dataplane.FormatIPSetSave(headers))))
	}
	lines := splitLines(dataplane.FormatIPSetSave([]dataplane.IPSet{set}))
	marked, note := -1, fmt.Sprintf("(nothing close: no member shares %s's first field)\n", m.member)
	if i := closestMember(set.Members, m.member); i >= 0 {
		marked, note = memberLine(lines, i), ""
	}
	return fmt.Sprintf("Expected ipset %s%s to have member %s, but it has %s.\nipset save %s%s:\n%s%s",
		m.set, onNode(node), m.member, plural(len(set.Members), "member", "members"), m.set, onNode(node), listing(lines, marked), note)
}

func (m *ipsetMemberMatcher) NegatedFailureMessage(actual any) string {
	sets, node, err := ipsetsOf(actual)
	if err != nil {
		return err.Error()
	}
	set, _ := findSet(sets, m.set)
	lines := splitLines(dataplane.FormatIPSetSave([]dataplane.IPSet{set}))
	i := -1
	if want, err := dataplane.ParseMember(set.Type, m.member); err == nil {
		if j := slices.Index(set.Members, want); j >= 0 {
			i = memberLine(lines, j)
		}
	}
	return fmt.Sprintf("Expected ipset %s%s not to have member %s, but it has.\nipset save %s%s:\n%s",
		m.set, onNode(node), m.member, m.set, onNode(node), listing(lines, i))
}

// closestMember picks the member sharing the longest prefix with want, as long as they
// agree at least on the first field ("10.96.0.10" of "10.96.0.10,udp:53"); -1 if none.
func closestMember(members []dataplane.Member, want string) int {
	first, _, _ := strings.Cut(want, ",")
	best, bestLen := -1, 0
	for i, member := range members {
		m := member.String()
		if !strings.HasPrefix(m, first) {
			continue
		}
		if n := commonPrefixLen(m, want); n > bestLen {
			best, bestLen = i, n
		}
	}
	return best
}

func commonPrefixLen(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// memberLine finds the `ipset save` line of members[i]: the "add" lines follow the create
// line in member order.
func memberLine(lines []string, i int) int { return nthLineWith(lines, "add ", i) }
