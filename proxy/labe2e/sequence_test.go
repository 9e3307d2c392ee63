package labe2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/internal/churn"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// Sequences and steps of the random-sequence test. A step costs about seven iptables
// process starts (the fresh proxier's full sync runs five), 1-1.5 s on the lab's emulated
// CPU when the host is idle and about 4 s when it is loaded (2026-11-26: 2 x 50 steps took
// 6m30s at a host load average of 20). The log line each sequence ends with has its numbers.
const (
	labSequences = 2
	labSteps     = 40
)

// sequenceSeedEnv sets the seed of the first random sequence (the next ones take the
// following numbers), to replay a failure from the seed its message prints.
const sequenceSeedEnv = "IPVS_E2E_SEQUENCE_SEED"

// sequenceSeed is the first sequence's seed: the environment's, or a new one each run.
func sequenceSeed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv(sequenceSeedEnv); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: expected an unsigned decimal seed as a failure message prints it", sequenceSeedEnv, v)
		}
		return seed
	}
	return rand.Uint64()
}

// sequenceNode is where a sequence runs: the kernel the incremental proxier programs
// (already set up as at the proxier's start) and a source of empty kernels for the
// proxier that syncs from scratch.
type sequenceNode struct {
	cfg config.Config
	k   *kernel.Kernel
	// scratch returns an empty kernel holding only the node's address, set up as at a
	// proxier's start, and the function that discards it.
	scratch func(t *testing.T) (*kernel.Kernel, func())
}

// sequenceResult is what a sequence measured.
type sequenceResult struct {
	steps            int
	services, slices int // at the end
	// fullSyncs and partialSyncs count the incremental proxier's syncs; partial ones only
	// when they changed something (the proxier observes no duration for an empty change).
	fullSyncs, partialSyncs uint64
	incremental, scratch    time.Duration // spent in the incremental syncs, in the syncs from scratch
	elapsed                 time.Duration
	changesBy               map[churn.Op]int
	maxVirtualServers       int
}

func (r sequenceResult) String() string {
	return fmt.Sprintf("%d steps in %s (Sync after each change %s, syncs from scratch %s); %d full and %d changing partial syncs of the incremental proxier; up to %d virtual servers; %d Services and %d EndpointSlices at the end; changes: %d Service sets, %d Service deletes, %d slice sets, %d slice deletes",
		r.steps, r.elapsed.Round(time.Millisecond), r.incremental.Round(time.Millisecond), r.scratch.Round(time.Millisecond),
		r.fullSyncs, r.partialSyncs, r.maxVirtualServers, r.services, r.slices,
		r.changesBy[churn.SetService], r.changesBy[churn.DeleteService], r.changesBy[churn.SetSlice], r.changesBy[churn.DeleteSlice])
}

// runSequence drives one proxier through a random sequence of Service and EndpointSlice
// changes, written to a fake API server it watches through its informers. After each
// change it waits for the proxier's handlers to receive it, runs the incremental sync, and
// requires the kernel to hold exactly what a fresh proxier's full sync of the same objects
// leaves on an empty kernel.
func runSequence(t *testing.T, sn sequenceNode, seed uint64, steps int) sequenceResult {
	t.Helper()
	start := time.Now()
	replay := fmt.Sprintf("replay in the lab: go run ./cmd/ipvs-e2e lab test --env %[1]s=%[2]d --run '^TestRandomChangesMatchFullSyncInLab$' ./proxy/labe2e; on the kernel fakes: %[1]s=%[2]d go test -run '^TestRandomChangesMatchFullSyncOnFakes$' ./proxy/labe2e", sequenceSeedEnv, seed)
	t.Logf("sequence seed %d, %d steps (%s)", seed, steps, replay)

	// Only the first sync is full: every later one must be the incremental path.
	cfg := sn.cfg
	cfg.IPVS.SyncPeriod = time.Hour
	cfg.IPVS.MinSyncPeriod = 0
	client := fake.NewClientset(nodeObject())
	inc := startSequenceProxier(t, cfg, client, sn.k)
	t.Cleanup(func() {
		if err := inc.stop(); err != nil {
			t.Errorf("incremental proxier: %v", err)
		}
		if t.Failed() {
			t.Logf("log of the incremental proxier (last 200 lines):\n%s", lastLines(inc.logs.String(), 200))
		}
	})
	waitFor(t, "the incremental proxier's first sync", inc.synced)

	world := churn.New(rand.New(rand.NewPCG(seed, 0x5eed)), churn.Options{
		Namespace: namespace, LocalNode: nodeName, OtherNode: "node2",
		LocalPods: netip.MustParsePrefix(podCIDR), NodeCIDR: netip.MustParsePrefix(nodeCIDR).Masked(),
	})
	res := sequenceResult{changesBy: map[churn.Op]int{}}
	var history []string
	ctx := context.Background()
	delivered := changesReceived(inc)
	for step := 1; step <= steps; step++ {
		c := world.Next()
		res.changesBy[c.Op]++
		history = append(history, fmt.Sprintf("step %d: %s", step, c.What))
		if err := write(ctx, client, c); err != nil {
			t.Fatalf("seed %d step %d (%s): writing to the fake API server: %v", seed, step, c.What, err)
		}
		delivered++
		waitFor(t, fmt.Sprintf("seed %d step %d: the proxier's handlers receive %q", seed, step, c.What),
			func() bool { return changesReceived(inc) >= delivered })

		// The handlers queued a sync, which may be running. Syncs are serialized, so once
		// this one returns the change has been applied, by it or by the one before.
		syncStart := time.Now()
		if err := inc.p.Sync(); err != nil {
			t.Fatalf("seed %d step %d (%s): incremental sync: %v\n%s", seed, step, c.What, err, replay)
		}
		res.incremental += time.Since(syncStart)
		got, err := readSequenceState(sn.k)
		if err != nil {
			t.Fatalf("seed %d step %d: reading the incremental proxier's kernel: %v", seed, step, err)
		}

		scratchStart := time.Now()
		want := fromScratch(t, cfg, sn, world.Objects())
		res.scratch += time.Since(scratchStart)
		if d := dataplane.Diff(want, got); len(d) > 0 {
			t.Fatalf("seed %d step %d (%s): the kernel after the incremental sync differs from a full sync of the same objects on an empty kernel (- full sync only, + incremental only, ~ differs):\n%s\nthe changes so far:\n%s\n%s",
				seed, step, c.What, d, lastLines(strings.Join(history, "\n"), 40), replay)
		}
		res.maxVirtualServers = max(res.maxVirtualServers, len(got.IPVS.Services))
	}
	res.steps = steps
	res.services, res.slices = world.Len()
	g := inc.p.Metrics().Gatherer()
	res.fullSyncs = histogramCount(g, "kubeproxy_sync_full_proxy_rules_duration_seconds")
	res.partialSyncs = histogramCount(g, "kubeproxy_sync_partial_proxy_rules_duration_seconds")
	if res.fullSyncs != 1 {
		t.Errorf("the incremental proxier ran %d full syncs; expected only its first, so that every change went through the incremental path", res.fullSyncs)
	}
	if res.partialSyncs == 0 {
		t.Errorf("the incremental proxier ran no partial sync in %d steps: the incremental path was not tested", steps)
	}
	if n := counterSum(g, "kubeproxy_sync_proxy_rules_errors_total"); n != 0 {
		t.Errorf("the incremental proxier counted %v failed syncs", n)
	}
	res.elapsed = time.Since(start)
	return res
}

// write makes a change through the API, as the controllers would.
func write(ctx context.Context, c *fake.Clientset, ch churn.Change) error {
	switch ch.Op {
	case churn.SetService:
		return put(ctx, c.CoreV1().Services(ch.Service.Namespace), ch.Service, ch.Created)
	case churn.DeleteService:
		return c.CoreV1().Services(ch.Service.Namespace).Delete(ctx, ch.Service.Name, metav1.DeleteOptions{})
	case churn.SetSlice:
		return put(ctx, c.DiscoveryV1().EndpointSlices(ch.Slice.Namespace), ch.Slice, ch.Created)
	case churn.DeleteSlice:
		return c.DiscoveryV1().EndpointSlices(ch.Slice.Namespace).Delete(ctx, ch.Slice.Name, metav1.DeleteOptions{})
	default:
		return fmt.Errorf("unknown change %d", ch.Op)
	}
}

// objectWriter is the part of a typed client put uses.
type objectWriter[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}

// put creates obj when the change created it, and updates it otherwise.
func put[T any](ctx context.Context, w objectWriter[T], obj T, created bool) error {
	var err error
	if created {
		_, err = w.Create(ctx, obj, metav1.CreateOptions{})
	} else {
		_, err = w.Update(ctx, obj, metav1.UpdateOptions{})
	}
	return err
}

// fromScratch is the state a fresh proxier leaves on an empty kernel after its first
// (full) sync of objs.
func fromScratch(t *testing.T, cfg config.Config, sn sequenceNode, objs []runtime.Object) dataplane.State {
	t.Helper()
	k, discard := sn.scratch(t)
	defer discard()
	client := fake.NewClientset(append(objs, nodeObject())...)
	p := startSequenceProxier(t, cfg, client, k)
	ok := poll(func() bool { return p.synced() })
	stopErr := p.stop()
	if !ok {
		t.Fatalf("the proxier syncing from scratch did not finish a sync within %s; its log:\n%s", pollTimeout, p.logs)
	}
	if stopErr != nil {
		t.Fatalf("the proxier syncing from scratch: %v", stopErr)
	}
	if n := counterSum(p.p.Metrics().Gatherer(), "kubeproxy_sync_proxy_rules_errors_total"); n != 0 {
		t.Fatalf("the proxier syncing from scratch failed %v syncs before it succeeded; its log:\n%s", n, p.logs)
	}
	s, err := readSequenceState(k)
	if err != nil {
		t.Fatalf("reading the kernel synced from scratch: %v", err)
	}
	return s
}

// readSequenceState reads what the proxier programs: IPVS with its timeouts, kube-ipvs0
// (the node's other links differ between the two kernels and are not the proxier's), the
// ip sets and the IPv4 nat and filter tables. The rules come from one iptables-save of
// every table rather than one per table: each run of it costs a process start on the
// lab's emulated CPU, and a sequence reads twice per step.
func readSequenceState(k *kernel.Kernel) (dataplane.State, error) {
	s, err := kernel.Read(k, kernel.ReadOptions{Node: nodeName, IPVS: true, Timeouts: true, Links: true, IPSets: true, IPTables: true})
	if err != nil {
		return s, err
	}
	l, ok := s.Link(dataplane.KubeIPVSInterface)
	s.Links = nil
	if ok {
		s.Links = []dataplane.Link{l}
	}
	var tables []dataplane.Table
	for _, name := range []string{"nat", "filter"} {
		if t, ok := s.IPTables.Table(name); ok {
			tables = append(tables, t)
		}
	}
	s.IPTables.Tables = tables
	return s, nil
}

// startSequenceProxier starts a proxier over k watching client, as cmd/ipvs-proxier builds
// it, and returns at once.
func startSequenceProxier(t *testing.T, cfg config.Config, client *fake.Clientset, k *kernel.Kernel) *runningProxier {
	t.Helper()
	logs := &logBuffer{}
	p, err := proxy.New(proxy.Options{Config: cfg, NodeName: nodeName, Client: client, Kernel: k,
		Families: []int{4}, Logger: funcr.New(logs.write, funcr.Options{Verbosity: 2}), RetryInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rp := &runningProxier{name: "sequence proxier", p: p, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { rp.done <- p.Run(ctx) }()
	return rp
}

// changesReceived counts the Service and EndpointSlice events the proxier's handlers took.
func changesReceived(rp *runningProxier) float64 {
	g := rp.p.Metrics().Gatherer()
	return counterSum(g, "kubeproxy_sync_proxy_rules_service_changes_total") + counterSum(g, "kubeproxy_sync_proxy_rules_endpoint_changes_total")
}

// poll reports whether cond came true within pollTimeout.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(pollTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		// Each look gathers the proxier's metrics; on the lab's one emulated CPU a tighter
		// loop slows the syncs it waits for.
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("%s: not within %s", what, pollTimeout)
	}
}

// counterSum adds up a counter's series; 0 when it has none.
func counterSum(g prometheus.Gatherer, name string) float64 {
	return sumSeries(g, name, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

// histogramCount adds up a histogram's observation counts; 0 when it has none.
func histogramCount(g prometheus.Gatherer, name string) uint64 {
	return sumSeries(g, name, func(m *dto.Metric) uint64 { return m.GetHistogram().GetSampleCount() })
}

// sumSeries adds up value over the series of the metric name; 0 when it has none.
func sumSeries[T float64 | uint64](g prometheus.Gatherer, name string, value func(*dto.Metric) T) T {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var sum T
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += value(m)
			}
		}
	}
	return sum
}

// lastLines returns the last n lines of text.
func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
