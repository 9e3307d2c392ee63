package proxy

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// A full sync allocates in proportion to the cluster - the whole desired state, the whole
// kernel read - and nearly all of it is garbage when the sync ends (at 10,000 Services
// some 30 MB, against a live heap of about 50). The Go runtime sizes the heap at
// (1 + GOGC/100) times the live heap of its last collection, so a collection that lands
// in the middle of a full sync sizes the heap for that sync's garbage as well, and the
// process keeps the pages until the scavenger slowly returns them: the proxier's RSS then
// follows its periodic resync, not what it holds.
//
// So while a full sync runs, the collector's target is lowered (the heap may grow by half
// of what is live instead of all of it), and when it ends a collection in the background
// measures the live heap without the sync's garbage, which puts the target back where the
// steady state needs it. The price is a collection or two more per full sync. A GOGC set
// lower than that, or off, is left alone.

// fullSyncGCPercent is the GC target during a full sync.
const fullSyncGCPercent = 50

// boundHeapFrom is the heap goal from which a full sync is bounded: below it the garbage
// of a sync is a few megabytes and extra collections would cost more than they save.
const boundHeapFrom = 64 << 20

var heapGoalSample = []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}

// boundFullSyncHeap switches the bound off for measurements (tests) of its effect.
var boundFullSyncHeap = true

// boundHeapForFullSync lowers the GC target for a full sync; the returned function
// restores it and collects in the background. Called by the sync goroutine only.
func boundHeapForFullSync() (restore func()) {
	if !boundFullSyncHeap {
		return func() {}
	}
	metrics.Read(heapGoalSample)
	if v := heapGoalSample[0].Value; v.Kind() != metrics.KindUint64 || v.Uint64() < boundHeapFrom {
		return func() {}
	}
	old := debug.SetGCPercent(fullSyncGCPercent)
	if old < 0 || old <= fullSyncGCPercent {
		debug.SetGCPercent(old) // set lower, or off, by the operator: theirs to keep
		return func() {}
	}
	return func() {
		debug.SetGCPercent(old)
		go runtime.GC()
	}
}
