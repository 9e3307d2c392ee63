package labcmd

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

type runFlags struct {
	timeout time.Duration
	mem     int
}

func newRunCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] [--] BIN [ARGS...]",
		Short: "Run one static binary in a guest and exit with its status",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("expected a static binary to run in the guest")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBinary(cmd, f, args[0], args[1:])
		},
	}
	// Flags after BIN are the binary's.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().DurationVar(&f.timeout, "timeout", kernellab.DefaultTimeout, "bound for the whole run, boot included")
	cmd.Flags().IntVar(&f.mem, "mem", 0, "guest memory in MiB (0: sized from the binary)")
	return cmd
}

func runBinary(cmd *cobra.Command, f runFlags, bin string, args []string) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	guest := "/lab/bin/" + filepath.Base(bin)
	l, err := kernellab.Prepare(ctx, kernellab.Options{})
	if err != nil {
		return err
	}
	res, err := l.Run(ctx, kernellab.Job{
		Name:      filepath.Base(bin),
		Files:     []kernellab.File{{Path: guest, Source: bin, Mode: 0o755}},
		Commands:  []kernellab.Command{{Args: append([]string{guest}, args...)}},
		Timeout:   f.timeout,
		MemoryMiB: f.mem,
		Stream:    stdout,
	})
	if err != nil {
		return err
	}
	c := res.Commands[0]
	fmt.Fprintf(stderr, "%s: %s exited %d in %s (guest boot %s, total %s)\n", cmd.CommandPath(), c.Name, c.ExitCode,
		c.Duration.Round(time.Millisecond), res.Boot.Round(10*time.Millisecond), res.Elapsed.Round(10*time.Millisecond))
	if c.ExitCode != 0 {
		return cli.Exit(c.ExitCode)
	}
	return nil
}
