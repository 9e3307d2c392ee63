package iptables

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// contractEnv is an implementation under test and, for the rules that match ip sets, a set
// per family it guarantees to exist (none: such rules are not tested).
type contractEnv struct {
	ipt  Interface
	sets map[Family]string
}

// testContract is what the fake and the kernel's iptables (in the lab) must both do. It
// only touches chains named H3-* (and one jump to them from filter OUTPUT), written the way
// iptables-save prints rules, and removes them again: the lab's tests share one kernel.
func testContract(t *testing.T, newEnv func(t *testing.T) contractEnv) {
	for _, fam := range []Family{IPv4, IPv6} {
		t.Run(fam.String(), func(t *testing.T) { testFamily(t, fam, newEnv) })
	}
}

func testFamily(t *testing.T, fam Family, newEnv func(t *testing.T) contractEnv) {
	src := "10.0.0.0/8"
	if fam == IPv6 {
		src = "fd00::/8"
	}

	t.Run("built-in tables and chains exist", func(t *testing.T) {
		e := newEnv(t)
		rs := save(t, e.ipt, fam)
		for _, table := range []string{"filter", "nat"} {
			tb, ok := rs.Table(table)
			if !ok {
				t.Fatalf("table %s missing from %s", table, fam.saveCommand())
			}
			for _, c := range builtinChains[table] {
				ch, ok := tb.Chain(c)
				if !ok || (ch.Policy != "ACCEPT" && ch.Policy != "DROP") {
					t.Errorf("%s %s: %+v, %v; expected a built-in chain with a policy", table, c, ch, ok)
				}
			}
		}
		only := save(t, e.ipt, fam, "nat")
		if len(only.Tables) != 1 || only.Tables[0].Name != "nat" {
			t.Errorf("Save(nat) returned tables %v, expected only nat", tableNames(only))
		}
	})

	t.Run("chains and rules", func(t *testing.T) {
		e := newEnv(t)
		cleanup(t, e.ipt, fam)
		rules := []string{
			`-s ` + src + ` -m comment --comment "h3 contract: quoted text" -j H3-B`,
			`-p tcp -m tcp --dport 8080 -j ACCEPT`,
			`-m comment --comment h3-plain -j RETURN`,
		}
		if set := e.sets[fam]; set != "" {
			rules = append(rules, `-m set --match-set `+set+` dst -j H3-B`)
		}
		input := "*filter\n:H3-A - [0:0]\n:H3-B - [0:0]\n"
		for _, r := range rules {
			input += "-A H3-A " + r + "\n"
		}
		input += "-A H3-B -j DROP\n-A OUTPUT -m comment --comment h3-contract -j H3-A\nCOMMIT\n"
		restore(t, e.ipt, fam, input)
		rs := save(t, e.ipt, fam, "filter")
		expectRules(t, rs, "H3-A", rules...)
		expectRules(t, rs, "H3-B", "-j DROP")
		if n := countRules(rs, "OUTPUT", "-m comment --comment h3-contract -j H3-A"); n != 1 {
			t.Errorf("OUTPUT holds the jump to H3-A %d times, expected once", n)
		}

		// Declaring a chain again flushes it; a chain not mentioned is left alone.
		restore(t, e.ipt, fam, "*filter\n:H3-A - [0:0]\n-A H3-A -j H3-B\nCOMMIT\n")
		rs = save(t, e.ipt, fam, "filter")
		expectRules(t, rs, "H3-A", "-j H3-B")
		expectRules(t, rs, "H3-B", "-j DROP")

		// Insert at a position, delete by spec and by number.
		restore(t, e.ipt, fam, "*filter\n-I H3-B 1 -j RETURN\n-A H3-B -j ACCEPT\n-D H3-B -j DROP\nCOMMIT\n")
		expectRules(t, save(t, e.ipt, fam, "filter"), "H3-B", "-j RETURN", "-j ACCEPT")
		restore(t, e.ipt, fam, "*filter\n-D H3-B 2\nCOMMIT\n")
		expectRules(t, save(t, e.ipt, fam, "filter"), "H3-B", "-j RETURN")
	})

	t.Run("a refused transaction changes nothing", func(t *testing.T) {
		e := newEnv(t)
		cleanup(t, e.ipt, fam)
		restore(t, e.ipt, fam, "*filter\n:H3-A - [0:0]\n-A H3-A -j RETURN\nCOMMIT\n")
		before := save(t, e.ipt, fam, "filter")
		for _, c := range []struct {
			name, input string
			// lines iptables-restore may blame: iptables-nft-restore names the COMMIT
			// line for a jump to a missing chain, legacy iptables-restore the rule.
			lines []int
		}{
			{"jump to a missing chain", "*filter\n:H3-C - [0:0]\n-F H3-A\n-A H3-C -j H3-MISSING\nCOMMIT\n", []int{4, 5}},
			{"delete a missing rule", "*filter\n:H3-C - [0:0]\n-D H3-A -j DROP\nCOMMIT\n", []int{3}},
			{"delete a referenced chain", "*filter\n:H3-C - [0:0]\n-A H3-C -j H3-A\n-F H3-A\n-X H3-A\nCOMMIT\n", []int{5}},
			{"unknown table", "*h3nosuchtable\nCOMMIT\n", []int{1}},
		} {
			err := e.ipt.Restore(fam, []byte(c.input))
			if err == nil {
				t.Errorf("%s: Restore succeeded, expected a refusal", c.name)
				continue
			}
			var re *RestoreError
			if !errors.As(err, &re) || !slices.Contains(c.lines, re.Line) {
				t.Errorf("%s: error %v (%T), expected a *RestoreError at line %v", c.name, err, err, c.lines)
			}
			after := save(t, e.ipt, fam, "filter")
			if d := diffTable(before, after); d != "" {
				t.Errorf("%s: the refused input changed the filter table:\n%s", c.name, d)
			}
		}
	})
}

func save(t *testing.T, ipt Interface, fam Family, tables ...string) dataplane.Ruleset {
	t.Helper()
	rs, err := ipt.Save(fam, tables...)
	if err != nil {
		t.Fatalf("Save(%s, %v): %v", fam, tables, err)
	}
	return rs
}

func restore(t *testing.T, ipt Interface, fam Family, input string) {
	t.Helper()
	if err := ipt.Restore(fam, []byte(input)); err != nil {
		t.Fatalf("Restore(%s):\n%s\nerror: %v", fam, input, err)
	}
}

// cleanup removes the H3-* chains and the OUTPUT jump, whatever state a test left.
func cleanup(t *testing.T, ipt Interface, fam Family) {
	t.Cleanup(func() {
		rs, err := ipt.Save(fam, "filter")
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		var b strings.Builder
		b.WriteString("*filter\n")
		for _, r := range rs.Rules("filter", "OUTPUT") {
			if strings.Contains(r.Spec, "H3-") {
				b.WriteString("-D OUTPUT " + r.Spec + "\n")
			}
		}
		chains := rs.ChainsWithPrefix("filter", "H3-")
		for _, c := range chains {
			b.WriteString(":" + c + " - [0:0]\n")
		}
		for _, c := range chains {
			b.WriteString("-X " + c + "\n")
		}
		b.WriteString("COMMIT\n")
		if err := ipt.Restore(fam, []byte(b.String())); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// expectRules compares a filter chain's rules word by word, so that quoting that
// iptables-save may spell differently does not matter.
func expectRules(t *testing.T, rs dataplane.Ruleset, chain string, want ...string) {
	t.Helper()
	got := rs.Rules("filter", chain)
	if len(got) != len(want) {
		t.Fatalf("filter %s has %d rules %q, expected %d %q", chain, len(got), got, len(want), want)
	}
	for i := range want {
		if !sameRule(got[i].Spec, want[i]) {
			t.Errorf("filter %s rule %d = %q, expected %q", chain, i+1, got[i].Spec, want[i])
		}
	}
}

func sameRule(a, b string) bool {
	x, err1 := dataplane.Rule{Spec: a}.Args()
	y, err2 := dataplane.Rule{Spec: b}.Args()
	return err1 == nil && err2 == nil && slices.Equal(x, y)
}

func countRules(rs dataplane.Ruleset, chain, spec string) int {
	n := 0
	for _, r := range rs.Rules("filter", chain) {
		if sameRule(r.Spec, spec) {
			n++
		}
	}
	return n
}

// diffTable lists the chains of the filter table whose rules or policy differ.
func diffTable(a, b dataplane.Ruleset) string {
	var out []string
	ta, _ := a.Table("filter")
	tb, _ := b.Table("filter")
	names := map[string]bool{}
	for _, c := range append(slices.Clone(ta.Chains), tb.Chains...) {
		names[c.Name] = true
	}
	for name := range names {
		ca, okA := ta.Chain(name)
		cb, okB := tb.Chain(name)
		if okA != okB || ca.Policy != cb.Policy || fmt.Sprint(ca.Rules) != fmt.Sprint(cb.Rules) {
			out = append(out, fmt.Sprintf("  %s: %v %+v -> %v %+v", name, okA, ca, okB, cb))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}
