// Package labtest is what tests share about the kernel lab. Tests that need a real IPVS
// kernel live in test files built only with the lab tag (`//go:build lab`, named
// *_lab_test.go): a host `go test ./...` does not compile them, and `ipvs-e2e lab test` builds
// them with `go test -c -tags lab` and runs them in the lab guest, whose init sets
// IPVS_E2E_LAB=1. Each lab test starts with Require, so a guest without IPVS fails them.
package labtest

import (
	"io"
	"os"
	"testing"
)

// EnvVar is set to "1" by the lab guest's init for every binary it runs.
const EnvVar = "IPVS_E2E_LAB"

// InLab tells whether the process runs inside the kernel lab guest.
func InLab() bool { return os.Getenv(EnvVar) == "1" }

// Require fails t unless it runs in a kernel lab guest that has IPVS. It never skips: a lab
// test that cannot run where it was sent to run is a broken lab, not a pass.
func Require(t testing.TB) {
	t.Helper()
	if !InLab() {
		t.Fatalf("%s needs the kernel lab (%s=1 is not set): run it with `go run ./cmd/ipvs-e2e lab test --run '^%s$' PKG`",
			t.Name(), EnvVar, t.Name())
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		t.Fatalf("kernel lab guest has no IPVS (/proc/net/ip_vs: %v): the lab's module list is broken", err)
	}
}

// Open returns the kernel handle open returns (a netlink socket, say), closed when t ends.
// A handle the lab cannot open fails t: the lab has what every handle needs.
func Open[H io.Closer](t testing.TB, open func() (H, error)) H {
	t.Helper()
	h, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
