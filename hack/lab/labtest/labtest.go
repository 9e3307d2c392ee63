// Package labtest marks tests that need a real IPVS kernel. On a host they are reported as
// lab-only (skipped with that reason); inside the kernel lab, where the guest's init sets
// IPVS_E2E_LAB=1, they run, and a guest without IPVS fails them instead of skipping.
package labtest

import (
	"os"
	"testing"
)

// EnvVar is set to "1" by the lab guest's init for every binary it runs.
const EnvVar = "IPVS_E2E_LAB"

// InLab tells whether the process runs inside the kernel lab guest.
func InLab() bool { return os.Getenv(EnvVar) == "1" }

// Require skips t on a host ("lab-only") and fails it inside a lab guest that has no IPVS.
func Require(t testing.TB) {
	t.Helper()
	if !InLab() {
		t.Skip("lab-only: needs a kernel with IPVS; `make test` runs it in the kernel lab")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Fatalf("kernel lab guest has no IPVS (/proc/net/ip_vs: %v): the lab's module list is broken", err)
	}
}
