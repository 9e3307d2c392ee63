package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

func prepareCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("prepare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	refresh := fs.Bool("refresh", false, "rebuild the base initramfs even if a cached one matches")
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	l, err := kernellab.Prepare(ctx, kernellab.Options{Refresh: *refresh})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "kernel %s\n  %s\n  %s (%d modules, %d binaries)\n", l.KernelVersion, l.Kernel, filepath.Base(l.Initramfs), l.Modules, l.Binaries)
	return nil
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", kernellab.DefaultTimeout, "bound for the whole run, boot included")
	mem := fs.Int("mem", 0, "guest memory in MiB (0: sized from the binary)")
	if err := fs.Parse(args); err != nil {
		return exitError{2}
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("run: expected a static binary to run in the guest")
	}
	bin := fs.Arg(0)
	guest := "/lab/bin/" + filepath.Base(bin)
	l, err := kernellab.Prepare(ctx, kernellab.Options{})
	if err != nil {
		return err
	}
	res, err := l.Run(ctx, kernellab.Job{
		Name:      filepath.Base(bin),
		Files:     []kernellab.File{{Path: guest, Source: bin, Mode: 0o755}},
		Commands:  []kernellab.Command{{Args: append([]string{guest}, fs.Args()[1:]...)}},
		Timeout:   *timeout,
		MemoryMiB: *mem,
		Stream:    stdout,
	})
	if err != nil {
		return err
	}
	c := res.Commands[0]
	fmt.Fprintf(stderr, "ipvs-lab: %s exited %d in %s (guest boot %s, total %s)\n", c.Name, c.ExitCode,
		c.Duration.Round(time.Millisecond), res.Boot.Round(10*time.Millisecond), res.Elapsed.Round(10*time.Millisecond))
	if c.ExitCode != 0 {
		return exitError{c.ExitCode}
	}
	return nil
}
