// Package scenariocmd is `ipvs-e2e bench lab`: hack/lab/scenario's guest program on a bare lab
// node, with no upstream binaries, measuring the reference proxier's full sync and a
// one-endpoint change (make bench-lab).
//
// Exit status: 0 when every check passed, 1 when one failed or the run did not complete,
// 97 when the lab could not be set up (no IPVS in the guest), 2 for usage errors, 130 on
// Ctrl-C, which stops QEMU (by its PID) first.
package scenariocmd

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/scenario"
)

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
		slog.Info("lab prepared", "kernel", l.KernelVersion, "elapsed", time.Since(start).Round(10*time.Millisecond))
	}
	b := <-ch
	if err := errors.Join(err, b.err); err != nil {
		return nil, "", err
	}
	return l, b.path, nil
}
