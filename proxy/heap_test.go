package proxy

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestBoundHeapForFullSync checks the GC target a full sync runs with and that the
// operator's setting comes back, for a heap below the bound's threshold, above it, and
// with GOGC set lower than the bound's.
func TestBoundHeapForFullSync(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	gcPercent := func() int {
		p := debug.SetGCPercent(0)
		debug.SetGCPercent(p)
		return p
	}

	// A small heap: nothing to bound.
	runtime.GC()
	restore := boundHeapForFullSync()
	if got := gcPercent(); got != 100 {
		t.Errorf("small heap: GC target %d during the sync, expected 100 (unchanged)", got)
	}
	restore()

	// A heap whose goal is over the threshold.
	ballast := make([]byte, boundHeapFrom)
	runtime.GC()
	for _, tc := range []struct {
		name        string
		set, during int
	}{
		{"default GOGC", 100, fullSyncGCPercent},
		{"GOGC=200", 200, fullSyncGCPercent},
		{"GOGC=10 (lower: kept)", 10, 10},
		{"GOGC=off (kept)", -1, -1},
	} {
		debug.SetGCPercent(tc.set)
		restore := boundHeapForFullSync()
		if got := gcPercent(); got != tc.during {
			t.Errorf("%s: GC target %d during the sync, expected %d", tc.name, got, tc.during)
		}
		restore()
		if got := gcPercent(); got != tc.set {
			t.Errorf("%s: GC target %d after the sync, expected %d back", tc.name, got, tc.set)
		}
	}
	runtime.KeepAlive(ballast)
}
