package labcmd

import (
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/gotest"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
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
	start := time.Now()

	var suite *gotest.Suite
	l, err := kernellab.PrepareWhile(ctx, kernellab.Options{}, func() (err error) {
		suite, err = gotest.BuildSuite(ctx, ".", gotest.BuildOptions{Patterns: patterns, Run: f.run, All: f.all, Timeout: f.timeout})
		return err
	})
	if suite != nil {
		for _, p := range suite.Skipped {
			fmt.Fprintf(stdout, "?   \t%s\t[no lab tests]\n", p)
		}
		defer func() { suite.Finish(err != nil) }()
	}
	if err != nil {
		return err
	}

	rep, err := suite.Run(ctx, l, gotest.RunOptions{Env: f.env, Files: extra, Timeout: f.timeout, MemoryMiB: f.mem}, stdout, stderr)
	if rep == nil {
		return fmt.Errorf("test: %w", err)
	}
	fmt.Fprintf(stderr, "lab: %d passed, %d failed, %d skipped\n", rep.Passed, rep.Failed, rep.Skipped)
	if res := rep.Guest; res != nil {
		fmt.Fprintf(stderr, "%s: %d package(s) in one guest: boot %s, guest run %s, total %s\n", cmd.CommandPath(), rep.Packages,
			res.Boot.Round(10*time.Millisecond), res.Elapsed.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
	}
	if err != nil {
		return err
	}
	if rep.FailedPackages > 0 {
		fmt.Fprintln(stdout, "FAIL")
		return cli.Exit(cli.ExitFailed)
	}
	return nil
}

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

// checkEnv checks one --env value: the guest's job file sets it as a shell variable, so the
// key must be a shell name.
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
