// Command ipvs-lab runs code against a real IPVS kernel on machines whose own kernel has none:
// it boots Debian's cloud kernel under QEMU (hack/lab/kernellab) and runs static binaries or Go
// test binaries inside.
//
//	ipvs-lab prepare                 fetch and cache the kernel, tools and base initramfs
//	ipvs-lab run [--] BIN [ARGS...]  run one static binary in a guest; exit with its status
//	ipvs-lab test [flags] [PKG...]   build the packages' tests, run them all in one guest
//
// Exit status: 0 when everything passed, the binary's status for `run`, 1 for failed tests or
// a guest that did not finish, 97 when the guest could not be set up (above all: its kernel
// has no /proc/net/ip_vs), 2 for usage errors.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

const usage = `usage:
  ipvs-lab prepare [-refresh]
  ipvs-lab run [-timeout D] [-mem MiB] [--] BIN [ARGS...]
  ipvs-lab test [-run REGEXP] [-all] [-timeout D] [-mem MiB] [-v] [PKG...]

Environment: CACHE_DIR (cache root, default $HOME/.cache/ipvs-e2e), IPVS_E2E_LAB_ACCEL
(QEMU -accel, default tcg,thread=multi), IPVS_E2E_LAB_KEEP=1 (keep each run's folder).
`

// exitError carries the process exit code out of a subcommand.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	// Ctrl-C cancels the context; the lab then stops QEMU by its PID.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "prepare":
		err = prepareCmd(ctx, args[1:], stderr)
	case "run":
		err = runCmd(ctx, args[1:], stdout, stderr)
	case "test":
		err = testCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ipvs-lab: unknown command %q\n%s", args[0], usage)
		return 2
	}
	return exitCode(err, stderr)
}

// exitCode maps a subcommand's error to the process status (see the package comment).
func exitCode(err error, stderr io.Writer) int {
	var (
		ee exitError
		se *kernellab.SetupError
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &se): // a lab without IPVS is broken, not "tests failed"
		fmt.Fprintf(stderr, "ipvs-lab: %v\n", err)
		return kernellab.ExitNoIPVS
	default:
		fmt.Fprintf(stderr, "ipvs-lab: %v\n", err)
		return 1
	}
}
