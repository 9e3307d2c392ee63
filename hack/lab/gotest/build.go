package gotest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BinaryName gives a file name for a package's test binary that is unique per import path.
func BinaryName(importPath string) string {
	r := strings.NewReplacer("/", "_", ".", "_", "-", "_")
	return r.Replace(importPath) + ".test"
}

// Build compiles the package's test binary into outDir as a static binary (CGO_ENABLED=0:
// the guest has no C library for Go programs to link against) and returns its path.
func Build(ctx context.Context, dir string, p Package, outDir string) (string, error) {
	out := filepath.Join(outDir, BinaryName(p.ImportPath))
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", out, p.ImportPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the tests of %s: %w\n%s", p.ImportPath, err, b)
	}
	if _, err := os.Stat(out); err != nil {
		return "", fmt.Errorf("go test -c %s wrote no binary: %w", p.ImportPath, err)
	}
	return out, nil
}
