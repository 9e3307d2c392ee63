// Package cachedir names the directory that holds what the project downloads and builds
// (kernels, tools, upstream Kubernetes binaries): kept outside git so that reruns are fast
// and a fresh clone still works. The Makefile exports the same default as CACHE_DIR.
package cachedir

import (
	"os"
	"path/filepath"
)

// Env is the environment variable that overrides the cache root.
const Env = "CACHE_DIR"

// Root is $CACHE_DIR, else $HOME/.cache/ipvs-e2e (the temporary directory stands in for a
// user without a home).
func Root() string {
	if d := os.Getenv(Env); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "ipvs-e2e")
}

// Join is a path under Root.
func Join(elem ...string) string {
	return filepath.Join(append([]string{Root()}, elem...)...)
}
