package diffcmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/differential"
)

// report's exit status is the report's verdict, or ExitIncomplete for a known-differences
// file that cannot be used; the seed's steps are captured empty on both sides (labrun's tests
// compare real captures).
func TestReportExitStatus(t *testing.T) {
	dir := t.TempDir()
	for _, proxy := range []string{"v1.37.2", lab.Reference} {
		for _, step := range []string{"seed/create", "seed/change", "seed/delete"} {
			if err := differential.WriteCapture(dir, differential.Capture{Scenario: step, Proxy: proxy, Settled: true}); err != nil {
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
	const gone = `differences:
- id: gone
  section: iptables
  mark: "+"
  line: '-A KUBE-SERVICES -j DROP'
  scenarios: [seed]
  reason: a difference that is no longer there
`
	empty := known("differences: []\n")
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		out    string
		err    string
	}{
		{"identical", []string{"--known", empty, "--scenarios", "seed"}, differential.ExitOK, "verdict: PASS", ""},
		{"stale entry", []string{"--known", known(gone), "--scenarios", "seed"}, differential.ExitDifferences, "gone (seed)", ""},
		{"no capture", []string{"--known", empty, "--scenarios", "seed,udp"}, differential.ExitIncomplete, "[udp/create] NOT COMPARED", ""},
		{"unknown step", []string{"--known", known(strings.Replace(gone, "[seed]", "[seed/chnage]", 1)), "--scenarios", "seed"}, differential.ExitIncomplete, "", "known differences: "},
		{"bad known file", []string{"--known", known("differences: [{id: x}]\n"), "--scenarios", "seed"}, differential.ExitIncomplete, "", "known differences: "},
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
			if !strings.Contains(stderr.String(), tc.err) {
				t.Errorf("stderr lacks %q:\n%s", tc.err, stderr.String())
			}
		})
	}
}
