package gotest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
)

// BinaryName gives a file name for a package's test binary that is unique per import path.
func BinaryName(importPath string) string {
	r := strings.NewReplacer("/", "_", ".", "_", "-", "_")
	return r.Replace(importPath) + ".test"
}

// Build compiles the package's test binary, lab tests included (the lab tag), into outDir
// as a static binary (CGO_ENABLED=0: the guest has no C library for Go programs to link
// against) and returns its path.
func Build(ctx context.Context, dir string, p Package, outDir string) (string, error) {
	out := filepath.Join(outDir, BinaryName(p.ImportPath))
	if _, err := goCommand(ctx, dir, true, "test", "-c", "-o", out, p.ImportPath); err != nil {
		return "", fmt.Errorf("building the tests of %s: %w", p.ImportPath, err)
	}
	if _, err := os.Stat(out); err != nil {
		return "", fmt.Errorf("go test -c %s wrote no binary: %w", p.ImportPath, err)
	}
	return out, nil
}

// BuildOptions choose the packages and tests of a suite.
type BuildOptions struct {
	// Patterns name the packages as `go test` takes them; none is ./..., among which
	// packages without lab tests are passed over without a word.
	Patterns []string
	// Run is the -test.run expression of every package; when empty, All runs every test and
	// otherwise the lab tests run.
	Run string
	All bool
	// Timeout bounds the guest run; each binary's own -test.timeout is shorter.
	Timeout time.Duration
}

// BuildSuite finds the packages (in dir), builds the test binaries of those with tests to run
// and lays out the guest: binaries under /lab/tests, each package's testdata under
// /src/<dir>, the working directory `go test` would give.
func BuildSuite(ctx context.Context, dir string, o BuildOptions) (*Suite, error) {
	explicit := len(o.Patterns) > 0
	patterns := o.Patterns
	if !explicit {
		patterns = []string{"./..."}
	}
	pkgs, err := Find(ctx, dir, patterns)
	if err != nil {
		return nil, err
	}
	run, err := rundir.New("labtests")
	if err != nil {
		return nil, err
	}
	s := &Suite{patterns: patterns, run: run}
	// Leave the test binary time to print its own timeout report before QEMU is stopped.
	testTimeout := max(o.Timeout-30*time.Second, o.Timeout/2)
	for _, p := range pkgs {
		pattern := o.Run
		switch {
		case pattern != "":
		case o.All:
			pattern = "."
		case len(p.Tests) > 0:
			pattern = p.RunPattern()
		default:
			if explicit {
				s.Skipped = append(s.Skipped, p.ImportPath)
			}
			continue
		}
		slog.Info("lab: building tests", "package", p.ImportPath)
		bin, err := Build(ctx, dir, p, run.Path)
		if err != nil {
			os.RemoveAll(run.Path)
			return nil, err
		}
		guestBin := "/lab/tests/" + filepath.Base(bin)
		guestDir := "/src/" + p.ImportPath
		if rel, err := filepath.Rel(p.ModuleDir, p.Dir); err == nil && p.ModuleDir != "" && !strings.HasPrefix(rel, "..") {
			guestDir = path.Join("/src", filepath.ToSlash(rel))
		}
		s.files = append(s.files, kernellab.File{Path: guestBin, Source: bin, Mode: 0o755})
		td, err := testdataFiles(p.Dir, guestDir)
		if err != nil {
			os.RemoveAll(run.Path)
			return nil, err
		}
		s.files = append(s.files, td...)
		s.cmds = append(s.cmds, kernellab.Command{
			Name: p.ImportPath,
			Args: []string{guestBin, "-test.v", "-test.count=1", "-test.run", pattern, "-test.timeout", testTimeout.String()},
			Dir:  guestDir,
		})
	}
	return s, nil
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
