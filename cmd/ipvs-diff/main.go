// Command ipvs-diff is the differential report: for each step of each scenario (create,
// change, delete), the node dataplane upstream kube-proxy programmed in ipvs mode against
// the one the reference proxier programmed, compared with the project's dataplane diff. A difference fails the report
// unless the known-differences file lists it with a reason; an entry that matched nothing
// fails it too (stale).
//
//	ipvs-diff run    [-kube-proxy v1.37.2] [-out DIR] [-known FILE] [-scenarios a,b] [-sides upstream,reference]
//	ipvs-diff report [-kube-proxy v1.37.2] [-out DIR] [-known FILE] [-scenarios a,b]
//
// run brings up one lab cluster per proxy (framework/cluster/lab), runs the scenarios in
// each, writes the captures under DIR/<proxy>/<scenario>/<step>.json and then reports;
// report only reads captures already there, for working on the known-differences file
// without a lab.
//
// Exit status: 0 every difference known and no stale entry; 1 a NEW difference or a stale
// entry; 2 a step could not be compared (a delete step that left the node off its baseline
// is one), or the run could not start.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/differential"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/differential/labrun"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags say.
type config struct {
	command   string
	kubeProxy string
	out       string
	known     string
	scenarios []string
	sides     []string
	ipvsdump  string
	quiet     time.Duration
	timeout   time.Duration
}

// Sides of a run: upstream kube-proxy, and the reference proxier.
const (
	sideUpstream  = "upstream"
	sideReference = "reference"
)

func parseArgs(args []string, stderr io.Writer) (config, error) {
	if len(args) == 0 || (args[0] != "run" && args[0] != "report") {
		return config{}, errors.New("expected a command: run (lab clusters, then the report) or report (from captures already in -out)")
	}
	c := config{command: args[0]}
	fs := flag.NewFlagSet("ipvs-diff "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.kubeProxy, "kube-proxy", lab.DefaultVersion, "upstream kube-proxy release compared with the reference proxier")
	fs.StringVar(&c.out, "out", "", "directory for captures and reports (default artifacts/diff-<kube-proxy> in the checkout)")
	fs.StringVar(&c.known, "known", cluster.CheckoutPath("hack", "report", "differential", "known-differences.yaml"), "known-differences file")
	scen := fs.String("scenarios", "", "comma-separated scenarios to run (default all: "+strings.Join(labrun.Names(labrun.Scenarios()), ",")+")")
	sides := fs.String("sides", sideUpstream+","+sideReference, "run: which sides to run; the other side's captures are read from -out")
	fs.StringVar(&c.ipvsdump, "ipvsdump", cluster.CheckoutPath("bin", "ipvsdump"), "static linux ipvsdump binary copied into the node (make lab-cluster-binaries)")
	fs.DurationVar(&c.quiet, "quiet", 0, "how long the proxy's sync metrics and the node's state must hold still to settle a step no fresh sync shows settled (default 6s)")
	fs.DurationVar(&c.timeout, "timeout", 0, "bound of each wait in a step (default 3m)")
	if err := fs.Parse(args[1:]); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.kubeProxy == lab.Reference || !strings.HasPrefix(c.kubeProxy, "v") {
		return config{}, fmt.Errorf("-kube-proxy %q: expected an upstream release such as %s (the reference proxier is always the other side)", c.kubeProxy, lab.DefaultVersion)
	}
	if c.out == "" {
		c.out = cluster.CheckoutPath("artifacts", "diff-"+c.kubeProxy)
	}
	c.scenarios = splitList(*scen)
	c.sides = splitList(*sides)
	for _, s := range c.sides {
		if s != sideUpstream && s != sideReference {
			return config{}, fmt.Errorf("-sides %q: expected %s and/or %s", *sides, sideUpstream, sideReference)
		}
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	c, err := parseArgs(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ipvs-diff: %v\n", err)
		return differential.ExitIncomplete
	}
	scenarios, err := labrun.Select(labrun.Scenarios(), c.scenarios)
	if err != nil {
		fmt.Fprintf(stderr, "ipvs-diff: %v\n", err)
		return differential.ExitIncomplete
	}
	known, err := differential.LoadKnown(c.known)
	if err == nil {
		all := labrun.Scenarios()
		err = known.CheckScenarios(append(labrun.Names(all), labrun.StepIDs(all)...))
	}
	if err != nil {
		fmt.Fprintf(stderr, "ipvs-diff: known differences: %v\n", err)
		return differential.ExitIncomplete
	}
	if c.command == "run" {
		start := time.Now()
		for _, side := range c.sides {
			proxy := c.kubeProxy
			if side == sideReference {
				proxy = lab.Reference
			}
			if err := capture(ctx, c, proxy, scenarios); err != nil {
				slog.Error("ipvs-diff: run", "proxy", proxy, "err", err)
			}
			if ctx.Err() != nil {
				fmt.Fprintf(stderr, "ipvs-diff: interrupted\n")
				return differential.ExitIncomplete
			}
		}
		slog.Info("ipvs-diff: captures done", "took", time.Since(start).Round(time.Second), "dir", c.out)
	}
	rep, err := report(c, scenarios, known)
	if err != nil {
		fmt.Fprintf(stderr, "ipvs-diff: %v\n", err)
		return differential.ExitIncomplete
	}
	if err := rep.Format(stdout); err != nil {
		fmt.Fprintf(stderr, "ipvs-diff: %v\n", err)
		return differential.ExitIncomplete
	}
	fmt.Fprintf(stdout, "report, captures and full diffs: %s\n", c.out)
	return rep.ExitCode()
}

// capture runs one side and writes its captures as they come, with a readable text of
// each state beside the JSON.
func capture(ctx context.Context, c config, proxy string, scenarios []labrun.Scenario) error {
	var werr error
	write := func(cp differential.Capture) {
		if err := differential.WriteCapture(c.out, cp); err != nil {
			werr = errors.Join(werr, err)
			return
		}
		txt := strings.TrimSuffix(differential.CaptureFile(c.out, cp.Proxy, cp.Scenario), ".json") + ".txt"
		werr = errors.Join(werr, os.WriteFile(txt, []byte(differential.StateText(cp.State)), 0o644))
	}
	captures, err := labrun.Run(ctx, labrun.Options{
		KubeProxy: proxy, Scenarios: scenarios, IPVSDump: c.ipvsdump,
		Quiet: c.quiet, Timeout: c.timeout, OnCapture: write,
		OnProxyLog: func(log string) {
			werr = errors.Join(werr, os.WriteFile(filepath.Join(c.out, proxy, "proxy.log"), []byte(log), 0o644))
		},
	})
	if err != nil && len(captures) > 0 && captures[0].Error != "" {
		// The cluster never came up: record why for every scenario.
		for _, cp := range captures {
			write(cp)
		}
	}
	return errors.Join(err, werr)
}

// report compares the captures under c.out and writes report.txt, report.json and one
// full diff per step (diff/<scenario>/<step>.txt).
func report(c config, scenarios []labrun.Scenario, known *differential.Known) (differential.Report, error) {
	var results []differential.ScenarioResult
	for _, id := range labrun.StepIDs(scenarios) {
		results = append(results, compareStep(c.out, c.kubeProxy, id, known))
	}
	rep := differential.NewReport("upstream kube-proxy "+c.kubeProxy, "the reference proxier", known, results)
	if err := writeReport(c.out, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// compareStep compares the two sides' captures of one step ("seed/change").
func compareStep(dir, kubeProxy, step string, known *differential.Known) differential.ScenarioResult {
	want, werr := differential.ReadCapture(differential.CaptureFile(dir, kubeProxy, step))
	got, gerr := differential.ReadCapture(differential.CaptureFile(dir, lab.Reference, step))
	if err := errors.Join(werr, gerr); err != nil {
		return differential.ScenarioResult{Scenario: step, Error: "no capture to compare (run `ipvs-diff run` first): " + err.Error()}
	}
	return differential.Compare(step, want, got, known)
}

func writeReport(dir string, rep differential.Report) error {
	if err := os.MkdirAll(filepath.Join(dir, "diff"), 0o755); err != nil {
		return err
	}
	var txt strings.Builder
	if err := rep.Format(&txt); err != nil {
		return err
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	errs := []error{
		os.WriteFile(filepath.Join(dir, "report.txt"), []byte(txt.String()), 0o644),
		os.WriteFile(filepath.Join(dir, "report.json"), append(data, '\n'), 0o644),
	}
	for _, s := range rep.Scenarios {
		body := s.Diff
		if s.Error != "" {
			body = "not compared: " + s.Error + "\n"
		} else if body == "" {
			body = "identical\n"
		}
		path := filepath.Join(dir, "diff", s.Scenario+".txt")
		errs = append(errs, os.MkdirAll(filepath.Dir(path), 0o755), os.WriteFile(path, []byte(body), 0o644))
	}
	return errors.Join(errs...)
}
