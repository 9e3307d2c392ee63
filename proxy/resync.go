package proxy

import (
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// backgroundRead is the kernel read of a periodic full sync, made by a goroutine of its
// own while the partial syncs go on: at 10,000 Services the read takes seconds (tens of
// them on a loaded node), and a full sync that read under syncMu held every change back
// that long. The reconcilers record what the partial syncs change meanwhile (touched.go);
// once the read is done, the next sync reconciles the whole desired state against it,
// keeping its own knowledge of the objects changed since the read began.
type backgroundRead struct {
	started time.Time
	snap    *kernelSnapshot
	// elapsed is how long the read took; set before done is closed.
	elapsed time.Duration
	done    chan struct{}
	// restoreHeap ends the full sync's heap bound (heap.go), which covers the read: the
	// snapshot is most of the full sync's memory.
	restoreHeap func()
}

// startBackgroundRead begins a full sync's kernel read and the reconcilers' records of
// what changes meanwhile; notify is called once the read is done. Called with syncMu held.
func startBackgroundRead(k *kernel.Kernel, reconcilers map[int]*Reconciler, notify func()) *backgroundRead {
	b := &backgroundRead{started: time.Now(), snap: newKernelSnapshot(k), done: make(chan struct{}), restoreHeap: boundHeapForFullSync()}
	// Before the read begins: a change the read misses must be recorded.
	for _, r := range reconcilers {
		r.Touching()
	}
	go func() {
		// Errors are kept in the snapshot; the full sync that uses it reports them.
		_, _ = b.snap.Links()
		_, _ = b.snap.IPSets()
		_, _ = b.snap.Services()
		b.elapsed = time.Since(b.started)
		close(b.done)
		notify()
	}()
	return b
}

// finished tells whether the read is done.
func (b *backgroundRead) finished() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// dropBackgroundRead forgets a read that will not be used (a sync failed, or compared the
// whole desired state, and the next full sync reads afresh). Called with syncMu held.
func (p *Proxier) dropBackgroundRead() {
	if p.bgRead != nil {
		p.bgRead.restoreHeap()
	}
	p.bgRead = nil
	for _, r := range p.reconcilers {
		r.StopTouching()
	}
}
