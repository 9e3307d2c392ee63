package labrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/report/differential"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// A report over the seed as captured in the lab (upstream v1.37.2 programs IPv6 as well, the
// reference proxier did not), that capture standing for each of the seed's steps: the exit
// status follows the known-differences file.
func TestDiffReport(t *testing.T) {
	dir := t.TempDir()
	for _, file := range []string{"v1.37.2/seed.json", "reference/seed.json"} {
		c, err := differential.ReadCapture(fixture.RepoFile(t, "hack/report/differential/testdata/"+file))
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []string{"seed/create", "seed/change", "seed/delete"} {
			c.Scenario = step
			if err := differential.WriteCapture(dir, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	known := func(doc string) *differential.Known {
		k, err := differential.ParseKnown([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	const ipv6 = `differences:
- id: ipv6-sets
  section: ipsets
  mark: "-"
  line: 'create KUBE-6-[A-Z-]+ (hash:ip(,port(,ip|,net)?)? family inet6 hashsize 1024 maxelem 65536|bitmap:port range 0-65535)'
  reason: the test declares upstream's IPv6 family known
- id: ipv6-rules
  section: ip6tables
  mark: "-"
  line: '-[APN] .+'
  reason: the test declares upstream's IPv6 family known
`
	empty := known("differences: []\n")
	ipv6Known := known(ipv6)
	stale := known(ipv6 + `- id: gone
  section: iptables
  mark: "+"
  line: '-A KUBE-SERVICES -j DROP'
  scenarios: [seed]
  reason: a difference that is no longer there
`)
	staleStep := known(ipv6 + `- id: gone
  section: iptables
  mark: "+"
  line: '-A KUBE-SERVICES -j DROP'
  scenarios: [seed/change]
  reason: a difference that is no longer there
`)
	ipv6InOneStep := known(strings.ReplaceAll(ipv6, "reason:", "scenarios: [seed/change, seed/delete]\n  reason:"))
	for _, tc := range []struct {
		name      string
		known     *differential.Known
		scenarios []string
		status    int
		out       string
	}{
		{"IPv6 not known", empty, []string{"seed"}, differential.ExitDifferences, "[seed/change] 61 differences: 61 NEW, 0 known"},
		{"IPv6 known", ipv6Known, []string{"seed"}, differential.ExitOK, "[seed/delete] 61 differences: 0 NEW, 61 known"},
		{"IPv6 known in one step only", ipv6InOneStep, []string{"seed"}, differential.ExitDifferences, "[seed/create] 61 differences: 61 NEW, 0 known"},
		{"stale entry", stale, []string{"seed"}, differential.ExitDifferences, "gone (seed)"},
		{"stale entry of a step", staleStep, []string{"seed"}, differential.ExitDifferences, "gone (seed/change)"},
		{"no capture", ipv6Known, []string{"seed", "udp"}, differential.ExitIncomplete, "[udp/create] NOT COMPARED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scenarios, err := Select(Scenarios(), tc.scenarios)
			if err != nil {
				t.Fatal(err)
			}
			var stdout strings.Builder
			rep, err := Diff(context.Background(), Config{Dir: dir, KubeProxy: "v1.37.2", Scenarios: scenarios, Known: tc.known}, &stdout)
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.ExitCode(); got != tc.status {
				t.Errorf("exit code %d, want %d\nstdout:\n%s", got, tc.status, stdout.String())
			}
			fixture.Contains(t, "the report", stdout.String(), tc.out, "report, captures and full diffs: "+dir+"\n")
		})
	}
	for _, f := range []string{"report.txt", "report.json", filepath.Join("diff", "seed", "create.txt"), filepath.Join("diff", "seed", "delete.txt")} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
}
