package cluster

import (
	"os"
	"path/filepath"
)

// CheckoutPath joins elem to the directory of go.mod above the working directory: the
// binaries make builds into bin/ and the artifacts directory live there, while `go test`
// runs a package in its own directory and make runs from the root. Outside a checkout it
// is relative to the working directory.
func CheckoutPath(elem ...string) string {
	dir, err := os.Getwd()
	if err != nil {
		dir = "."
	}
	root := dir
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			root = d
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return filepath.Join(append([]string{root}, elem...)...)
}
