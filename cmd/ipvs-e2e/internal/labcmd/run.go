package labcmd

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

// guestFlags bound a guest run; run and test share them.
type guestFlags struct {
	timeout time.Duration
	mem     int
}

// bind registers --timeout, defaulting to timeout, and --mem, whose default sizes the guest
// from what sizedFrom names.
func (f *guestFlags) bind(fs *pflag.FlagSet, timeout time.Duration, sizedFrom string) {
	fs.DurationVar(&f.timeout, "timeout", timeout, "bound for the whole guest run, boot included")
	fs.IntVar(&f.mem, "mem", 0, "guest memory in MiB (0: sized from "+sizedFrom+")")
}

type runFlags struct {
	guestFlags
}

func newRunCommand() *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "run [flags] [--] BIN [ARGS...]",
		Short: "Run one static binary in a guest and exit with its status",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cli.Usagef("expected a static binary to run in the guest")
			}
			return nil
		},
	}, &runFlags{})
}

func (f *runFlags) Bind(fs *pflag.FlagSet) {
	// Flags after BIN are the binary's.
	fs.SetInterspersed(false)
	f.bind(fs, kernellab.DefaultTimeout, "the binary")
}

// Run runs args[0] in a guest with the rest of args as its arguments.
func (f *runFlags) Run(cmd *cobra.Command, args []string) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	bin, args := args[0], args[1:]
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
