package gotest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
