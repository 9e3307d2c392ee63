package gotest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
)

// Suite is the tests of a set of packages built to run in one guest: their binaries and
// testdata in a run directory, and one guest command per package.
type Suite struct {
	// Skipped are the packages, named on purpose, that have no lab tests to run.
	Skipped []string

	patterns []string
	run      *rundir.Dir
	files    []kernellab.File
	cmds     []kernellab.Command
}

// RunOptions are what a suite's run adds to the suite.
type RunOptions struct {
	// Env adds KEY=VALUE variables to every test binary.
	Env []string
	// Files go into the guest beside the suite's own, outside /lab/tests and /src.
	Files []kernellab.File
	// Timeout bounds the guest run, boot included; MemoryMiB is the guest's memory (zero
	// sizes it from the files).
	Timeout   time.Duration
	MemoryMiB int
}

// Report is what a suite's run gave.
type Report struct {
	// Passed, Failed and Skipped count the tests of all packages, as Summary does.
	Passed, Failed, Skipped int
	// Packages counts the packages run; FailedPackages those that failed or did not finish.
	Packages, FailedPackages int
	// Guest is the guest's result; nil when the guest did not run.
	Guest *kernellab.Result
}

// Run runs the suite in one guest of l. It writes the binaries' -test.v output to stdout as
// it arrives, each package followed by the verdict line `go test` prints, and to stderr why
// a package's output could not be read. The error is the guest run's (see kernellab's
// Lab.Run), with the Report of what ran; failed tests are counted in the Report, not an
// error. A suite without a package to run is an error without a Report.
func (s *Suite) Run(ctx context.Context, l *kernellab.Lab, o RunOptions, stdout, stderr io.Writer) (*Report, error) {
	if len(s.cmds) == 0 {
		return nil, fmt.Errorf("no package among %s has lab tests (tests in files built with the lab tag); nothing ran", strings.Join(s.patterns, " "))
	}
	cmds := slices.Clone(s.cmds)
	for i := range cmds {
		cmds[i].Env = append(slices.Clip(cmds[i].Env), o.Env...)
	}
	out := &lineWriter{w: stdout}
	rep := &Report{Packages: len(cmds)}
	res, err := l.Run(ctx, kernellab.Job{
		Name:      "go tests",
		Dir:       filepath.Join(s.run.Path, "guest"),
		Files:     append(slices.Clip(s.files), o.Files...),
		Commands:  cmds,
		Timeout:   o.Timeout,
		MemoryMiB: o.MemoryMiB,
		Stream:    out,
		OnDone:    func(c kernellab.CommandResult) { rep.judge(ctx, c, out, stderr) },
	})
	out.endLine()
	rep.Guest = res
	rep.unfinished(out)
	return rep, err
}

// judge counts the tests of a package whose binary ended and prints its verdict line.
func (r *Report) judge(ctx context.Context, c kernellab.CommandResult, out *lineWriter, stderr io.Writer) {
	sum, err := Summarize(ctx, c.Name, c.Output)
	if err != nil {
		fmt.Fprintln(stderr, err)
	}
	ok := err == nil && sum.OK(c.ExitCode)
	if !ok {
		r.FailedPackages++
	}
	r.Passed, r.Failed, r.Skipped = r.Passed+sum.Passed, r.Failed+sum.Failed, r.Skipped+sum.Skipped
	out.endLine()
	fmt.Fprintln(out, Verdict(c.Name, ok, sum, c.Duration))
}

// unfinished fails, with their verdict lines, the packages the guest cut short or never
// started: go test prints FAIL for these too.
func (r *Report) unfinished(out io.Writer) {
	if r.Guest == nil {
		return
	}
	for _, c := range r.Guest.Commands {
		if !c.Finished {
			r.FailedPackages++
			fmt.Fprintln(out, Verdict(c.Name, false, Summary{}, c.Duration))
		}
	}
}

// Finish removes the suite's run directory after a passing run. After a failing one it keeps
// the guest's console and results and says where, without the test binaries and the initrd,
// which any rerun builds again.
func (s *Suite) Finish(failed bool) {
	if !failed {
		if err := s.run.Remove(); err != nil {
			slog.Warn("lab: run directory not removed", "err", err)
		}
		return
	}
	dir := s.run.Path
	for _, f := range s.files {
		if strings.HasPrefix(f.Source, dir+string(filepath.Separator)) {
			os.Remove(f.Source)
		}
	}
	os.Remove(filepath.Join(dir, "guest", "initrd.img"))
	if err := s.run.Keep(); err != nil {
		slog.Warn("lab: could not mark the run directory kept", "err", err)
	}
	slog.Info("lab: run directory kept for inspection (guest/console.log, guest/results.log)", "dir", dir)
}

// lineWriter remembers whether the last byte written ended a line, so verdicts start one.
type lineWriter struct {
	w       io.Writer
	midLine bool
}

func (l *lineWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		l.midLine = p[len(p)-1] != '\n'
	}
	return l.w.Write(p)
}

func (l *lineWriter) endLine() {
	if l.midLine {
		l.Write([]byte("\n"))
	}
}
