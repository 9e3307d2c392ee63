// Command ipvs-upstream builds upstream Kubernetes binaries of a served release from the Go
// module proxy (hack/lab/upstream) and runs a real control plane on 127.0.0.1 with them
// (hack/lab/controlplane), for people poking at the lab cluster by hand.
//
//	ipvs-upstream versions                        served releases, and which are built
//	ipvs-upstream build [-version v1.37.2] [-components a,b]
//	ipvs-upstream controlplane up [-version v1.37.2] [-detach]
//	ipvs-upstream controlplane down
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  ipvs-upstream versions
  ipvs-upstream build [-version V] [-components a,b,...] [-p N]
  ipvs-upstream controlplane up [-version V] [-run-dir DIR] [-detach]
  ipvs-upstream controlplane down [-run-dir DIR]

Environment: CACHE_DIR (cache root, default $HOME/.cache/ipvs-e2e). Binaries are cached in
$CACHE_DIR/upstream/<version>/bin; the control plane's run folder defaults to
$CACHE_DIR/controlplane.
`

// DefaultVersion is the release the lab cluster uses unless told otherwise.
const DefaultVersion = "v1.37.2"

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	// Ctrl-C cancels the context: a build stops its go command, a foreground control plane
	// stops its processes by their PIDs.
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
	case "versions":
		err = versionsCmd(ctx, args[1:], stdout, stderr)
	case "build":
		err = buildCmd(ctx, args[1:], stdout, stderr)
	case "controlplane":
		err = controlPlaneCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ipvs-upstream: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		fmt.Fprintf(stderr, "ipvs-upstream: %v\n", err)
		return 1
	}
	return 0
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ipvs-upstream "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
