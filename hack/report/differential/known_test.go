package differential

import (
	"os"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func mustKnown(t *testing.T, doc string) *Known {
	t.Helper()
	k, err := ParseKnown([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustKnownIPVS is a list of one known difference, id a: the reference adds an IPVS line
// matching the pattern line, in the scenarios given as a YAML list.
func mustKnownIPVS(t *testing.T, line, scenarios string) *Known {
	t.Helper()
	return mustKnown(t, `
differences:
- id: a
  section: ipvs
  mark: "+"
  line: '`+line+`'
  scenarios: `+scenarios+`
  reason: a reason for the test
`)
}

func TestParseKnownRejects(t *testing.T) {
	entry := func(fields string) string {
		return "differences:\n- " + strings.ReplaceAll(strings.TrimSpace(fields), "\n", "\n  ") + "\n"
	}
	ok := `id: a
section: iptables
mark: "+"
line: '-A X -j Y'
reason: the reference writes it`
	if _, err := ParseKnown([]byte(entry(ok))); err != nil {
		t.Fatalf("a valid entry was rejected: %v", err)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", entry(ok + "\nsenario: seed"), "unknown field"},
		{"no id", entry(strings.Replace(ok, "id: a", "id: ''", 1)), "id is empty"},
		{"bad section", entry(strings.Replace(ok, "section: iptables", "section: nft", 1)), `section "nft"`},
		{"bad mark", entry(strings.Replace(ok, `mark: "+"`, `mark: "*"`, 1)), `mark "*"`},
		{"no line", entry(strings.Replace(ok, "line: '-A X -j Y'", "line: ''", 1)), "line is empty"},
		{"bad regexp", entry(strings.Replace(ok, "line: '-A X -j Y'", "line: '-A X ('", 1)), "missing closing )"},
		{"matches everything", entry(strings.Replace(ok, "line: '-A X -j Y'", "line: '.*'", 1)), "matches an empty line"},
		{"no reason", entry(strings.Replace(ok, "reason: the reference writes it", "reason: known", 1)), "reason"},
		{"duplicate id", "differences:\n- " + strings.ReplaceAll(ok, "\n", "\n  ") + "\n- " + strings.ReplaceAll(ok, "\n", "\n  ") + "\n", "used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKnown([]byte(tc.doc))
			wanterr.Check(t, err, tc.want)
		})
	}
}

// The matcher takes exactly the lines an entry describes: the section, scope, mark,
// scenario and the whole text must agree.
func TestKnownMatchesExactly(t *testing.T) {
	k := mustKnown(t, `
differences:
- id: reject
  section: iptables
  scope: filter
  mark: "+"
  line: '-A KUBE-FIREWALL -j REJECT --reject-with icmp-port-unreachable'
  scenarios: [seed]
  reason: the reference rejects where upstream drops
- id: loopback
  section: ipsets
  scope: KUBE-LOOP-BACK
  mark: "-"
  line: 'add KUBE-LOOP-BACK \{web#\d+\},tcp:8080,\{web#\d+\}'
  reason: upstream adds hairpin entries for every local endpoint
- id: persistent
  section: ipvs
  mark: "~"
  line: 'TCP 10\.96\.104\.10:80 rr persistent 600   \(want persistent 10800\)'
  reason: the timeouts differ by design here
`)
	rule := Line{Section: dataplane.SectionIPTables, Scope: "filter", Kind: dataplane.Extra, Text: "-A KUBE-FIREWALL -j REJECT --reject-with icmp-port-unreachable"}
	member := Line{Section: dataplane.SectionIPSets, Scope: "KUBE-LOOP-BACK", Kind: dataplane.Missing, Text: "add KUBE-LOOP-BACK {web#1},tcp:8080,{web#1}"}
	vs := Line{Section: dataplane.SectionIPVS, Scope: "TCP 10.96.104.10:80", Kind: dataplane.Changed, Text: "TCP 10.96.104.10:80 rr persistent 600   (want persistent 10800)"}
	with := func(l Line, f func(*Line)) Line { f(&l); return l }
	for _, tc := range []struct {
		name     string
		scenario string
		line     Line
		want     string
	}{
		{"the rule", "seed", rule, "reject"},
		{"the rule in another scenario", "nodeport", rule, ""},
		{"the rule in another table", "seed", with(rule, func(l *Line) { l.Scope = "nat" }), ""},
		{"the rule with the other mark", "seed", with(rule, func(l *Line) { l.Kind = dataplane.Missing }), ""},
		{"the rule as context", "seed", with(rule, func(l *Line) { l.Kind = dataplane.Same }), ""},
		{"a longer rule", "seed", with(rule, func(l *Line) { l.Text += " -m comment --comment x" }), ""},
		{"a rule with a prefix", "seed", with(rule, func(l *Line) { l.Text = "-I" + l.Text[2:] }), ""},
		{"the rule in ip6tables", "seed", with(rule, func(l *Line) { l.Section = dataplane.SectionIP6Tables }), ""},
		{"a hairpin member in any scenario", "affinity", member, "loopback"},
		{"a member of another workload", "affinity", with(member, func(l *Line) { l.Text = "add KUBE-LOOP-BACK {db#0},tcp:8080,{db#0}" }), ""},
		{"a member with a raw address", "affinity", with(member, func(l *Line) { l.Text = "add KUBE-LOOP-BACK 10.244.0.2,tcp:8080,10.244.0.2" }), ""},
		{"a member of another set", "affinity", with(member, func(l *Line) { l.Scope = "KUBE-CLUSTER-IP" }), ""},
		{"the changed virtual server", "affinity", vs, "persistent"},
		{"another changed virtual server", "affinity", with(vs, func(l *Line) { l.Text = "TCP 10.96.104.10:80 rr persistent 600   (want scheduler wrr)" }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if e := k.Match(tc.scenario, tc.line); e != nil {
				got = e.ID
			}
			if got != tc.want {
				t.Errorf("Match(%s, %q) = %q, want %q", tc.scenario, tc.line.String(), got, tc.want)
			}
		})
	}
}

func TestCheckScenarios(t *testing.T) {
	k := mustKnownIPVS(t, `TCP 1\.2\.3\.4:80 rr`, "[seed, nodeprot]")
	if err := k.CheckScenarios([]string{"seed", "nodeprot"}); err != nil {
		t.Errorf("CheckScenarios = %v, want nil", err)
	}
	wanterr.Check(t, k.CheckScenarios([]string{"baseline", "seed", "nodeport"}), `scenario "nodeprot"`)
}

// An entry covers the steps it names and every step of the scenarios it names.
func TestAppliesTo(t *testing.T) {
	for _, tc := range []struct {
		scenarios []string
		step      string
		want      bool
	}{
		{nil, "seed/create", true},
		{[]string{"seed"}, "seed/create", true},
		{[]string{"seed"}, "seed/delete", true},
		{[]string{"seed/change"}, "seed/change", true},
		{[]string{"seed/change"}, "seed/create", false},
		{[]string{"seed/change"}, "seed", false},
		{[]string{"nodeport", "seed/change"}, "nodeport/delete", true},
		{[]string{"seed"}, "seedling/create", false},
		{[]string{"seed"}, "nodeport/create", false},
	} {
		e := KnownDifference{Scenarios: tc.scenarios}
		if got := e.AppliesTo(tc.step); got != tc.want {
			t.Errorf("entry for %v covers %s: %v, want %v", tc.scenarios, tc.step, got, tc.want)
		}
	}
}

// The file checked into the repository loads.
func TestCheckedInKnownDifferences(t *testing.T) {
	k, err := LoadKnown("known-differences.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(k.Path); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseKnown: a known-differences document people write either loads with every entry
// checked, or fails; it never panics, and a loaded entry never matches an empty line.
func FuzzParseKnown(f *testing.F) {
	if data, err := os.ReadFile("known-differences.yaml"); err == nil {
		f.Add(string(data))
	}
	f.Add("differences:\n- {id: a, section: ipvs, mark: '+', line: 'TCP .*', reason: a reason here}\n")
	f.Add("differences: [{id: x}]\n")
	f.Fuzz(func(t *testing.T, doc string) {
		k, err := ParseKnown([]byte(doc))
		if err != nil {
			return
		}
		for _, e := range k.Entries {
			if e.line == nil {
				t.Fatalf("entry %q loaded without its pattern", e.ID)
			}
			for _, kind := range dataplane.Kinds {
				if e.Matches("any", Line{Section: e.Section, Scope: e.Scope, Kind: kind, Text: ""}) {
					t.Fatalf("entry %q matches an empty line", e.ID)
				}
			}
		}
	})
}
