package labcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/gotest"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
)

type testFlags struct {
	guestFlags
	run   string
	all   bool
	env   []string
	files []string
}

func newTestCommand() *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "test [flags] [PKG...]",
		Short: "Build the packages' lab tests and run them all in one guest, reported like go test -v",
		Long: `Build the test binaries of the packages (default ./...), run them all in one guest and print
their results the way ` + "`go test -v`" + ` does, so tools that read go test output count them.
Without --run or --all only the lab tests run: the tests of files built with the lab tag.`,
		Args: cobra.ArbitraryArgs,
	}, &testFlags{})
}

func (f *testFlags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.run, "run", "", "run the tests matching this expression instead of the lab tests")
	fs.BoolVar(&f.all, "all", false, "run every test of the packages, not only the lab tests")
	f.bind(fs, 15*time.Minute, "the test binaries")
	fs.StringArrayVar(&f.env, "env", nil, "KEY=VALUE set for the tests in the guest (repeatable), e.g. a seed to replay")
	fs.StringArrayVar(&f.files, "file", nil, "HOST=GUEST: copy the host file to the absolute guest path (repeatable), e.g. an image a lab test unpacks")
}

// Run builds the test binaries of the packages, runs them all in one guest and prints their
// results the way `go test -v` does.
func (f *testFlags) Run(cmd *cobra.Command, patterns []string) (err error) {
	if err := f.check(); err != nil {
		return err
	}
	for _, v := range f.env {
		if err := checkEnv(v); err != nil {
			return &cli.UsageError{Err: err}
		}
	}
	extra, err := guestFiles(f.files)
	if err != nil {
		return err
	}
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	explicit := len(patterns) > 0
	if !explicit {
		patterns = []string{"./..."}
	}
	start := time.Now()

	var (
		jobs    testJobs
		skipped []string
	)
	l, err := cli.PrepareLab(ctx, func() (err error) {
		jobs, skipped, err = buildTests(ctx, patterns, explicit, f.run, f.all, f.timeout)
		return err
	})
	for _, p := range skipped {
		fmt.Fprintf(stdout, "?   \t%s\t[no lab tests]\n", p)
	}
	if jobs.run != nil {
		defer func() { jobs.finish(err != nil) }()
	}
	if err != nil {
		return err
	}
	for i := range jobs.cmds {
		jobs.cmds[i].Env = append(jobs.cmds[i].Env, f.env...)
	}
	jobs.files = append(jobs.files, extra...)
	if len(jobs.cmds) == 0 {
		return fmt.Errorf("test: no package among %s has lab tests (tests in files built with the lab tag); nothing ran", strings.Join(patterns, " "))
	}

	out := &lineWriter{w: stdout}
	var total gotest.Summary
	failed := 0
	res, runErr := l.Run(ctx, kernellab.Job{
		Name:      "go tests",
		Dir:       filepath.Join(jobs.dir, "guest"),
		Files:     jobs.files,
		Commands:  jobs.cmds,
		Timeout:   f.timeout,
		MemoryMiB: f.mem,
		Stream:    out,
		OnDone: func(c kernellab.CommandResult) {
			s, err := gotest.Summarize(ctx, c.Name, c.Output)
			if err != nil {
				fmt.Fprintln(stderr, err)
			}
			ok := err == nil && s.OK(c.ExitCode)
			if !ok {
				failed++
			}
			total.Passed, total.Failed, total.Skipped = total.Passed+s.Passed, total.Failed+s.Failed, total.Skipped+s.Skipped
			out.endLine()
			fmt.Fprintln(out, gotest.Verdict(c.Name, ok, s, c.Duration))
		},
	})
	out.endLine()
	if res != nil {
		for _, c := range res.Commands {
			if !c.Finished { // cut short or never started: go test prints FAIL for these too
				failed++
				fmt.Fprintln(out, gotest.Verdict(c.Name, false, gotest.Summary{}, c.Duration))
			}
		}
	}
	fmt.Fprintf(stderr, "lab: %d passed, %d failed, %d skipped\n", total.Passed, total.Failed, total.Skipped)
	if res != nil {
		fmt.Fprintf(stderr, "%s: %d package(s) in one guest: boot %s, guest run %s, total %s\n", cmd.CommandPath(), len(jobs.cmds),
			res.Boot.Round(10*time.Millisecond), res.Elapsed.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
	}
	if runErr != nil {
		return runErr
	}
	if failed > 0 {
		fmt.Fprintln(out, "FAIL")
		return cli.Exit(cli.ExitFailed)
	}
	return nil
}

type testJobs struct {
	dir   string
	run   *rundir.Dir
	files []kernellab.File
	cmds  []kernellab.Command
}

// finish removes the run directory after a passing run. After a failing one it keeps the
// guest's console and results and says where, without the test binaries and the initrd,
// which any rerun builds again.
func (j testJobs) finish(failed bool) {
	if !failed {
		if err := j.run.Remove(); err != nil {
			slog.Warn("lab: run directory not removed", "err", err)
		}
		return
	}
	for _, f := range j.files {
		if strings.HasPrefix(f.Source, j.dir+string(filepath.Separator)) {
			os.Remove(f.Source)
		}
	}
	os.Remove(filepath.Join(j.dir, "guest", "initrd.img"))
	if err := j.run.Keep(); err != nil {
		slog.Warn("lab: could not mark the run directory kept", "err", err)
	}
	slog.Info("lab: run directory kept for inspection (guest/console.log, guest/results.log)", "dir", j.dir)
}

// buildTests finds the packages, builds the test binaries of those with tests to run and
// lays out the guest: binaries under /lab/tests, each package's testdata under /src/<dir>,
// the working directory `go test` would give.
func buildTests(ctx context.Context, patterns []string, explicit bool, runRE string, all bool, timeout time.Duration) (testJobs, []string, error) {
	pkgs, err := gotest.Find(ctx, ".", patterns)
	if err != nil {
		return testJobs{}, nil, err
	}
	run, err := rundir.New("labtests")
	if err != nil {
		return testJobs{}, nil, err
	}
	dir := run.Path
	jobs := testJobs{dir: dir, run: run}
	var skipped []string
	// Leave the test binary time to print its own timeout report before QEMU is stopped.
	testTimeout := max(timeout-30*time.Second, timeout/2)
	for _, p := range pkgs {
		pattern := runRE
		switch {
		case pattern != "":
		case all:
			pattern = "."
		case len(p.Tests) > 0:
			pattern = p.RunPattern()
		default:
			if explicit {
				skipped = append(skipped, p.ImportPath)
			}
			continue
		}
		slog.Info("lab: building tests", "package", p.ImportPath)
		bin, err := gotest.Build(ctx, ".", p, dir)
		if err != nil {
			os.RemoveAll(dir)
			return testJobs{}, nil, err
		}
		guestBin := "/lab/tests/" + filepath.Base(bin)
		guestDir := "/src/" + p.ImportPath
		if rel, err := filepath.Rel(p.ModuleDir, p.Dir); err == nil && p.ModuleDir != "" && !strings.HasPrefix(rel, "..") {
			guestDir = path.Join("/src", filepath.ToSlash(rel))
		}
		jobs.files = append(jobs.files, kernellab.File{Path: guestBin, Source: bin, Mode: 0o755})
		td, err := testdataFiles(p.Dir, guestDir)
		if err != nil {
			os.RemoveAll(dir)
			return testJobs{}, nil, err
		}
		jobs.files = append(jobs.files, td...)
		jobs.cmds = append(jobs.cmds, kernellab.Command{
			Name: p.ImportPath,
			Args: []string{guestBin, "-test.v", "-test.count=1", "-test.run", pattern, "-test.timeout", testTimeout.String()},
			Dir:  guestDir,
		})
	}
	return jobs, skipped, nil
}

// testdataFiles copies a package's testdata folder, which tests read relative to the package.
func testdataFiles(pkgDir, guestDir string) ([]kernellab.File, error) {
	root := filepath.Join(pkgDir, "testdata")
	var files []kernellab.File
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return filepath.SkipDir
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(pkgDir, p)
		if err != nil {
			return err
		}
		files = append(files, kernellab.File{Path: path.Join(guestDir, filepath.ToSlash(rel)), Source: p})
		return nil
	})
	return files, err
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

// checkEnv checks one --env value: the guest's job file sets it as a shell variable, so the
// key must be a shell name.
// guestFiles reads --file values: a host regular file and an absolute guest path outside
// /lab/tests and /src, where the test binaries and their testdata go.
func guestFiles(values []string) ([]kernellab.File, error) {
	var out []kernellab.File
	for _, v := range values {
		i := strings.LastIndex(v, "=")
		if i <= 0 || i == len(v)-1 {
			return nil, cli.Usagef("--file %q: expected HOST=GUEST, such as $CACHE_DIR/images/ipvs-proxier-amd64.tar=/lab/images/ipvs-proxier-amd64.tar", v)
		}
		host, guest := v[:i], v[i+1:]
		if !path.IsAbs(guest) || path.Clean(guest) != guest || strings.HasPrefix(guest, "/lab/tests/") || strings.HasPrefix(guest, "/src/") {
			return nil, cli.Usagef("--file %q: guest path %q: expected a clean absolute path outside /lab/tests and /src", v, guest)
		}
		st, err := os.Stat(host)
		if err != nil {
			return nil, fmt.Errorf("--file %q: %w", v, err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("--file %q: %s is a %v, expected a regular file", v, host, st.Mode().Type())
		}
		out = append(out, kernellab.File{Path: guest, Source: host})
	}
	return out, nil
}

func checkEnv(v string) error {
	key, _, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("--env %q: expected KEY=VALUE", v)
	}
	for i, r := range key {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Errorf("--env %q: %q is not a variable name (letters, digits, _; not starting with a digit)", v, key)
		}
	}
	return nil
}
