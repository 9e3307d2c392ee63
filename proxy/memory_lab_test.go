//go:build lab

package proxy

import (
	"cmp"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// memoryLabServicesEnv sets the Service count of TestProxierFullResyncMemoryLab (default
// 2,000), e.g. `go run ./cmd/ipvs-e2e lab test --mem 2048 --run TestProxierFullResyncMemoryLab
// --env IPVS_E2E_MEMORY_SERVICES=10000 ./proxy`.
const memoryLabServicesEnv = "IPVS_E2E_MEMORY_SERVICES"

// memoryLabSitesEnv, when set, makes the test log where the resync allocated (the top
// sites of the memory profile, by the innermost frame of this module).
const memoryLabSitesEnv = "IPVS_E2E_MEMORY_SITES"

// memoryLabConfig is the seed's configuration (the test runs in a guest without the
// package's testdata).
const memoryLabConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
clusterCIDR: 10.244.0.0/16
ipvs:
  scheduler: rr
  syncPeriod: 30s
  minSyncPeriod: 0s
`

// liveHeapSampler records the largest live heap the runtime reports while it runs. The
// live heap is measured at the end of each GC cycle, so the caller lowers GOGC to make
// cycles frequent: the peak it sees is then close to the true one, which is what sets
// the heap's size (and the process's RSS) under the default GOGC.
type liveHeapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

const liveHeapMetric = "/gc/heap/live:bytes"

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: liveHeapMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startLiveHeapSampler() *liveHeapSampler {
	s := &liveHeapSampler{stop: make(chan struct{}), peak: liveHeap()}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				s.peak = max(s.peak, liveHeap())
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the peak.
func (s *liveHeapSampler) Stop() uint64 {
	close(s.stop)
	s.done.Wait()
	return s.peak
}

// TestProxierFullResyncMemoryLab programs N Services (two local endpoints each) through the
// proxier on the lab kernel, then measures what a periodic full resync holds on top of the
// proxier's steady state: the live heap after a GC before it, and the largest live heap
// during it (GOGC lowered meanwhile so GC cycles are frequent). Under the default GOGC the
// heap grows to twice the live heap of its last GC, so that peak is what the RSS follows.
// The numbers are logged, not asserted (a benchmark's job); the test checks that the
// resync changed nothing.
func TestProxierFullResyncMemoryLab(t *testing.T) {
	labtest.Require(t)
	runtime.MemProfileRate = 64 << 10
	n := labServiceCount(t, memoryLabServicesEnv)
	k := labtest.Open(t, kernel.Linux)
	cfg, err := config.Load([]byte(memoryLabConfig), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Setup(k, SetupOptionsFrom(cfg)); err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Config: cfg, NodeName: "node1", Client: fake.NewClientset(), Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Cleanup(k, CleanupOptions{}); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	p.initialized = true
	p.onNode(nodeObj("node1", testNodeIP.String()), false)
	svcs, slices := benchObjects(n)
	for i := range n {
		p.onService(svcs[i], false)
		p.onSlice(nil, slices[i], false)
	}
	svcs, slices = nil, nil
	start := time.Now()
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	t.Logf("N=%d families=%v first sync: %.2fs", n, p.families, time.Since(start).Seconds())

	resync := func() (changes int) {
		t.Helper()
		p.needFull = true
		if err := p.Sync(); err != nil {
			t.Fatal(err)
		}
		for _, r := range p.reconcilers {
			changes += r.changes // the last sync's
		}
		return changes
	}
	resync() // the first resync adopts what the first sync's known state lacks (counters)

	// The process's memory over a few periodic resyncs, as the proxier runs them (default
	// GOGC), without and with the bound on a full sync's heap (heap.go).
	const mb = 1 << 20
	const resyncs = 3
	for _, bound := range []bool{false, true} {
		boundFullSyncHeap = bound
		debug.FreeOSMemory()
		resetPeakRSS(t)
		start := time.Now()
		for range resyncs {
			resync()
		}
		elapsed := time.Since(start) / resyncs
		time.Sleep(2 * time.Second) // the background collection and the scavenger
		rss, hwm := procRSS(t)
		t.Logf("N=%d %d full resyncs, heap bound %v: %.2fs each; process RSS %.0f MB, peak %.0f MB", n, resyncs, bound, elapsed.Seconds(), float64(rss)/mb, float64(hwm)/mb)
	}
	boundFullSyncHeap = true

	runtime.GC()
	steady := liveHeap()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	allocBefore := ms.TotalAlloc

	profBefore := allocSites()
	old := debug.SetGCPercent(10)
	sampler := startLiveHeapSampler()
	start = time.Now()
	changes := resync()
	elapsed := time.Since(start)
	peak := sampler.Stop()
	debug.SetGCPercent(old)
	runtime.ReadMemStats(&ms)
	if changes != 0 {
		t.Errorf("a full resync with nothing changed made %d kernel changes, expected none", changes)
	}
	if os.Getenv(memoryLabSitesEnv) != "" {
		logAllocSites(t, profBefore, allocSites(), 30)
	}
	t.Logf("N=%d live heap before the resync: %.1f MB; peak live heap during it: %.1f MB (+%.1f MB); allocated by it: %.1f MB; %.2fs at GOGC=10",
		n, float64(steady)/mb, float64(peak)/mb, float64(peak-steady)/mb, float64(ms.TotalAlloc-allocBefore)/mb, elapsed.Seconds())
}

// allocSites sums the memory profile's allocated bytes by site: the innermost frame in
// this module, with the frame below it when that one is outside (a library's allocation
// on the module's behalf).
func allocSites() map[string]int64 {
	runtime.GC() // the profile is published at the end of a cycle
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	out := map[string]int64{}
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		leaf, site := "", ""
		for {
			f, more := frames.Next()
			if leaf == "" && !strings.HasPrefix(f.Function, "runtime.") {
				leaf = f.Function
			}
			if strings.HasPrefix(f.Function, "github.com/ipvs-e2e/") {
				site = strings.TrimPrefix(f.Function, "github.com/ipvs-e2e/ipvs-e2e/")
				if f.Function != leaf {
					site += " <- " + leaf
				}
				break
			}
			if !more {
				break
			}
		}
		if site == "" {
			site = leaf
		}
		out[site] += r.AllocBytes
	}
	return out
}

// logAllocSites logs the top sites by bytes allocated between two allocSites.
func logAllocSites(t *testing.T, before, after map[string]int64, top int) {
	type site struct {
		name  string
		bytes int64
	}
	var sites []site
	for name, b := range after {
		if d := b - before[name]; d > 0 {
			sites = append(sites, site{name, d})
		}
	}
	slices.SortFunc(sites, func(a, b site) int { return cmp.Compare(b.bytes, a.bytes) })
	var b strings.Builder
	for _, s := range sites[:min(top, len(sites))] {
		fmt.Fprintf(&b, "%8.1f MB  %s\n", float64(s.bytes)/(1<<20), s.name)
	}
	t.Logf("allocated by the resync, by site (sampled):\n%s", b.String())
}

// resetPeakRSS makes the kernel start the process's VmHWM afresh from its current RSS.
func resetPeakRSS(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset the peak RSS: %v", err)
	}
}

// procRSS reads the process's VmRSS and VmHWM in bytes.
func procRSS(t *testing.T) (rss, hwm uint64) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		name, value, _ := strings.Cut(line, ":")
		kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch {
		case name != "VmRSS" && name != "VmHWM":
			continue
		case err != nil:
			t.Fatalf("/proc/self/status %s: %q: %v", name, value, err)
		case name == "VmRSS":
			rss = kib << 10
		default:
			hwm = kib << 10
		}
	}
	if rss == 0 || hwm == 0 {
		t.Fatalf("/proc/self/status without VmRSS and VmHWM:\n%s", b)
	}
	return rss, hwm
}
