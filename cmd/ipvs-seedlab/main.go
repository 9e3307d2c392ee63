// Command ipvs-seedlab runs the seed tutorial and the proxier's scale in the kernel lab:
//
//	ipvs-seedlab [walk]     the seed tutorial's sections 2 to 4.1 on the lab cluster (real
//	                        control plane on 127.0.0.1, upstream kube-proxy or the reference
//	                        proxier in the lab guest; hack/report/seedwalk): each step printed
//	                        as typed with its real output and time, then a PASS/FAIL verdict
//	                        per assertion (make lab)
//	ipvs-seedlab bench      the reference proxier's full sync of N Services x 2 endpoints
//	                        and a one-endpoint change, in the lab guest (make bench-lab)
//
// Exit status: 0 when every check passed, 1 when one failed or the run did not complete,
// 97 when the lab could not be set up (no IPVS in the guest), 2 for usage errors, 130 on
// Ctrl-C, which stops QEMU (by its PID) and the control plane first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	clusterlab "github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/scenario"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/seedwalk"
)

const usage = `usage:
  ipvs-seedlab [walk] [-kube-proxy v1.37.2|reference] [-method configmap|creation] [-save DIR]
  ipvs-seedlab bench [-n 100,1000] [-large] [-changes K] [-out DIR] [-timeout D]

Environment: CACHE_DIR (cache root, default $HOME/.cache/ipvs-e2e), IPVS_E2E_LAB_ACCEL,
IPVS_E2E_LAB_NODEAGENT and IPVS_E2E_LAB_PROXIER (walk: the guest binaries, default bin/),
IPVS_E2E_LAB_KEEP=1 (see hack/lab/kernellab), BENCH_LARGE=1 (bench: add 10,000 Services).
`

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "walk"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "walk":
		err = walkCmd(ctx, args, stdout, stderr)
	case "bench":
		err = benchCmd(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ipvs-seedlab: unknown command %q\n%s", cmd, usage)
		return 2
	}
	var (
		ee exitError
		se *kernellab.SetupError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &se):
		fmt.Fprintf(stderr, "ipvs-seedlab: %v\n", err)
		return kernellab.ExitNoIPVS
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "ipvs-seedlab: interrupted: %v\n", err)
		return 130
	default:
		fmt.Fprintf(stderr, "ipvs-seedlab: %v\n", err)
		return 1
	}
}

// prepare readies the lab and builds the guest program at the same time: one is mostly
// downloads and cache checks, the other CPU.
func prepare(ctx context.Context) (*kernellab.Lab, string, error) {
	type built struct {
		path string
		err  error
	}
	ch := make(chan built, 1)
	go func() {
		p, err := scenario.BuildGuest(ctx, scenario.DefaultBinDir(), nil)
		ch <- built{p, err}
	}()
	start := time.Now()
	l, err := kernellab.Prepare(ctx, kernellab.Options{})
	if err == nil {
		slog.Info("ipvs-seedlab: lab prepared", "kernel", l.KernelVersion, "elapsed", time.Since(start).Round(10*time.Millisecond))
	}
	b := <-ch
	if err := errors.Join(err, b.err); err != nil {
		return nil, "", err
	}
	return l, b.path, nil
}

func walkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("walk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeProxy := fs.String("kube-proxy", clusterlab.DefaultVersion, "upstream release run as kube-proxy and control plane, or \"reference\" (the reference proxier)")
	method := fs.String("method", "", "how kube-proxy gets to ipvs: configmap (the seed's method 2; default for upstream) or creation (method 1; default and only choice for reference)")
	save := fs.String("save", "", "write the walk's record (facts and each step's output) to this folder")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return exitError{2}
	}
	opts := seedwalk.Options{KubeProxy: *kubeProxy, Method: *method, Out: stdout}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(stderr, "ipvs-seedlab walk: %v\n", err)
		return exitError{2}
	}
	rep, err := seedwalk.Walk(ctx, opts)
	if rep == nil {
		return err
	}
	if err != nil {
		// The walk stopped part way (Ctrl-C, a lost node): judge what it showed, then fail.
		fmt.Fprintf(stdout, "\nlab: the walk stopped: %v\n", err)
	}
	if *save != "" {
		if serr := rep.Record.Save(*save); serr != nil {
			return errors.Join(err, serr)
		}
	}
	ok := false
	if ctx.Err() == nil {
		ok = tutorial.Print(stdout, seedwalk.Judge(rep.Record))
	}
	t := rep.Timings
	fmt.Fprintf(stdout, "\ntimes: upstream binaries %s, cluster creation %s, the seed's steps %s, teardown %s; %s in all (kube-proxy %s, method %s)\n",
		seedwalk.FormatElapsed(t.Binaries), seedwalk.FormatElapsed(t.Create), seedwalk.FormatElapsed(t.Steps),
		seedwalk.FormatElapsed(t.Delete), seedwalk.FormatElapsed(t.Total), rep.Record.Facts.KubeProxy, rep.Record.Facts.Method)
	if err != nil {
		return err
	}
	if !ok {
		return exitError{1}
	}
	return nil
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("n", "100,1000", "Service counts, comma-separated")
	large := fs.Bool("large", os.Getenv("BENCH_LARGE") == "1", "add 10,000 Services (slow under TCG; default from BENCH_LARGE=1)")
	changes := fs.Int("changes", 3, "single-endpoint changes timed at each size")
	out := fs.String("out", "_out/bench", "folder for the table, the results and the CPU profile")
	timeout := fs.Duration("timeout", 0, "bound for the guest run (0: sized from the Service counts)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return exitError{2}
	}
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "ipvs-seedlab bench: -n %q: expected positive Service counts separated by commas\n", *sizes)
			return exitError{2}
		}
		ns = append(ns, n)
	}
	if *large {
		ns = append(ns, 10000)
	}
	l, bin, err := prepare(ctx)
	if err != nil {
		return err
	}
	rep, err := scenario.RunBench(ctx, l, scenario.BenchOptions{
		GuestBinary: bin, Services: ns, Changes: *changes, OutDir: *out, Timeout: *timeout, Log: stdout,
	})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Table())
	fmt.Fprintf(stdout, "\nwritten: %s\n", strings.Join(rep.Files, ", "))
	return nil
}
