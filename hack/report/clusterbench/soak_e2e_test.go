//go:build e2e

package clusterbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Settings of TestSoak, validated before anything starts.
const (
	soakDurationEnv = "IPVS_E2E_SOAK_DURATION" // how long the churn runs; default 30m
	soakServicesEnv = "IPVS_E2E_SOAK_SERVICES" // Services churned; default 1000
	soakRateEnv     = "IPVS_E2E_SOAK_RATE"     // changes per second; default 10
	soakSeedEnv     = "IPVS_E2E_SOAK_SEED"     // the churn's random seed; default from the clock
)

type soakSettings struct {
	duration time.Duration
	services int
	rate     int
	seed     uint64
}

func readSoakSettings() (soakSettings, error) {
	s := soakSettings{duration: 30 * time.Minute, services: 1000, rate: 10, seed: uint64(time.Now().UnixNano())}
	var errs []string
	if v := os.Getenv(soakDurationEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			errs = append(errs, fmt.Sprintf("%s=%q: expected a duration of at least 1m, such as 30m", soakDurationEnv, v))
		}
		s.duration = d
	}
	for _, e := range []struct {
		env      string
		dst      *int
		min, max int
	}{{soakServicesEnv, &s.services, 10, 5000}, {soakRateEnv, &s.rate, 1, 100}} {
		if v := os.Getenv(e.env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < e.min || n > e.max {
				errs = append(errs, fmt.Sprintf("%s=%q: expected a whole number from %d to %d", e.env, v, e.min, e.max))
			}
			*e.dst = n
		}
	}
	if v := os.Getenv(soakSeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: expected a whole number", soakSeedEnv, v))
		}
		s.seed = n
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("soak settings:\n  %s", strings.Join(errs, "\n  "))
	}
	return s, nil
}

// soakSample is the proxier as seen at one moment of the soak.
type soakSample struct {
	at          time.Duration
	rssKiB      int64
	goroutines  int
	syncs       uint64
	failedSyncs int
	virtual     int
}

// TestSoak runs the reference proxier in a lab cluster under random Service and
// EndpointSlice churn (creates, updates, deletes; endpoints added, removed and flipped
// between ready and not) at IPVS_E2E_SOAK_SERVICES Services for IPVS_E2E_SOAK_DURATION, and
// samples its resident memory, goroutines, syncs and failed syncs over time. It fails when
// a sync failed, the proxier restarted, its goroutines or memory grew after the warm-up
// (the first sixth), or the node does not hold every Service at the end.
func TestSoak(t *testing.T) {
	set, err := readSoakSettings()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("soak: %d Services, %d changes/s for %s, seed %d (%s=%d repeats it)", set.services, set.rate, set.duration, set.seed, soakSeedEnv, set.seed)
	ctx, cancel := context.WithTimeout(context.Background(), set.duration+20*time.Minute)
	defer cancel()
	p, rc, err := lab.Up(ctx, cluster.Options{KubernetesVersion: lab.Reference})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			p.KeepRunDir()
		}
		if err := p.Delete(context.Background()); err != nil {
			t.Errorf("delete: %v", err)
		}
	}()
	rc.QPS, rc.Burst = 500, 1000
	cs := kubernetes.NewForConfigOrDie(rc)
	nodes, err := p.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Client: cs, Node: nodes[0], NodeName: lab.NodeName, ProxyBinary: p.ProxyBinary(),
		MetricsURL: "http://" + kubeproxy.MetricsAddress}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	ch := &churner{cs: cs, node: lab.NodeName, rng: rand.New(rand.NewPCG(set.seed, 0x50a4)), present: map[int]bool{}}
	start := time.Now()
	if err := ch.fill(ctx, set.services); err != nil {
		t.Fatal(err)
	}
	t.Logf("soak: %d Services created in %s", set.services, time.Since(start).Round(time.Second))
	pid, err := proxyPID(ctx, target)
	if err != nil {
		t.Fatal(err)
	}

	interval := max(set.duration/30, 10*time.Second)
	var samples []soakSample
	take := func() {
		s, err := target.soakSample(ctx, pid)
		if err != nil {
			t.Errorf("sample at %s: %v", time.Since(start).Round(time.Second), err)
			return
		}
		s.at = time.Since(start)
		samples = append(samples, s)
		t.Logf("soak: %8s  rss %6.1f MiB  goroutines %4d  syncs %6d  failed syncs %d  virtual servers %d  changes %d (API errors %d)",
			s.at.Round(time.Second), float64(s.rssKiB)/1024, s.goroutines, s.syncs, s.failedSyncs, s.virtual, ch.changes, ch.apiErrors)
	}
	take()
	churnStart := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(set.rate))
	defer tick.Stop()
	next := time.Now().Add(interval)
	for time.Since(churnStart) < set.duration && ctx.Err() == nil {
		<-tick.C
		ch.step(ctx, set.services)
		if time.Now().After(next) {
			take()
			next = next.Add(interval)
		}
	}
	// The node must then hold what the API server holds: every Service's virtual server,
	// none of a deleted one.
	var missing, stale []string
	d, err := waitFor(ctx, 2*time.Minute, func() bool {
		missing, stale, err = target.compareWithAPI(ctx)
		return err == nil && len(missing) == 0 && len(stale) == 0
	})
	take()
	if err != nil {
		t.Errorf("after the churn the node's virtual servers differ from the API server's Services: %d missing %.5v, %d stale %.5v: %v",
			len(missing), missing, len(stale), stale, err)
	} else {
		t.Logf("soak: the node's virtual servers matched the API server's Services %s after the churn stopped", d.Round(100*time.Millisecond))
	}
	if now, err := proxyPID(ctx, target); err != nil || now != pid {
		t.Errorf("the proxier's process is %d (%v), was %d: it restarted during the soak", now, err, pid)
	}
	judgeSoak(t, samples, ch)
}

// judgeSoak checks the samples after the warm-up (the first sixth) for growth and the last
// one for failed syncs.
func judgeSoak(t *testing.T, samples []soakSample, ch *churner) {
	t.Helper()
	if len(samples) < 6 {
		t.Fatalf("%d samples; expected at least 6", len(samples))
	}
	warm := samples[len(samples)/6]
	end := samples[len(samples)-1]
	var maxRSS int64
	maxG := 0
	for _, s := range samples[len(samples)/6:] {
		maxRSS, maxG = max(maxRSS, s.rssKiB), max(maxG, s.goroutines)
	}
	t.Logf("soak: after warm-up rss %.1f MiB, goroutines %d; at the end rss %.1f MiB (max %.1f), goroutines %d (max %d); %d syncs, %d failed; %d changes, %d API errors",
		float64(warm.rssKiB)/1024, warm.goroutines, float64(end.rssKiB)/1024, float64(maxRSS)/1024, end.goroutines, maxG,
		end.syncs, end.failedSyncs, ch.changes, ch.apiErrors)
	if end.failedSyncs > 0 {
		t.Errorf("%d syncs failed", end.failedSyncs)
	}
	// Flat: goroutines within 10 of the warm level, memory within a quarter (the Go heap
	// breathes with the churn; a leak at 10 changes/s grows past that in minutes).
	if end.goroutines > warm.goroutines+10 {
		t.Errorf("goroutines grew from %d after warm-up to %d", warm.goroutines, end.goroutines)
	}
	if end.rssKiB > warm.rssKiB*5/4+8<<10 {
		t.Errorf("resident memory grew from %.1f MiB after warm-up to %.1f MiB", float64(warm.rssKiB)/1024, float64(end.rssKiB)/1024)
	}
	if ch.apiErrors*100 > ch.changes {
		t.Errorf("%d of %d API writes failed", ch.apiErrors, ch.changes)
	}
}

// churner writes random changes to the benchmark's Services and EndpointSlices.
type churner struct {
	cs      kubernetes.Interface
	node    string
	rng     *rand.Rand
	present map[int]bool
	changes int
	// apiErrors counts writes the API server refused for reasons other than a conflict
	// with an earlier write of ours.
	apiErrors int
}

// fill creates every Service i < n (and its slice) that is missing, eight at a time.
func (c *churner) fill(ctx context.Context, n int) error {
	var mu sync.Mutex
	var errs []error
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				if err := c.create(ctx, i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		if !c.present[i] {
			work <- i
		}
	}
	close(work)
	wg.Wait()
	for i := range n {
		c.present[i] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of the Services could not be created, first: %w", len(errs), errs[0])
	}
	return nil
}

func (c *churner) create(ctx context.Context, i int) error {
	if _, err := c.cs.CoreV1().Services(Namespace).Create(ctx, Service(i), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := c.cs.DiscoveryV1().EndpointSlices(Namespace).Create(ctx, EndpointSlice(i, c.node), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// step makes one random change: a Service deleted (with its slice) or created again; an
// endpoint added or removed; an endpoint's readiness flipped; the Service's port changed.
func (c *churner) step(ctx context.Context, n int) {
	i := c.rng.IntN(n)
	c.changes++
	var err error
	name := ServiceName(i)
	switch op := c.rng.IntN(10); {
	case !c.present[i]:
		err = c.create(ctx, i)
		c.present[i] = err == nil
	case op == 0:
		err = c.cs.CoreV1().Services(Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err == nil {
			err = c.cs.DiscoveryV1().EndpointSlices(Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		}
		c.present[i] = false
	case op < 4:
		s, gerr := c.cs.DiscoveryV1().EndpointSlices(Namespace).Get(ctx, name, metav1.GetOptions{})
		if err = gerr; err == nil {
			if len(s.Endpoints) > 1 && c.rng.IntN(2) == 0 {
				s.Endpoints = s.Endpoints[:len(s.Endpoints)-1]
			} else {
				extra := ChangeAddress.As4()
				extra[3] = byte(c.rng.IntN(250) + 1)
				s.Endpoints = append(s.Endpoints, fixtures.Endpoint(netip.AddrFrom4(extra).String(), c.node, true))
			}
			_, err = c.cs.DiscoveryV1().EndpointSlices(Namespace).Update(ctx, s, metav1.UpdateOptions{})
		}
	case op < 8:
		s, gerr := c.cs.DiscoveryV1().EndpointSlices(Namespace).Get(ctx, name, metav1.GetOptions{})
		if err = gerr; err == nil && len(s.Endpoints) > 0 {
			e := &s.Endpoints[c.rng.IntN(len(s.Endpoints))]
			ready := e.Conditions.Ready == nil || !*e.Conditions.Ready
			e.Conditions.Ready = &ready
			_, err = c.cs.DiscoveryV1().EndpointSlices(Namespace).Update(ctx, s, metav1.UpdateOptions{})
		}
	default:
		svc, gerr := c.cs.CoreV1().Services(Namespace).Get(ctx, name, metav1.GetOptions{})
		if err = gerr; err == nil {
			if svc.Spec.Ports[0].Port == ServicePort {
				svc.Spec.Ports[0].Port = ServicePort + 1
			} else {
				svc.Spec.Ports[0].Port = ServicePort
			}
			_, err = c.cs.CoreV1().Services(Namespace).Update(ctx, svc, metav1.UpdateOptions{})
		}
	}
	if err != nil && !apierrors.IsConflict(err) && ctx.Err() == nil {
		c.apiErrors++
	}
}

// virtualServers gives the node's TCP virtual servers on the ports the churn uses.
func (t Target) virtualServers(ctx context.Context) (map[string]bool, error) {
	out, err := node.Output(ctx, t.Node, "ipvsadm", "-Ln")
	if err != nil {
		return nil, err
	}
	table, err := dataplane.ParseIPVSAdm(string(out))
	if err != nil {
		return nil, err
	}
	vs := map[string]bool{}
	for _, s := range table.Services {
		if s.Protocol == dataplane.TCP && (s.Port == ServicePort || s.Port == ServicePort+1) {
			vs[netip.AddrPortFrom(s.Address, s.Port).String()] = true
		}
	}
	return vs, nil
}

// compareWithAPI lists the virtual servers the churned Services should have and the node
// lacks, and those it has on their ports that no Service has any more.
func (t Target) compareWithAPI(ctx context.Context) (missing, stale []string, err error) {
	svcs, err := t.Client.CoreV1().Services(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	have, err := t.virtualServers(ctx)
	if err != nil {
		return nil, nil, err
	}
	want := map[string]bool{}
	for _, s := range svcs.Items {
		for _, p := range s.Spec.Ports {
			a := netip.AddrPortFrom(netip.MustParseAddr(s.Spec.ClusterIP), uint16(p.Port)).String()
			want[a] = true
			if !have[a] {
				missing = append(missing, a)
			}
		}
	}
	for a := range have {
		if !want[a] {
			stale = append(stale, a)
		}
	}
	return missing, stale, nil
}

func (t Target) soakSample(ctx context.Context, pid int) (soakSample, error) {
	var s soakSample
	status, err := node.Output(ctx, t.Node, "cat", fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	mem, err := ParseProcStatus(string(status))
	if err != nil {
		return s, err
	}
	s.rssKiB = mem.RSSKiB
	text, err := node.Output(ctx, t.Node, "curl", "-sS", "--fail", "--max-time", "20", t.MetricsURL+"/metrics")
	if err != nil {
		return s, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(text)))
	if err != nil {
		return s, fmt.Errorf("the proxier's /metrics: %w", err)
	}
	s.goroutines = int(sumOf(fams["go_goroutines"]))
	s.failedSyncs = int(sumOf(fams["kubeproxy_sync_proxy_rules_errors_total"]))
	m, err := ParseSyncMetrics(text, FamilyIPv4)
	if err != nil {
		return s, err
	}
	s.syncs = m.Syncs
	vs, err := t.virtualServers(ctx)
	s.virtual = len(vs)
	return s, err
}

// sumOf adds a gauge's or counter's series.
func sumOf(f *dto.MetricFamily) float64 {
	if f == nil {
		return 0
	}
	var v float64
	for _, m := range f.GetMetric() {
		v += m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	return v
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) (time.Duration, error) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			return time.Since(start), fmt.Errorf("not within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return time.Since(start), nil
}
