// Package diffcmd is `ipvs-e2e diff`, the differential report: for each step of each scenario
// (create, change, delete), the node dataplane upstream kube-proxy programmed in ipvs mode
// against the one the reference proxier programmed, compared with the project's dataplane diff. A difference fails the report
// unless the known-differences file lists it with a reason; an entry that matched nothing
// fails it too (stale).
//
//	ipvs-e2e diff run    [--kube-proxy v1.37.2] [--out DIR] [--known FILE] [--scenarios a,b] [--sides upstream,reference]
//	ipvs-e2e diff report [--kube-proxy v1.37.2] [--out DIR] [--known FILE] [--scenarios a,b]
//
// run brings up one lab cluster per proxy (framework/cluster/lab), runs the scenarios in
// each, writes the captures under DIR/<proxy>/<scenario>/<step>.json and then reports; report
// only reads captures already there, for working on the known-differences file without a lab.
//
// Exit status: 0 every difference known and no stale entry; 1 a NEW difference or a stale
// entry; 2 a step could not be compared (a delete step that left the node off its baseline is
// one), or the run could not start.
package diffcmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/differential"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/differential/labrun"
)

// NewCommand returns the diff command.
func NewCommand() *cobra.Command {
	return cli.Group(&cobra.Command{
		Use:   "diff",
		Short: "Compare the node dataplanes of upstream kube-proxy and the reference proxier",
		Long: `The differential report: for each step of each scenario (create, change, delete), the node
dataplane upstream kube-proxy programmed in ipvs mode against the one the reference proxier
programmed. A difference fails the report
unless the known-differences file lists it with a reason; an entry that matched nothing fails
it too (stale).

Exit status: 0 every difference known and no stale entry; 1 a NEW difference or a stale
entry; 2 a step could not be compared (a delete step that left the node off its baseline is
one), or the run could not start.`,
	},
		cli.Command(&cobra.Command{Use: "run", Short: "Run the scenarios in one lab cluster per proxy, then report"}, &runFlags{}),
		cli.Command(&cobra.Command{Use: "report", Short: "Report from the captures already in --out (no lab)"}, &reportFlags{}),
	)
}

// reportFlags are what both commands read.
type reportFlags struct {
	kubeProxy string
	out       string
	known     string
	scenarios []string
}

func (f *reportFlags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeProxy, "kube-proxy", lab.DefaultVersion, "upstream kube-proxy release compared with the reference proxier")
	fs.StringVar(&f.out, "out", "", "directory for captures and reports (default artifacts/diff-<kube-proxy> in the checkout)")
	fs.StringVar(&f.known, "known", cluster.CheckoutPath("hack", "report", "differential", "known-differences.yaml"), "known-differences file")
	fs.StringSliceVar(&f.scenarios, "scenarios", nil, "comma-separated scenarios to run (default all: "+strings.Join(labrun.Names(labrun.Scenarios()), ",")+")")
}

// Sides of a run: upstream kube-proxy, and the reference proxier.
const (
	sideUpstream  = "upstream"
	sideReference = "reference"
)

// runFlags add how the lab clusters are run.
type runFlags struct {
	reportFlags
	sides    []string
	ipvsdump string
	quiet    time.Duration
	timeout  time.Duration
}

func (f *runFlags) Bind(fs *pflag.FlagSet) {
	f.reportFlags.Bind(fs)
	fs.StringSliceVar(&f.sides, "sides", []string{sideUpstream, sideReference}, "which sides to run; the other side's captures are read from --out")
	fs.StringVar(&f.ipvsdump, "ipvsdump", cluster.CheckoutPath("bin", "ipvsdump"), "static linux ipvsdump binary copied into the node (make lab-cluster-binaries)")
	fs.DurationVar(&f.quiet, "quiet", 0, "how long the proxy's sync metrics and the node's state must hold still to settle a step no fresh sync shows settled (default 6s)")
	fs.DurationVar(&f.timeout, "timeout", 0, "bound of each wait in a step (default 3m)")
}

// Run is `diff run`: capture the sides, then report.
func (f *runFlags) Run(cmd *cobra.Command, _ []string) error {
	var proxies []string
	for _, s := range f.sides {
		switch s {
		case sideUpstream:
			proxies = append(proxies, f.kubeProxy)
		case sideReference:
			proxies = append(proxies, lab.Reference)
		default:
			return cli.Usagef("--sides %q: expected %s and/or %s", strings.Join(f.sides, ","), sideUpstream, sideReference)
		}
	}
	return run(cmd, *f, proxies)
}

// Run is `diff report`: a run with no side to capture.
func (f *reportFlags) Run(cmd *cobra.Command, _ []string) error {
	return run(cmd, runFlags{reportFlags: *f}, nil)
}

// check refuses flags that name no upstream release or no scenario, and fills in --out.
func (f *reportFlags) check() ([]labrun.Scenario, error) {
	if f.kubeProxy == lab.Reference || !strings.HasPrefix(f.kubeProxy, "v") {
		return nil, cli.Usagef("--kube-proxy %q: expected an upstream release such as %s (the reference proxier is always the other side)", f.kubeProxy, lab.DefaultVersion)
	}
	if f.out == "" {
		f.out = cluster.CheckoutPath("artifacts", "diff-"+f.kubeProxy)
	}
	scenarios, err := labrun.Select(labrun.Scenarios(), f.scenarios)
	if err != nil {
		return nil, &cli.UsageError{Err: err}
	}
	return scenarios, nil
}

// run runs the proxies named (none for report) and reports, the report's verdict the exit
// status.
func run(cmd *cobra.Command, f runFlags, proxies []string) error {
	incomplete := func(err error) error { return &cli.ExitError{Code: differential.ExitIncomplete, Err: err} }
	scenarios, err := f.check()
	if err != nil {
		return err
	}
	known, err := differential.LoadKnown(f.known)
	if err == nil {
		all := labrun.Scenarios()
		err = known.CheckScenarios(append(labrun.Names(all), labrun.StepIDs(all)...))
	}
	if err != nil {
		return incomplete(fmt.Errorf("known differences: %w", err))
	}
	rep, err := labrun.Diff(cmd.Context(), labrun.Config{
		Dir: f.out, KubeProxy: f.kubeProxy, Proxies: proxies, Scenarios: scenarios, Known: known,
		IPVSDump: f.ipvsdump, Quiet: f.quiet, Timeout: f.timeout,
	}, cmd.OutOrStdout())
	if err != nil {
		return incomplete(err)
	}
	if code := rep.ExitCode(); code != differential.ExitOK {
		return cli.Exit(code)
	}
	return nil
}
