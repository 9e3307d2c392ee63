package differential

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// isIPv6 tells whether a diff line belongs to the IPv6 family: its sets and ip6tables.
func isIPv6(l Line) bool {
	return l.Section == dataplane.SectionIP6Tables || (l.Section == dataplane.SectionIPSets && strings.HasPrefix(l.Scope, "KUBE-6-"))
}

// ipv4Only drops the IPv6 family from a capture: ip6tables and the KUBE-6-* sets.
func ipv4Only(c Capture) Capture {
	c.State.IP6Tables = dataplane.Ruleset{}
	c.State.IPSets = slices.DeleteFunc(slices.Clone(c.State.IPSets), func(s dataplane.IPSet) bool { return strings.HasPrefix(s.Name, "KUBE-6-") })
	return c
}

// The seed under upstream v1.37.2 and under the reference proxier, as captured in the lab:
// the IPv4 dataplanes are the same once the apiserver's port (picked per run) is named;
// upstream also programs the IPv6 family (17 KUBE-6-* sets, 44 ip6tables lines), which
// the reference proxier did not.
func TestCompareSeedCaptures(t *testing.T) {
	up := readTestCapture(t, "v1.37.2/seed.json")
	ref := readTestCapture(t, "reference/seed.json")

	r := Compare("seed", up, ref, nil)
	diffs := r.Differences()
	sets, rules := 0, 0
	for _, l := range diffs {
		if !isIPv6(l.Line) || l.Kind != dataplane.Missing {
			t.Errorf("a difference other than upstream's IPv6 family: %s %s %s", l.Section, l.Scope, l.String())
		}
		if l.Section == dataplane.SectionIPSets {
			sets++
		} else {
			rules++
		}
	}
	if sets != 17 || rules != 44 || r.NewCount() != 61 {
		t.Errorf("%d set lines and %d ip6tables lines (%d NEW), want 17 and 44 (61 NEW)", sets, rules, r.NewCount())
	}

	up.APIServer, ref.APIServer = netip.AddrPort{}, netip.AddrPort{}
	r = Compare("seed", ipv4Only(up), ipv4Only(ref), nil)
	var got []string
	for _, l := range r.Differences() {
		got = append(got, l.String())
	}
	want := []string{
		"+   -> 10.0.2.2:34761               Masq    1      0          0",
		"-   -> 10.0.2.2:41357               Masq    1      0          0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("without the apiserver named: %q, want %q", got, want)
	}
}

// A second run, in which the reference proxier came up after the node's IPv6 address and
// went dual-stack as upstream does: the seed is identical in both families.
func TestCompareSeedDualStack(t *testing.T) {
	up := readTestCapture(t, "v1.37.2/seed.json")
	ref := readTestCapture(t, "reference-dualstack/seed.json")
	if r := Compare("seed", up, ref, nil); r.Error != "" || r.Diff != "" {
		t.Errorf("error %q, diff:\n%s", r.Error, r.Diff)
	}
}

// The load balancers (source ranges, ingress IPs, eTP Local, a health check NodePort, two
// replicas named by IP): the same IPv4 dataplane on both sides.
func TestCompareLoadBalancerCaptures(t *testing.T) {
	up := readTestCapture(t, "v1.37.2/loadbalancer.json")
	ref := readTestCapture(t, "reference/loadbalancer.json")
	r := Compare("loadbalancer", ipv4Only(up), ipv4Only(ref), nil)
	if r.Error != "" || r.Diff != "" {
		t.Errorf("error %q, diff:\n%s", r.Error, r.Diff)
	}
	// The capture is not empty: the denied range's DROP rule is there.
	if !slices.ContainsFunc(up.State.IPTables.Rules("filter", "KUBE-IPVS-OUT-FILTER"), func(r dataplane.Rule) bool {
		return strings.Contains(r.Spec, "--vaddr 203.0.113.20") && strings.HasSuffix(r.Spec, "-j DROP")
	}) {
		t.Errorf("upstream's capture lacks the DROP rule for 203.0.113.20")
	}
}

// The pod IPs are named: the same seed with the reference's pod elsewhere is identical,
// and with the pod unnamed it is not.
func TestComparePodNamed(t *testing.T) {
	up := readTestCapture(t, "v1.37.2/seed.json")
	ref := up
	ref.Proxy = "reference"
	ref.State = moveAddr(up.State, "10.244.0.2", "10.244.0.7")
	ref.Names = Names{netip.MustParseAddr("10.244.0.7"): "{nginx-test}"}
	if r := Compare("seed", up, ref, nil); r.Diff != "" || r.Error != "" {
		t.Errorf("a named pod at another address differs: %q\n%s", r.Error, r.Diff)
	}
	ref.Names = nil
	r := Compare("seed", up, ref, nil)
	if r.NewCount() == 0 || !strings.Contains(r.Diff, "{nginx-test}") || !strings.Contains(r.Diff, "10.244.0.7") {
		t.Errorf("an unnamed pod address must differ from the named one:\n%s", r.Diff)
	}
}

// moveAddr rewrites one address everywhere in a state, as another run's allocation would.
func moveAddr(st dataplane.State, from, to string) dataplane.State {
	names := Names{netip.MustParseAddr(from): "x"}
	sym := &Symbols{byName: map[string]netip.Addr{"x": netip.MustParseAddr(to)}}
	return sym.Apply(st, names)
}

func TestCompareErrorsAndNotes(t *testing.T) {
	up := readTestCapture(t, "v1.37.2/seed.json")
	ref := readTestCapture(t, "reference/seed.json")
	ref.Error = "namespace diff-seed not ready"
	r := Compare("seed", up, ref, nil)
	if r.Error != "reference: namespace diff-seed not ready" || len(r.Lines) != 0 {
		t.Errorf("Compare with a failed capture: error %q, %d lines", r.Error, len(r.Lines))
	}
	ref.Error = ""
	up.Settled = false
	r = Compare("seed", up, ref, nil)
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "v1.37.2: the state did not settle") {
		t.Errorf("notes %q, want the unsettled capture named", r.Notes)
	}
}

func testReport(t *testing.T) Report {
	t.Helper()
	k := mustKnown(t, `
differences:
- id: apiserver-port
  section: ipvs
  scope: TCP 10.96.0.1:443
  mark: "+"
  line: '  -> 10\.0\.2\.2:34761 +Masq +1 +0 +0'
  reason: >-
    the test's reason for the reference's
    apiserver endpoint
- id: never-seen
  section: iptables
  mark: "+"
  line: '-A KUBE-SERVICES -j DROP'
  scenarios: [seed]
  reason: an entry no scenario needs any more
- id: other-scenario
  section: iptables
  mark: "+"
  line: '-A KUBE-SERVICES -j DROP'
  scenarios: [affinity]
  reason: an entry for a scenario that did not run
`)
	k.Path = "known-differences.yaml"
	up := readTestCapture(t, "v1.37.2/seed.json")
	ref := readTestCapture(t, "reference/seed.json")
	up, ref = ipv4Only(up), ipv4Only(ref)
	up.APIServer, ref.APIServer = netip.AddrPort{}, netip.AddrPort{}
	identical := Compare("baseline", up, up, k)
	seed := Compare("seed", up, ref, k)
	failed := ScenarioResult{Scenario: "nodeport", Error: "reference: lab cluster: boom"}
	return NewReport("upstream kube-proxy v1.37.2", "the reference proxier", k, []ScenarioResult{identical, seed, failed})
}

func TestReportFormat(t *testing.T) {
	r := testReport(t)
	var b strings.Builder
	if err := r.Format(&b); err != nil {
		t.Fatal(err)
	}
	want := `Differential report: upstream kube-proxy v1.37.2 ("-") against the reference proxier ("+")
  - only the first programmed it, + only the second, ~ both, configured differently (the second's line, then what the first has),
  > both, the rule at another place in its chain (where the second has it, then where the first has it)
  known differences: known-differences.yaml (3 entries)

[baseline] identical

[seed] 2 differences: 1 NEW, 1 known
  ipvs TCP 10.96.0.1:443
    known +   -> 10.0.2.2:34761               Masq    1      0          0   [apiserver-port]
    NEW   -   -> 10.0.2.2:41357               Masq    1      0          0
  [apiserver-port] the test's reason for the reference's apiserver endpoint

[nodeport] NOT COMPARED: reference: lab cluster: boom

stale known differences (listed in known-differences.yaml, not seen in any scenario they cover):
  never-seen (seed): iptables + /-A KUBE-SERVICES -j DROP/

verdict: FAIL: 1 NEW difference (seed 1), 1 stale known difference, 1 step not compared
`
	if b.String() != want {
		t.Errorf("Format:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestExitCode(t *testing.T) {
	k := mustKnownIPVS(t, `TCP +1\.2\.3\.4:80 rr`, "[s]")
	known := ClassifiedLine{Line: Line{Section: dataplane.SectionIPVS, Scope: "TCP 1.2.3.4:80", Kind: dataplane.Extra, Text: "TCP  1.2.3.4:80 rr"}, Known: "a"}
	unknown := ClassifiedLine{Line: Line{Section: dataplane.SectionIPVS, Scope: "TCP 1.2.3.5:80", Kind: dataplane.Extra, Text: "TCP  1.2.3.5:80 rr"}}
	context := ClassifiedLine{Line: Line{Section: dataplane.SectionIPVS, Scope: "TCP 1.2.3.6:80", Kind: dataplane.Same, Text: "TCP  1.2.3.6:80 rr"}}
	for _, tc := range []struct {
		name    string
		results []ScenarioResult
		want    int
		verdict string
	}{
		{"all known", []ScenarioResult{{Scenario: "s", Lines: []ClassifiedLine{known, context}}}, ExitOK, "verdict: PASS: 1 step of 1 scenario, every difference known"},
		{"steps of scenarios", []ScenarioResult{{Scenario: "s", Lines: []ClassifiedLine{known}}, {Scenario: "t/create"}, {Scenario: "t/delete"}}, ExitOK, "verdict: PASS: 3 steps of 2 scenarios, every difference known"},
		{"a NEW line", []ScenarioResult{{Scenario: "s", Lines: []ClassifiedLine{known, unknown}}}, ExitDifferences, "1 NEW difference (s 1)"},
		{"stale", []ScenarioResult{{Scenario: "s"}}, ExitDifferences, "1 stale known difference"},
		{"the entry's scenario not compared: not stale", []ScenarioResult{{Scenario: "s", Error: "x"}}, ExitIncomplete, "1 step not compared"},
		{"the entry's scenario not run: not stale", []ScenarioResult{{Scenario: "t"}}, ExitOK, "verdict: PASS"},
		{"NEW beats not compared", []ScenarioResult{{Scenario: "s", Lines: []ClassifiedLine{known}}, {Scenario: "t", Lines: []ClassifiedLine{unknown}}, {Scenario: "u", Error: "x"}},
			ExitDifferences, "1 NEW difference (t 1), 1 step not compared"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReport("a", "b", k, tc.results)
			if got := r.ExitCode(); got != tc.want {
				t.Errorf("ExitCode = %d, want %d (%s)", got, tc.want, r.Verdict())
			}
			if !strings.Contains(r.Verdict(), tc.verdict) {
				t.Errorf("Verdict = %q, want it to contain %q", r.Verdict(), tc.verdict)
			}
		})
	}
}
