package diffcmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/differential"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// report over the seed as captured in the lab (upstream v1.37.2 programs IPv6 as well, the
// reference proxier did not), that capture standing for each of the seed's steps: the exit
// status follows the known-differences file.
func TestReportExitStatus(t *testing.T) {
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
	known := func(doc string) string {
		p := filepath.Join(t.TempDir(), "known.yaml")
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
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
		name   string
		args   []string
		status int
		out    string
	}{
		{"IPv6 not known", []string{"--known", empty, "--scenarios", "seed"}, differential.ExitDifferences, "[seed/change] 61 differences: 61 NEW, 0 known"},
		{"IPv6 known", []string{"--known", ipv6Known, "--scenarios", "seed"}, differential.ExitOK, "[seed/delete] 61 differences: 0 NEW, 61 known"},
		{"IPv6 known in one step only", []string{"--known", ipv6InOneStep, "--scenarios", "seed"}, differential.ExitDifferences, "[seed/create] 61 differences: 61 NEW, 0 known"},
		{"stale entry", []string{"--known", stale, "--scenarios", "seed"}, differential.ExitDifferences, "gone (seed)"},
		{"stale entry of a step", []string{"--known", staleStep, "--scenarios", "seed"}, differential.ExitDifferences, "gone (seed/change)"},
		{"no capture", []string{"--known", ipv6Known, "--scenarios", "seed,udp"}, differential.ExitIncomplete, "[udp/create] NOT COMPARED"},
		{"unknown step", []string{"--known", known(strings.Replace(ipv6, "reason:", "scenarios: [seed/chnage]\n  reason:", 1)), "--scenarios", "seed"}, differential.ExitIncomplete, ""},
		{"bad known file", []string{"--known", known("differences: [{id: x}]\n"), "--scenarios", "seed"}, differential.ExitIncomplete, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			args := append([]string{"report", "--out", dir}, tc.args...)
			if got := cli.Execute(context.Background(), NewCommand(), args, &stdout, &stderr); got != tc.status {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.status, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.out) {
				t.Errorf("stdout lacks %q:\n%s", tc.out, stdout.String())
			}
		})
	}
	for _, f := range []string{"report.txt", "report.json", filepath.Join("diff", "seed", "create.txt"), filepath.Join("diff", "seed", "delete.txt")} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
}
