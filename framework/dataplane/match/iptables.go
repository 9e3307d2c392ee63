package match

import (
	"fmt"
	"slices"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// The iptables matchers read the IPv4 ruleset of a dataplane.State; pass
// state.IP6Tables (a dataplane.Ruleset) to check the IPv6 one. A table missing from the
// ruleset is an error, not a failure, so that a state read without iptables cannot make
// "at most N rules" or "no such chain" pass by being empty.

func rulesetOf(actual any, table string) (dataplane.Ruleset, dataplane.Table, string, error) {
	var r dataplane.Ruleset
	node := ""
	if s, ok := stateOf(actual); ok {
		r, node = s.IPTables, s.Node
	} else {
		switch v := actual.(type) {
		case dataplane.Ruleset:
			r = v
		case *dataplane.Ruleset:
			if v == nil {
				return r, dataplane.Table{}, "", fmt.Errorf("iptables matcher: got a nil *dataplane.Ruleset")
			}
			r = *v
		default:
			return r, dataplane.Table{}, "", fmt.Errorf("iptables matcher: expected a dataplane.State or dataplane.Ruleset, got %T", actual)
		}
	}
	t, ok := r.Table(table)
	if !ok {
		var names []string
		for _, t := range r.Tables {
			names = append(names, t.Name)
		}
		return r, t, node, fmt.Errorf("the ruleset%s has no table %q (tables: %v): read iptables with kernel.ReadOptions{IPTables: true}", onNode(node), table, names)
	}
	return r, t, node, nil
}

// HaveRule succeeds when the chain of the table holds the rule, given as the words after
// "-A CHAIN" the way `iptables -t T -S CHAIN` prints them (a leading "-A CHAIN" is
// accepted too). Rules compare by their arguments, so quoting differences do not matter:
//
//	HaveRule("nat", "KUBE-NODE-PORT", `-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`)
func HaveRule(table, chain, spec string) types.GomegaMatcher {
	spec = strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(spec, "-A "+chain+" "); ok {
		spec = rest
	}
	return &ruleMatcher{table: table, chain: chain, spec: spec}
}

type ruleMatcher struct{ table, chain, spec string }

// ruleArgs splits a rule into arguments; a rule the splitter refuses is compared by its
// whitespace-separated words instead.
func ruleArgs(r dataplane.Rule) []string {
	if args, err := r.Args(); err == nil {
		return args
	}
	return strings.Fields(r.Spec)
}

func (m *ruleMatcher) Match(actual any) (bool, error) {
	if _, err := (dataplane.Rule{Spec: m.spec}).Args(); err != nil {
		return false, fmt.Errorf("HaveRule(%q, %q, %q): %w", m.table, m.chain, m.spec, err)
	}
	_, t, _, err := rulesetOf(actual, m.table)
	if err != nil {
		return false, err
	}
	return m.index(t) >= 0, nil
}

// index is the position of the rule in the chain, -1 when absent.
func (m *ruleMatcher) index(t dataplane.Table) int {
	c, _ := t.Chain(m.chain)
	want := ruleArgs(dataplane.Rule{Spec: m.spec})
	return slices.IndexFunc(c.Rules, func(r dataplane.Rule) bool { return slices.Equal(ruleArgs(r), want) })
}

func (m *ruleMatcher) FailureMessage(actual any) string {
	r, t, node, err := rulesetOf(actual, m.table)
	if err != nil {
		return err.Error()
	}
	head := fmt.Sprintf("Expected table %s%s to have the rule\n    -A %s %s\n", m.table, onNode(node), m.chain, m.spec)
	c, ok := t.Chain(m.chain)
	if !ok {
		return fmt.Sprintf("%sbut there is no chain %s.\niptables -t %s -S%s:\n%s",
			head, m.chain, m.table, onNode(node), listing(splitLines(dataplane.FormatIPTablesS(r, m.table, ""))))
	}
	lines := splitLines(dataplane.FormatIPTablesS(r, m.table, m.chain))
	closest, note := closestRule(c.Rules, ruleArgs(dataplane.Rule{Spec: m.spec})), ""
	marked := -1
	if closest >= 0 {
		marked = ruleLine(lines, closest)
	} else {
		note = "(nothing close: no rule shares half of the expected arguments)\n"
	}
	return fmt.Sprintf("%sbut chain %s has %s, none of them this one.\niptables -t %s -S %s%s:\n%s%s",
		head, m.chain, plural(len(c.Rules), "rule", "rules"), m.table, m.chain, onNode(node), listing(lines, marked), note)
}

func (m *ruleMatcher) NegatedFailureMessage(actual any) string {
	r, t, node, err := rulesetOf(actual, m.table)
	if err != nil {
		return err.Error()
	}
	lines := splitLines(dataplane.FormatIPTablesS(r, m.table, m.chain))
	return fmt.Sprintf("Expected table %s%s not to have the rule\n    -A %s %s\nbut it has.\niptables -t %s -S %s%s:\n%s",
		m.table, onNode(node), m.chain, m.spec, m.table, m.chain, onNode(node), listing(lines, ruleLine(lines, m.index(t))))
}

// closestRule picks the rule sharing the most arguments with want, if it shares at least
// half of them; -1 otherwise.
func closestRule(rules []dataplane.Rule, want []string) int {
	best, bestShared := -1, (len(want)+1)/2-1
	for i, r := range rules {
		if n := sharedArgs(ruleArgs(r), want); n > bestShared {
			best, bestShared = i, n
		}
	}
	return best
}

func sharedArgs(a, b []string) int {
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	n := 0
	for _, x := range b {
		if count[x] > 0 {
			count[x]--
			n++
		}
	}
	return n
}

// ruleLine finds the `iptables -S CHAIN` line of rule i: the "-A" lines follow the
// chain's "-P" or "-N" line in rule order.
func ruleLine(lines []string, i int) int { return nthLineWith(lines, "-A ", i) }

// HaveAtMostRules succeeds when the table (chain "") or one chain of it has at most n
// rules. ipvs mode keeps the rule count flat as Services are added: HaveAtMostRules("nat",
// "", 20).
func HaveAtMostRules(table, chain string, n int) types.GomegaMatcher {
	return &ruleCountMatcher{table: table, chain: chain, max: n}
}

type ruleCountMatcher struct {
	table, chain string
	max          int
}

func (m *ruleCountMatcher) count(r dataplane.Ruleset, t dataplane.Table) (int, error) {
	if m.chain == "" {
		return r.RuleCount(m.table), nil
	}
	c, ok := t.Chain(m.chain)
	if !ok {
		return 0, fmt.Errorf("table %s has no chain %s", m.table, m.chain)
	}
	return len(c.Rules), nil
}

func (m *ruleCountMatcher) Match(actual any) (bool, error) {
	r, t, _, err := rulesetOf(actual, m.table)
	if err != nil {
		return false, err
	}
	n, err := m.count(r, t)
	return err == nil && n <= m.max, err
}

func (m *ruleCountMatcher) what() string {
	if m.chain == "" {
		return "table " + m.table
	}
	return fmt.Sprintf("chain %s of table %s", m.chain, m.table)
}

func (m *ruleCountMatcher) message(actual any, relation string) string {
	r, t, node, err := rulesetOf(actual, m.table)
	if err != nil {
		return err.Error()
	}
	n, err := m.count(r, t)
	if err != nil {
		return err.Error()
	}
	cmd := fmt.Sprintf("iptables -t %s -S", m.table)
	if m.chain != "" {
		cmd += " " + m.chain
	}
	return fmt.Sprintf("Expected %s%s to have %s %s, but it has %d.\n%s%s:\n%s",
		m.what(), onNode(node), relation, plural(m.max, "rule", "rules"), n, cmd, onNode(node),
		listing(splitLines(dataplane.FormatIPTablesS(r, m.table, m.chain))))
}

func (m *ruleCountMatcher) FailureMessage(actual any) string {
	return m.message(actual, "at most")
}

func (m *ruleCountMatcher) NegatedFailureMessage(actual any) string {
	return m.message(actual, "more than")
}

// HaveNoChainWithPrefix succeeds when no chain of the table starts with prefix, e.g. the
// iptables-mode chains HaveNoChainWithPrefix("nat", "KUBE-SVC-") that ipvs mode never makes.
func HaveNoChainWithPrefix(table, prefix string) types.GomegaMatcher {
	return &chainPrefixMatcher{table: table, prefix: prefix}
}

type chainPrefixMatcher struct{ table, prefix string }

func (m *chainPrefixMatcher) Match(actual any) (bool, error) {
	r, _, _, err := rulesetOf(actual, m.table)
	if err != nil {
		return false, err
	}
	return len(r.ChainsWithPrefix(m.table, m.prefix)) == 0, nil
}

func (m *chainPrefixMatcher) FailureMessage(actual any) string {
	r, _, node, err := rulesetOf(actual, m.table)
	if err != nil {
		return err.Error()
	}
	chains := r.ChainsWithPrefix(m.table, m.prefix)
	var lines []string
	var marked []int
	for _, c := range chains {
		marked = append(marked, len(lines))
		lines = append(lines, splitLines(dataplane.FormatIPTablesS(r, m.table, c))...)
	}
	return fmt.Sprintf("Expected table %s%s to have no chain starting with %s, but it has %s: %s.\n"+
		"(Chains of iptables mode stay after a switch to ipvs mode until `kube-proxy --cleanup` or a reboot.)\n"+
		"iptables -t %s -S <each of them>%s:\n%s",
		m.table, onNode(node), m.prefix, plural(len(chains), "such chain", "such chains"), strings.Join(chains, ", "),
		m.table, onNode(node), listing(lines, marked...))
}

func (m *chainPrefixMatcher) NegatedFailureMessage(actual any) string {
	r, _, node, err := rulesetOf(actual, m.table)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("Expected table %s%s to have a chain starting with %s, but it has none.\niptables -t %s -S%s:\n%s",
		m.table, onNode(node), m.prefix, m.table, onNode(node), listing(splitLines(dataplane.FormatIPTablesS(r, m.table, ""))))
}
