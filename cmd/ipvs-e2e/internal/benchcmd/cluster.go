package benchcmd

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/clusterbench"
)

// clusterFlags is `bench cluster`; its Service counts stay text until parseNs.
type clusterFlags struct {
	clusterbench.Config
	ns, upstreamNs, churnNs string
	render                  string
}

func (f *clusterFlags) Run(cmd *cobra.Command, _ []string) error {
	stdout := cmd.OutOrStdout()
	if f.render != "" {
		text, err := clusterbench.Rerender(f.render)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, text)
		return nil
	}
	c := f.Config
	switch {
	case c.Parallel < 1 || c.Parallel > 1000:
		return cli.Usagef("--parallel %d: expected 1 to 1000 concurrent creates", c.Parallel)
	case c.ProfileSeconds < 0:
		return cli.Usagef("--profile-seconds %d: expected 0 (no profile) or more", c.ProfileSeconds)
	case c.Churn != 0 && (c.Churn < 5*time.Second || c.Churn > 30*time.Minute):
		return cli.Usagef("--churn %s: expected 0 (no churn phase) or from 5s to 30m", c.Churn)
	}
	var err error
	if c.Ns, err = parseNs(f.ns); err != nil {
		return &cli.UsageError{Err: fmt.Errorf("-n: %w", err)}
	}
	c.UpstreamNs = c.Ns
	if f.upstreamNs != "" {
		if c.UpstreamNs, err = parseNs(f.upstreamNs); err != nil {
			return &cli.UsageError{Err: fmt.Errorf("--upstream-n: %w", err)}
		}
	}
	if c.ChurnNs, err = parseNs(f.churnNs); err != nil {
		return &cli.UsageError{Err: fmt.Errorf("--churn-n: %w", err)}
	}
	return clusterbench.Run(cmd.Context(), c, stdout)
}

func (f *clusterFlags) Bind(fs *pflag.FlagSet) {
	fs.StringVarP(&f.ns, "n", "n", "100,1000", "Service counts N to measure, comma-separated")
	fs.StringVar(&f.upstreamNs, "upstream-n", "", "the Ns upstream kube-proxy is measured at (default: all of -n); upstream needs ~40 min at 10000")
	fs.StringVar(&f.Upstream, "upstream", lab.DefaultVersion, "the upstream kube-proxy release to compare with; empty: the reference proxier only")
	fs.StringVar(&f.Out, "out", "_out/bench", "directory for the table, results and profile")
	fs.IntVar(&f.ProfileSeconds, "profile-seconds", 30, "the reference proxier's CPU is profiled at the largest N from the burst's start until it has synced, in profiles of this many seconds, merged (0: none)")
	fs.IntVar(&f.Parallel, "parallel", 32, "concurrent creates in the burst")
	fs.StringVar(&f.IPVSDump, "ipvsdump", cluster.CheckoutPath("bin", "ipvsdump"), "static ipvsdump binary copied into the node")
	fs.DurationVar(&f.Churn, "churn", clusterbench.DefaultChurnDuration, "the churn phase's window at the Ns of --churn-n: 20 endpoint changes per second after the other measurements (0: none)")
	fs.StringVar(&f.churnNs, "churn-n", "1000,10000", "the Ns (of those measured) the churn phase runs at, comma-separated")
	fs.Uint64Var(&f.ChurnSeed, "churn-seed", 1, "seed of the order the churn changes the Services in")
	fs.BoolVar(&f.SkipReference, "skip-reference", false, "measure upstream only")
	fs.StringVar(&f.render, "render", "", "measure nothing: rewrite the table beside this "+clusterbench.ResultsFile+" from it (after a change of the table's layout)")
}

// parseNs reads "100,1000".
func parseNs(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > clusterbench.MaxServices {
			return nil, fmt.Errorf("N %q: expected a whole number from 1 to %d", f, clusterbench.MaxServices)
		}
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return nil, errors.New("no N given (-n 100,1000)")
	}
	slices.Sort(ns)
	return slices.Compact(ns), nil
}
