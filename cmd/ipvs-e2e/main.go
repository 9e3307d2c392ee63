// Command ipvs-e2e is the project's tool binary: the kernel lab, the seed walk, the
// differential report, benchmarks, upstream builds, lab captures, the e2e preflight and the
// node inspector's and the reference proxier's images, each a subcommand
// (cmd/ipvs-e2e/internal/root). `ipvs-e2e --help` lists them.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/root"
)

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	// Ctrl-C cancels the context: the lab stops QEMU by its PID, a build its go command, a
	// lab cluster its control plane.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Execute(ctx, root.NewCommand(), os.Args[1:], os.Stdout, os.Stderr))
}
