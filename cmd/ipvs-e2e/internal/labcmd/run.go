package labcmd

import (
	"fmt"
	"os"
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
	fs.IntVar(&f.mem, "mem", 0, fmt.Sprintf("guest memory in MiB, %d to %d (0: sized from %s)", minMemMiB, maxMemMiB, sizedFrom))
}

// The guest's memory bounds: below 512 MiB Debian's kernel and the lab's initramfs do not
// boot; QEMU under TCG gains nothing from more than 16 GiB on the machines the lab runs on.
const (
	minMemMiB = 512
	maxMemMiB = 16384
)

// check refuses values the guest cannot run with, before anything is prepared.
func (f *guestFlags) check() error {
	if f.timeout <= 0 {
		return cli.Usagef("--timeout %s: expected a positive duration such as 10m", f.timeout)
	}
	if f.mem != 0 && (f.mem < minMemMiB || f.mem > maxMemMiB) {
		return cli.Usagef("--mem %d: expected 0 (sized from what the guest runs) or %d to %d MiB", f.mem, minMemMiB, maxMemMiB)
	}
	return nil
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
			return checkBinary(args[0])
		},
	}, &runFlags{})
}

func (f *runFlags) Bind(fs *pflag.FlagSet) {
	// Flags after BIN are the binary's.
	fs.SetInterspersed(false)
	f.bind(fs, kernellab.DefaultTimeout, "the binary")
}

// checkBinary refuses a BIN the guest could not run, before the lab is prepared.
func checkBinary(bin string) error {
	fi, err := os.Stat(bin)
	switch {
	case err != nil:
		return cli.Usagef("binary to run: %v; expected a static linux binary (build one with CGO_ENABLED=0 go build)", err)
	case fi.IsDir():
		return cli.Usagef("binary to run: %s is a directory; expected a static linux binary", bin)
	case !fi.Mode().IsRegular():
		return cli.Usagef("binary to run: %s is not a regular file (mode %s); expected a static linux binary", bin, fi.Mode())
	case fi.Mode().Perm()&0o111 == 0:
		return cli.Usagef("binary to run: %s is not executable (mode %s); chmod +x it", bin, fi.Mode().Perm())
	}
	return nil
}

// Run runs args[0] in a guest with the rest of args as its arguments.
func (f *runFlags) Run(cmd *cobra.Command, args []string) error {
	if err := f.check(); err != nil {
		return err
	}
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
