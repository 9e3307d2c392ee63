// Package scenario runs the reference proxier's sync at scale on the kernel lab's real
// kernel (RunBench, make bench-lab): hack/lab/seedguest in the guest feeds the proxier from
// client-go's fake clientset instead of an API server; everything below the API - IPVS,
// kube-ipvs0, ipsets, iptables - is the kernel's.
package scenario

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/cachedir"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// The lab node the bench runs on.
const (
	NodeName      = "node1"
	ClusterCIDR   = "10.244.0.0/16"
	configInGuest = "/root/" + manifests.KubeProxyIPVS
)

// GuestPackage is the guest program's import path.
const GuestPackage = "github.com/ipvs-e2e/ipvs-e2e/hack/lab/seedguest"

// GuestPath is where the guest program sits in the guest, on PATH.
const GuestPath = "/usr/bin/seedguest"

// BuildGuest builds hack/lab/seedguest as a static binary into dir and returns its path.
// It uses `go install` with GOBIN=dir, which leaves an up-to-date binary alone instead of
// linking it again (an 80 MB link costs seconds on a busy machine). The symbol table is
// stripped; CPU profiles keep their function names (they come from the Go runtime's own
// tables).
func BuildGuest(ctx context.Context, dir string, log *slog.Logger) (string, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	start := time.Now()
	log.Info("scenario: building the guest program", "package", GuestPackage, "dir", dir)
	cmd := exec.CommandContext(ctx, "go", "install", "-trimpath", "-ldflags=-s -w", GuestPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s (go install with CGO_ENABLED=0): %w\n%s", GuestPackage, err, strings.TrimSpace(string(out)))
	}
	bin := filepath.Join(dir, "seedguest")
	fi, err := os.Stat(bin)
	if err != nil {
		return "", fmt.Errorf("go install %s wrote no binary in %s: %w", GuestPackage, dir, err)
	}
	log.Info("scenario: guest program ready", "path", bin, "MiB", fmt.Sprintf("%.1f", float64(fi.Size())/(1<<20)), "elapsed", time.Since(start).Round(10*time.Millisecond))
	return bin, nil
}

// DefaultBinDir is where BuildGuest puts the guest program: lab/bin under the project's
// cache root (hack/lab/cachedir), beside the lab's own downloads.
func DefaultBinDir() string { return cachedir.Join("lab", "bin") }
