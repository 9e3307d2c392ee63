// Package gotest finds the Go tests that need the kernel lab, builds their test binaries for
// the guest, runs them all in one guest (a Suite) and reports their results the way `go test`
// prints them.
//
// Lab tests live in test files built only with the lab tag (Tag; see hack/lab/labtest). A
// package's lab tests are the tests its test binary lists when built with the tag and not
// without it, as `go test -list` reports them: the go command decides, nothing here reads
// Go source. Host-only tests are not run in the guest: `make unit` ran them on the host
// already, and under TCG they would only cost time and trip over what a guest lacks
// (toolchain, source tree).
package gotest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
)

// Tag is the build tag of the test files whose tests need the kernel lab.
const Tag = "lab"

// Package is a Go package with its lab tests.
type Package struct {
	ImportPath string
	Dir        string
	// Module root directory and path, for placing the package in the guest.
	ModuleDir string
	// Tests are the names of the lab tests, sorted.
	Tests []string
}

// RunPattern gives the -test.run expression selecting exactly the lab tests.
func (p Package) RunPattern() string {
	q := make([]string, len(p.Tests))
	for i, t := range p.Tests {
		q[i] = regexp.QuoteMeta(t)
	}
	return "^(" + strings.Join(q, "|") + ")$"
}

// listed is the part of `go list -json` we read.
type listed struct {
	ImportPath   string
	Dir          string
	TestGoFiles  []string
	XTestGoFiles []string
	Module       *struct{ Path, Dir string }
	Error        *struct{ Err string }
}

// Find lists the packages matching patterns (run in dir) and their lab tests. Packages
// without lab tests are returned too, with no Tests, so callers can say so.
func Find(ctx context.Context, dir string, patterns []string) ([]Package, error) {
	host, err := list(ctx, dir, false, patterns)
	if err != nil {
		return nil, err
	}
	hostFiles := make(map[string][]string, len(host))
	for _, l := range host {
		hostFiles[l.ImportPath] = l.testFiles()
	}
	lab, err := list(ctx, dir, true, patterns)
	if err != nil {
		return nil, err
	}
	pkgs := make([]Package, 0, len(lab))
	var tagged []string // packages with test files only the lab build compiles
	for _, l := range lab {
		p := Package{ImportPath: l.ImportPath, Dir: l.Dir}
		if l.Module != nil {
			p.ModuleDir = l.Module.Dir
		}
		for _, f := range l.testFiles() {
			if !slices.Contains(hostFiles[l.ImportPath], f) {
				tagged = append(tagged, l.ImportPath)
				break
			}
		}
		pkgs = append(pkgs, p)
	}
	if len(tagged) == 0 {
		return pkgs, nil
	}
	labTests, err := listTests(ctx, dir, true, tagged)
	if err != nil {
		return nil, err
	}
	hostTests, err := listTests(ctx, dir, false, tagged)
	if err != nil {
		return nil, err
	}
	for i, p := range pkgs {
		for _, t := range labTests[p.ImportPath] {
			if !slices.Contains(hostTests[p.ImportPath], t) {
				pkgs[i].Tests = append(pkgs[i].Tests, t)
			}
		}
		slices.Sort(pkgs[i].Tests)
	}
	return pkgs, nil
}

func (l listed) testFiles() []string { return append(slices.Clone(l.TestGoFiles), l.XTestGoFiles...) }

// list runs `go list` over patterns, with the lab tag or without.
func list(ctx context.Context, dir string, lab bool, patterns []string) ([]listed, error) {
	args := []string{"list", "-e", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles,Module,Error"}
	out, err := goCommand(ctx, dir, lab, append(args, patterns...)...)
	if err != nil {
		return nil, err
	}
	pkgs, err := decodeAll[listed](bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("reading go list output: %w", err)
	}
	for _, l := range pkgs {
		if l.Error != nil {
			return nil, fmt.Errorf("go list: package %s: %s", l.ImportPath, l.Error.Err)
		}
	}
	return pkgs, nil
}

// testName is a name `go test -list` prints that -test.run selects (benchmarks it does not).
var testName = regexp.MustCompile(`^(Test|Example|Fuzz)\w*$`)

// listTests gives, per import path, the tests `go test -list .` names for the packages,
// built with the lab tag or without. The go command caches these listings.
func listTests(ctx context.Context, dir string, lab bool, pkgs []string) (map[string][]string, error) {
	out, err := goCommand(ctx, dir, lab, append([]string{"test", "-json", "-list", "."}, pkgs...)...)
	if err != nil {
		return nil, err
	}
	events, err := decodeAll[Event](bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("reading go test -list output: %w", err)
	}
	tests := map[string][]string{}
	for _, e := range events {
		if name := strings.TrimSuffix(e.Output, "\n"); e.Action == "output" && e.Test == "" && testName.MatchString(name) {
			tests[e.Package] = append(tests[e.Package], name)
		}
	}
	return tests, nil
}

// goCommand runs `go args...` in dir, with the lab tag when lab is set, in the environment
// of the lab's builds (CGO_ENABLED=0, see Build) so that listing and building share the
// build cache.
func goCommand(ctx context.Context, dir string, lab bool, args ...string) ([]byte, error) {
	if lab {
		args = append([]string{args[0], "-tags", Tag}, args[1:]...)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s%s", strings.Join(args, " "), err, stderr.Bytes(), buildOutput(out))
	}
	return out, nil
}

// buildOutput gives the compiler messages of `go test -json` output, which holds them as
// build-output events rather than on stderr.
func buildOutput(out []byte) string {
	events, _ := decodeAll[Event](bytes.NewReader(out))
	var b strings.Builder
	for _, e := range events {
		if e.Action == "build-output" || e.Action == "output" && strings.Contains(e.Output, "FAIL") {
			b.WriteString(e.Output)
		}
	}
	return b.String()
}
