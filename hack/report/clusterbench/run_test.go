package clusterbench

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestReportText(t *testing.T) {
	r := report{
		Header: header{Date: "2026-11-26 10:00 UTC", HostCPUs: 2, HostKernel: "6.18.44", QEMU: "QEMU emulator version 9.2.0",
			GuestKernel: "6.1.0-56-cloud-amd64", Guest: "QEMU TCG, 1 vCPU, 2048 MiB", Go: "go1.26.8", Upstream: "v1.37.2", Commit: "27c4c1c"},
		Results: []Measurement{
			{Proxy: "reference", Services: 100, VisibleSeconds: 1, Profile: "cluster-reference-N100-cpu.pprof"},
			{Proxy: "v1.37.2", Services: 100, VisibleSeconds: 5, Notes: []string{"FAILED: timeout"}},
		},
	}
	if got := r.text(); strings.Contains(got, "under churn") {
		t.Errorf("report without a churn phase has a churn table:\n%s", got)
	}
	r.Results = append(r.Results, Measurement{Proxy: "reference", Services: 1000,
		Churn: &Churn{ProgrammingP50Seconds: 0.2, ProgrammingP99Seconds: 0.9, KernelP50Seconds: 0.3, KernelP99Seconds: 0.8, Changes: 2400, Observed: 2400}})
	got := r.text()
	fixture.Contains(t, "report text", got,
		"2026-11-26 10:00 UTC",
		"machine: 2 CPUs, host kernel 6.18.44; node: QEMU TCG, 1 vCPU, 2048 MiB, guest kernel 6.1.0-56-cloud-amd64 (QEMU emulator version 9.2.0)",
		"versions: go1.26.8; control plane and upstream kube-proxy v1.37.2; reference proxier at commit 27c4c1c",
		"v1.37.2/reference",
		"visible s:",
		"v1.37.2 N=100: FAILED: timeout",
		"reference N=100: CPU profile cluster-reference-N100-cpu.pprof",
		"Network programming latency under churn",
		"prog p99 s",
		"kubeproxy_network_programming_duration_seconds",
	)
}

func TestRerender(t *testing.T) {
	dir := t.TempDir()
	r := report{Header: header{Date: "2026-11-26 10:00 UTC", Upstream: "v1.37.2"}, Results: []Measurement{
		{Proxy: "reference", Services: 1000, BurstSeconds: 10, VisibleSeconds: 11, SyncedSeconds: 10.5, Syncs: 90},
		{Proxy: "v1.37.2", Services: 1000, BurstSeconds: 10, VisibleSeconds: 48, SyncedSeconds: 300, Syncs: 3},
	}}
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, tableFile))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, tableFile))
	got, err := Rerender(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("rerendered table differs from the written one:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(got, "38x") { // (48-10)/(11-10): the kernel's lag after the burst
		t.Errorf("rerendered table lacks the after-burst ratio 38x:\n%s", got)
	}
	_, err = Rerender(filepath.Join(dir, "missing.json"))
	wanterr.Check(t, err, "missing.json")
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"results": []}`), 0o644)
	_, err = Rerender(filepath.Join(dir, "bad.json"))
	wanterr.Check(t, err, "bad.json: no results in it")
}

// Two real CPU profiles of this process merge into one whose -top is written beside it.
func TestWriteProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go tool pprof")
	}
	var profiles [][]byte
	for range 2 {
		var b bytes.Buffer
		if err := pprof.StartCPUProfile(&b); err != nil {
			t.Fatal(err)
		}
		spin(100 * time.Millisecond)
		pprof.StopCPUProfile()
		profiles = append(profiles, b.Bytes())
	}
	out := t.TempDir()
	dir := filepath.Join(out, "raw")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeProfile(out, dir, "cluster-reference-N10-cpu", profiles); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"raw/cpu-01.pprof", "raw/cpu-02.pprof", "cluster-reference-N10-cpu.pprof"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v (want a non-empty profile)", f, err)
		}
	}
	top, err := os.ReadFile(filepath.Join(out, "cluster-reference-N10-cpu.top.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(top), "flat%") || !strings.Contains(string(top), "Type: cpu") {
		t.Errorf("pprof -top text lacks its header:\n%s", top)
	}
	if err := writeProfile(out, dir, "broken", [][]byte{[]byte("not a profile")}); err == nil {
		t.Error("a profile that is not one merged without error")
	}
}

// A real heap profile of this process is written with the top of its live bytes beside it.
func TestWriteHeapProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go tool pprof")
	}
	var heap bytes.Buffer
	if err := pprof.WriteHeapProfile(&heap); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := writeHeapProfile(out, Measurement{Proxy: "reference", Services: 10}, heap.Bytes()); err != nil {
		t.Fatal(err)
	}
	top, err := os.ReadFile(filepath.Join(out, "cluster-reference-N10-heap.top.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(top), "Type: inuse_space") {
		t.Errorf("pprof -top text is not of the live bytes:\n%s", top)
	}
}

func spin(d time.Duration) {
	x := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		x++
	}
	_ = x
}

func TestChurnAt(t *testing.T) {
	c := Config{Churn: 2 * time.Minute, ChurnNs: []int{1000, 10000}}
	for n, want := range map[int]time.Duration{100: 0, 1000: 2 * time.Minute, 10000: 2 * time.Minute} {
		if got := churnAt(c, n); got != want {
			t.Errorf("churnAt(%d) = %s, want %s", n, got, want)
		}
	}
	c.Churn = 0
	if got := churnAt(c, 1000); got != 0 {
		t.Errorf("churnAt with --churn 0 = %s, want 0", got)
	}
}
