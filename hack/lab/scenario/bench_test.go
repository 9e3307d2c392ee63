package scenario

import (
	_ "embed"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// The output of `seedguest bench -n 1000` in a real lab run (klog lines and all).
//
//go:embed testdata/bench-1000.txt
var realBench string

func TestParseBenchOutput(t *testing.T) {
	r, err := ParseBenchOutput(realBench)
	if err != nil {
		t.Fatal(err)
	}
	if r.Services != 1000 || r.VirtualServers != 1000 || r.RealServers != 2000 || r.Addresses != 1000 || len(r.Changes) != 3 ||
		r.SyncSeconds <= 0 || r.StartToProgrammedSeconds < r.SyncSeconds || r.RSSMB <= 0 || r.NATRules == 0 {
		t.Errorf("result = %+v", r)
	}
	for _, bad := range []struct{ name, text, want string }{
		{"no result line", "bench n=10: store holds 10 Services\n", `no "BENCH" line`},
		{"broken JSON", "BENCH {\"services\":\n", "bad result line"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := ParseBenchOutput(bad.text)
			wanterr.Check(t, err, bad.want)
		})
	}
}

func FuzzParseBenchOutput(f *testing.F) {
	f.Add(realBench)
	f.Add("BENCH {}\n")
	f.Fuzz(func(t *testing.T, text string) {
		r, err := ParseBenchOutput(text)
		if err == nil && !strings.Contains(text, BenchPrefix) {
			t.Errorf("a result %+v from text without a result line", r)
		}
	})
}

func TestMedianChange(t *testing.T) {
	r := BenchResult{Changes: []ChangeResult{{Service: "a", VisibleSeconds: 3}, {Service: "b", VisibleSeconds: 1}, {Service: "c", VisibleSeconds: 2}}}
	if c, ok := r.medianChange(); !ok || c.Service != "c" {
		t.Errorf("median of 3 = %+v, want c", c)
	}
	r.Changes = r.Changes[:2]
	if c, ok := r.medianChange(); !ok || c.Service != "b" {
		t.Errorf("median of 2 = %+v, want the lower, b", c)
	}
	if _, ok := (BenchResult{}).medianChange(); ok {
		t.Error("a median of no changes")
	}
}

func TestBenchTable(t *testing.T) {
	rep := &BenchReport{MemoryMiB: 1024, Elapsed: 16 * time.Second, Boot: 2400 * time.Millisecond, Results: []BenchResult{
		{Services: 1000, SyncSeconds: 3.5, Syncs: 2, StartToProgrammedSeconds: 4.2, FirstSyncSeconds: 3, FirstSyncVirtualServers: 640,
			RSSMB: 39, NATRules: 13, FilterRules: 16,
			Changes: []ChangeResult{{VisibleSeconds: 0.017, SyncSeconds: 0.003}}},
		{Services: 300, SyncSeconds: 1, StartToProgrammedSeconds: 1.5, RSSMB: 40},
	}}
	// Columns are aligned by tabwriter; compare with the spacing collapsed.
	got := strings.Join(strings.Fields(rep.Table()), " ")
	fixture.Contains(t, "table", got,
		"1000 3.50 2 4.20 3.00 (640) 0.017 / 0.003 39 13 16",
		"upstream from notes (not this run)",
		// 168 s / 4.2 s, 1.7 s / 0.017 s and 3.0 s / 0.003 s, 78 MB / 39 MB.
		"1000 168 40x 1.7 / 3.0 100x / 1000x 78 2.0x",
		"300 (not measured)",
	)
}
