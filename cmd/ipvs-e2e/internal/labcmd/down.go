package labcmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
)

// downFlags is `lab down`: it stops the cluster `lab up` left running.
type downFlags struct {
	timeout   time.Duration
	stateFile string
}

func (f *downFlags) Bind(fs *pflag.FlagSet) {
	fs.DurationVar(&f.timeout, "timeout", 3*time.Minute, "bound for the cluster's teardown")
	fs.StringVar(&f.stateFile, "state-file", defaultStateFile(), "where lab up recorded the running cluster")
}

func (f *downFlags) Run(cmd *cobra.Command, _ []string) error {
	if f.timeout <= 0 {
		return cli.Usagef("--timeout %s: expected a positive duration such as 3m", f.timeout)
	}
	out := cmd.OutOrStdout()
	gone, err := removeStale(f.stateFile)
	var running *errRunning
	switch {
	case errors.As(err, &running):
	case err != nil:
		return err
	case gone != nil:
		fmt.Fprintf(out, "no lab cluster is running: the state file %s named pid %d, which is gone (killed?); removed the file. `ipvs-e2e lab clean` removes what it left (run directory %s)\n",
			f.stateFile, gone.Owner.PID, gone.RunDir)
		return nil
	default:
		fmt.Fprintf(out, "no lab cluster is running (no state file %s)\n", f.stateFile)
		return nil
	}
	st := running.state
	start := time.Now()
	// What the holder runs, to tell afterwards that each is stopped.
	children := map[string]rundir.Process{}
	if st.ClusterDir != "" {
		children = rundir.Recorded(st.ClusterDir)
	}
	if err := stopOwner(cmd.Context(), st, f.timeout); err != nil {
		return err
	}
	var stopped, still []string
	for _, name := range slices.Sorted(maps.Keys(children)) {
		c := children[name]
		if c.Running() {
			still = append(still, fmt.Sprintf("%s (pid %d)", name, c.PID))
		} else {
			stopped = append(stopped, fmt.Sprintf("%s (pid %d)", name, c.PID))
		}
	}
	if len(still) > 0 {
		return fmt.Errorf("pid %d exited, but %s still run; `ipvs-e2e lab clean` stops them (its log: %s)", st.Owner.PID, strings.Join(still, ", "), st.Log)
	}
	left := ""
	if _, err := os.Stat(st.RunDir); !errors.Is(err, fs.ErrNotExist) {
		left = fmt.Sprintf("; its run directory %s is still there (kept after a failed teardown: see lab-up.log in it, then `ipvs-e2e lab clean --kept`)", st.RunDir)
	}
	what := "no recorded processes"
	if len(stopped) > 0 {
		what = "stopped " + strings.Join(stopped, ", ")
	}
	fmt.Fprintf(out, "lab cluster stopped in %s: pid %d tore it down (%s)%s\n",
		time.Since(start).Round(100*time.Millisecond), st.Owner.PID, what, left)
	return nil
}

// stopOwner sends SIGTERM to the lab-up process (by its PID, checked against its start
// time) and waits until it has exited, which it does after deleting the cluster.
func stopOwner(ctx context.Context, st *upState, timeout time.Duration) error {
	pid := st.Owner.PID
	slog.Info("lab down: stopping the lab cluster", "pid", pid, "runDir", st.RunDir)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGTERM to pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(timeout)
	next := time.Now().Add(10 * time.Second)
	for st.Owner.Running() {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d still running %s after SIGTERM; its log %s tells why. `kill -9 %d` then `ipvs-e2e lab clean` removes what it leaves", pid, timeout, st.Log, pid)
		}
		if time.Now().After(next) {
			slog.Info("lab down: still tearing down", "pid", pid, "waited", time.Since(deadline.Add(-timeout)).Round(time.Second))
			next = next.Add(10 * time.Second)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted while pid %d tears the cluster down (it goes on; run lab down again to wait): %w", pid, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}
