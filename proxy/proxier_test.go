package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/desired"
)

// seedNodeIP is node1's address in the seed's expected output (proxy/desired/testdata/seed).
var seedNodeIP = netip.MustParsePrefix("172.18.0.3/16")

func seedConfig(t testing.TB) config.Config {
	cfg := loadConfig(t, "kubeadm-config.conf")
	cfg.IPVS.MinSyncPeriod = 0
	cfg.IPVS.SyncPeriod = 30 * time.Second
	return cfg
}

// logBuffer collects a logger's lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestProxier(t testing.TB, f *fakes, cfg config.Config, objs ...runtime.Object) (*Proxier, *fake.Clientset, *logBuffer) {
	t.Helper()
	client := fake.NewClientset(objs...)
	logs := &logBuffer{}
	logger := funcr.New(func(prefix, args string) {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		logs.b.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 2})
	p, err := New(Options{Config: cfg, NodeName: "node1", Client: client, Kernel: f.k, Families: []int{4}, Logger: logger, RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return p, client, logs
}

// runProxier runs p until the test ends.
func runProxier(t *testing.T, p *Proxier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// eventually polls check until it returns "" and fails with its last answer otherwise.
func eventually(t *testing.T, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 10s:\n%s", what, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// seedState is the seed's node1 as proxy/desired/testdata/seed records it.
func seedState(t *testing.T) dataplane.State {
	t.Helper()
	return dataplane.State{
		IPVS:     parseSeed(t, "ipvsadm-Ln.txt", dataplane.ParseIPVSAdm),
		Links:    parseSeed(t, "ip-addr-kube-ipvs0.txt", dataplane.ParseIPAddr),
		IPSets:   parseSeed(t, "ipset-save.txt", dataplane.ParseIPSetSave),
		IPTables: parseSeed(t, "iptables-save.txt", dataplane.ParseIPTablesSave),
	}
}

// parseSeed parses the seed's record name with parse.
func parseSeed[T any](t *testing.T, name string, parse func(string) (T, error)) T {
	t.Helper()
	v, err := parse(fixture.ReadRepo(t, "proxy/desired/testdata/seed/"+name))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return v
}

// kernelDiff compares the fakes with want: IPVS, kube-ipvs0, sets and IPv4 nat+filter
// (of the built-in chains, the rules want lists).
func kernelDiff(t *testing.T, f *fakes, want dataplane.State) string {
	got := onlyOurs(f.state(t), want)
	got.IP6Tables = dataplane.Ruleset{}
	want.IP6Tables = dataplane.Ruleset{}
	for _, w := range [](*dataplane.State){&want, &got} {
		for i := range w.Links {
			w.Links[i].Kind, w.Links[i].Up = "", false
		}
	}
	return sameDataplane(want, got)
}

// The seed tutorial's section 4.1 through the whole proxier: the Pod, the NodePort Service
// and node1 in a fake API server, fakes for the kernel; the kernel ends up holding exactly
// the seed's table (and what kube-proxy writes besides it), with health and metrics up.
func TestProxierSeed(t *testing.T) {
	f := newFakesOn(t, seedNodeIP)
	svc := svcObj("service-test1", "10.106.71.137", 80, withNodePort(30089))
	svc.Spec.Selector = map[string]string{"app": "my-nginx"}
	slice := sliceObj("service-test1", "x7k2p", 80, corev1.ProtocolTCP, ready("10.244.3.214", "node1"))
	p, _, _ := newTestProxier(t, f, seedConfig(t), svc, slice, nodeObj("node1", "172.18.0.3"))
	runProxier(t, p)

	want := seedState(t)
	eventually(t, "the kernel holds the seed's table", func() string { return kernelDiff(t, f, want) })

	got := f.state(t)
	table := dataplane.FormatIPVSAdm(got.IPVS, false)
	fixture.Contains(t, "ipvsadm -Ln of the seed's Service", table, "TCP  10.106.71.137:80 rr\n  -> 10.244.3.214:80              Masq    1      0          0")
	if s := dataplane.FormatIPTablesS(got.IPTables, "nat", "KUBE-NODE-PORT"); !strings.Contains(s,
		`-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`) {
		t.Errorf("iptables -t nat -S KUBE-NODE-PORT:\n%s", s)
	}

	// Health and metrics.
	hs := httptest.NewServer(HealthMux(p.Health(), p.Metrics()))
	defer hs.Close()
	if code, body := httpGet(t, hs.URL+"/healthz"); code != http.StatusOK || !strings.Contains(body, `"healthy":true`) {
		t.Errorf("/healthz = %d %s, want 200 healthy", code, body)
	}
	ms := httptest.NewServer(MetricsMux(p.Metrics()))
	defer ms.Close()
	if code, body := httpGet(t, ms.URL+"/proxyMode"); code != http.StatusOK || body != "ipvs" {
		t.Errorf("/proxyMode = %d %q, want 200 \"ipvs\"", code, body)
	}
	_, metrics := httpGet(t, ms.URL+"/metrics")
	for _, want := range []string{
		`kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"}`,
		`kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"}`,
		`kubeproxy_ipvs_programmed_objects{ip_family="IPv4",kind="virtual_servers"} 2`,
		`kubeproxy_ipvs_programmed_objects{ip_family="IPv4",kind="real_servers"} 2`,
		`kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv4",table="nat"} 14`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// computeFor is the oracle of the table tests: what package desired computes for the
// objects, on the test node.
func computeFor(t *testing.T, cfg config.Config, objs []runtime.Object) dataplane.State {
	t.Helper()
	var in desired.Input
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			if _, ok := o.Labels[desired.LabelServiceProxyName]; ok {
				continue
			}
			in.Services = append(in.Services, o)
		case *discoveryv1.EndpointSlice:
			in.Slices = append(in.Slices, o)
		}
	}
	in.NodeName, in.Family, in.Config = "node1", 4, cfg
	in.NodeIP = testNodeIP
	in.NodeAddresses = []netip.Addr{testNodeIP, testNodeIP6}
	in.NodePodCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.3.0/24")}
	return desired.Compute(in).State
}

// Services and EndpointSlices go through the fake API server, informers and the proxier
// into the fake kernel; after each change the kernel holds what package desired computes,
// and the explicitly listed virtual servers.
func TestProxierServicesAndSlices(t *testing.T) {
	dns := svcObj("kube-dns", "10.96.0.10", 53, withProtocol(corev1.ProtocolUDP))
	dnsSlice := sliceObj("kube-dns", "a", 53, corev1.ProtocolUDP, ready("10.244.1.2", "node2"), ready("10.244.3.3", "node1"))
	web := svcObj("web", "10.96.100.10", 80)
	webSlice := sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2"), endpointObj{ip: "10.244.2.6", node: "node3"})
	headless := svcObj("headless", corev1.ClusterIPNone, 80)
	other := svcObj("other-proxy", "10.96.100.20", 80)
	other.Labels = map[string]string{desired.LabelServiceProxyName: "someone-else"}

	type step struct {
		name   string
		apply  func(ctx context.Context, c *fake.Clientset) error
		objs   []runtime.Object // the objects after the step
		wantVS []string         // ipvsadm-like "TCP 10.96.100.10:80 -> 10.244.1.5:8080"
	}
	steps := []step{
		{
			name:   "initial objects: not-ready endpoints, headless and other proxies' Services are left out",
			objs:   []runtime.Object{dns, dnsSlice, web, webSlice, headless, other},
			wantVS: []string{"UDP 10.96.0.10:53 -> 10.244.1.2:53 10.244.3.3:53", "TCP 10.96.100.10:80 -> 10.244.1.5:8080"},
		},
		{
			name: "an endpoint turns ready",
			apply: func(ctx context.Context, c *fake.Clientset) error {
				s := sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2"), ready("10.244.2.6", "node3"))
				s.ResourceVersion = "2" // the fake API server does not bump it; a real one does
				_, err := c.DiscoveryV1().EndpointSlices("default").Update(ctx, s, metav1.UpdateOptions{})
				return err
			},
			objs:   []runtime.Object{dns, dnsSlice, web, sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2"), ready("10.244.2.6", "node3"))},
			wantVS: []string{"UDP 10.96.0.10:53 -> 10.244.1.2:53 10.244.3.3:53", "TCP 10.96.100.10:80 -> 10.244.1.5:8080 10.244.2.6:8080"},
		},
		{
			name: "the Service becomes a NodePort",
			apply: func(ctx context.Context, c *fake.Clientset) error {
				svc := svcObj("web", "10.96.100.10", 80, withNodePort(30080))
				svc.ResourceVersion = "2"
				_, err := c.CoreV1().Services("default").Update(ctx, svc, metav1.UpdateOptions{})
				return err
			},
			objs: []runtime.Object{dns, dnsSlice, svcObj("web", "10.96.100.10", 80, withNodePort(30080)), sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2"), ready("10.244.2.6", "node3"))},
			wantVS: []string{"UDP 10.96.0.10:53 -> 10.244.1.2:53 10.244.3.3:53", "TCP 10.96.100.10:80 -> 10.244.1.5:8080 10.244.2.6:8080",
				"TCP 10.0.2.15:30080 -> 10.244.1.5:8080 10.244.2.6:8080"},
		},
		{
			name: "the slice goes: virtual servers stay without real servers",
			apply: func(ctx context.Context, c *fake.Clientset) error {
				return c.DiscoveryV1().EndpointSlices("default").Delete(ctx, "web-a", metav1.DeleteOptions{})
			},
			objs:   []runtime.Object{dns, dnsSlice, svcObj("web", "10.96.100.10", 80, withNodePort(30080))},
			wantVS: []string{"UDP 10.96.0.10:53 -> 10.244.1.2:53 10.244.3.3:53", "TCP 10.96.100.10:80 ->", "TCP 10.0.2.15:30080 ->"},
		},
		{
			name: "the Service goes",
			apply: func(ctx context.Context, c *fake.Clientset) error {
				return c.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{})
			},
			objs:   []runtime.Object{dns, dnsSlice},
			wantVS: []string{"UDP 10.96.0.10:53 -> 10.244.1.2:53 10.244.3.3:53"},
		},
	}

	f := newFakes(t)
	cfg := seedConfig(t)
	p, client, _ := newTestProxier(t, f, cfg, append(steps[0].objs, nodeObj("node1", testNodeIP.String()))...)
	runProxier(t, p)
	ctx := context.Background()
	for _, st := range steps {
		if st.apply != nil {
			if err := st.apply(ctx, client); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		want := computeFor(t, cfg, st.objs)
		eventually(t, st.name, func() string { return kernelDiff(t, f, want) })
		if got := vsLines(f.state(t)); !slices.Equal(got, sortedStrings(st.wantVS)) {
			t.Errorf("%s: virtual servers\n%s\nwant\n%s", st.name, strings.Join(got, "\n"), strings.Join(sortedStrings(st.wantVS), "\n"))
		}
	}
}

// vsLines renders virtual servers as "TCP 10.96.0.1:443 -> 10.0.2.2:6443 ...", sorted.
func vsLines(s dataplane.State) []string {
	var out []string
	for _, vs := range s.IPVS.Services {
		line := vs.Key().String() + " ->"
		for _, rs := range vs.RealServers {
			line += " " + rs.Key().String()
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}

// directFeed feeds objects straight into the proxier's handlers (no informers), for
// the deterministic syncs the property test and the benchmarks drive.
type directFeed struct {
	p *Proxier
}

func newDirectFeed(t testing.TB, f *fakes, cfg config.Config) *directFeed {
	p, _, _ := newTestProxier(t, f, cfg)
	p.initialized = true
	p.onNode(nodeObj("node1", testNodeIP.String()), false)
	return &directFeed{p: p}
}

func (d *directFeed) service(s *corev1.Service, deleted bool) { d.p.onService(s, deleted) }

func (d *directFeed) slice(s *discoveryv1.EndpointSlice, deleted bool) {
	d.p.onSlice(nil, s, deleted)
}

// TestProxierIncrementalEqualsFromScratch applies a few hundred random Service and
// EndpointSlice changes through the proxier's ordinary (incremental) syncs, with a periodic
// full sync every ten, and checks after each that the kernel holds what a fresh proxier's
// full sync into fresh fakes produces.
func TestProxierIncrementalEqualsFromScratch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	cfg := seedConfig(t)
	f := newFakes(t)
	feed := newDirectFeed(t, f, cfg)
	world := newRandomWorld()
	for step := range 300 {
		world.mutate(rng, feed)
		if err := feed.p.Sync(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if step > 0 && feed.p.lastFull.IsZero() {
			t.Fatal("no full sync happened")
		}
		if step%10 == 9 {
			// A periodic full sync applies the whole state as assembled, not recomputed.
			feed.p.needFull = true
			if err := feed.p.Sync(); err != nil {
				t.Fatalf("step %d (full sync): %v", step, err)
			}
		}
		ref := newFakes(t)
		refFeed := newDirectFeed(t, ref, cfg)
		world.feedAll(refFeed)
		if err := refFeed.p.Sync(); err != nil {
			t.Fatalf("step %d (reference): %v", step, err)
		}
		if d := sameDataplane(ref.state(t), f.state(t)); d != "" {
			t.Fatalf("step %d (%s): the incremental result differs from a sync from scratch:\n%s", step, world.last, d)
		}
	}
	// The syncs after the first were ordinary ones.
	if feed.p.needFull {
		t.Error("the proxier wants a full sync after successful ones")
	}
}

// randomWorld is a small cluster changing at random: Services of several kinds and their
// slices, endpoints local and remote, ready or not.
type randomWorld struct {
	services map[string]*corev1.Service
	slices   map[string]*discoveryv1.EndpointSlice
	last     string
}

func newRandomWorld() *randomWorld {
	return &randomWorld{services: map[string]*corev1.Service{}, slices: map[string]*discoveryv1.EndpointSlice{}}
}

func (w *randomWorld) mutate(rng *rand.Rand, feed *directFeed) {
	i := rng.IntN(25)
	name := "svc" + string(rune('a'+i))
	switch op := rng.IntN(10); {
	case op < 3 || w.services[name] == nil:
		opts := []func(*corev1.Service){}
		switch rng.IntN(6) {
		case 0, 1:
			opts = append(opts, withNodePort(int32(30000+i)))
		case 2:
			// Shared external IPs: Services claim one virtual server and one address.
			opts = append(opts, withExternalIPs([]string{"192.0.2.10", "192.0.2.11"}[:1+rng.IntN(2)]...))
		case 3:
			// Source ranges that leave the node out add drop rules to KUBE-IPVS-OUT-FILTER.
			ranges := [][]string{nil, {"203.0.113.0/24"}, {"10.0.2.0/24"}}[rng.IntN(3)]
			opts = append(opts, withLoadBalancer(int32(31000+i), netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + rng.IntN(3))}).String(), ranges...))
		}
		if rng.IntN(4) == 0 {
			opts = append(opts, withProtocol(corev1.ProtocolUDP))
		}
		s := svcObj(name, netip.AddrFrom4([4]byte{10, 96, 1, byte(i + 1)}).String(), int32(80+rng.IntN(2)), opts...)
		w.services[name], w.last = s, "service "+name+" set"
		feed.service(s, false)
	case op < 8:
		proto := w.services[name].Spec.Ports[0].Protocol
		var eps []endpointObj
		for range rng.IntN(4) {
			node := []string{"node1", "node2"}[rng.IntN(2)]
			eps = append(eps, endpointObj{ip: netip.AddrFrom4([4]byte{10, 244, byte(rng.IntN(3)), byte(rng.IntN(8) + 1)}).String(), node: node, ready: rng.IntN(5) != 0})
		}
		suffix := []string{"a", "b"}[rng.IntN(2)]
		s := sliceObj(name, suffix, int32(8080+rng.IntN(2)), proto, eps...)
		if rng.IntN(6) == 0 {
			delete(w.slices, s.Name)
			w.last = "slice " + s.Name + " deleted"
			feed.slice(s, true)
			return
		}
		w.slices[s.Name], w.last = s, "slice "+s.Name+" set"
		feed.slice(s, false)
	default:
		w.last = "service " + name + " deleted"
		feed.service(w.services[name], true)
		delete(w.services, name)
	}
}

func (w *randomWorld) feedAll(feed *directFeed) {
	for _, s := range w.services {
		feed.service(s, false)
	}
	for _, s := range w.slices {
		feed.slice(s, false)
	}
}

// A restarted proxier adopts the kernel its predecessor programmed: its first (full) sync
// changes nothing.
func TestProxierRestartAdopts(t *testing.T) {
	cfg := seedConfig(t)
	f := newFakes(t)
	objs := []*corev1.Service{
		svcObj("web", "10.96.100.10", 80, withNodePort(30080)),
		svcObj("dns", "10.96.0.10", 53, withProtocol(corev1.ProtocolUDP)),
	}
	slicesList := []*discoveryv1.EndpointSlice{
		sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.3.5", "node1"), ready("10.244.1.5", "node2")),
		sliceObj("dns", "a", 53, corev1.ProtocolUDP, ready("10.244.1.2", "node2")),
	}
	for range 2 {
		feed := newDirectFeed(t, f, cfg)
		for _, s := range objs {
			feed.service(s, false)
		}
		for _, s := range slicesList {
			feed.slice(s, false)
		}
		f.resetCalls()
		if err := feed.p.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if calls := f.calls(); len(calls) != 0 {
		t.Errorf("the restarted proxier changed a kernel that was already right:\n%s", strings.Join(calls, "\n"))
	}
}

// A failing ipset add: the rest is applied, the failure is logged with its object, the
// sync is retried, and health turns bad after repeated failures and good again after.
func TestProxierFaultInjection(t *testing.T) {
	cfg := seedConfig(t)
	f := newFakes(t)
	feed := newDirectFeed(t, f, cfg)
	p := feed.p
	logs := &logBuffer{}
	p.log = funcr.New(func(prefix, args string) {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		logs.b.WriteString(args + "\n")
	}, funcr.Options{})
	for _, r := range p.reconcilers {
		r.log = p.log
	}
	feed.service(svcObj("web", "10.96.100.10", 80), false)
	feed.slice(sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2")), false)

	injected := errors.New("injected: ipset add refused")
	for i := range DefaultFailureThreshold {
		// Each sync adds KUBE-CLUSTER-IP's member in a batch of one; fail it every time.
		f.ipsets.FailNext("Add", injected)
		err := p.syncAndRecord()
		if !errors.Is(err, injected) {
			t.Fatalf("sync %d: error %v, want the injected one", i, err)
		}
		healthy := p.Health().Status().Healthy
		if want := i+1 < DefaultFailureThreshold; healthy != want {
			t.Errorf("after %d failed syncs healthy = %t, want %t", i+1, healthy, want)
		}
	}
	if !strings.Contains(logs.String(), `"object"="KUBE-CLUSTER-IP 10.96.100.10,tcp:80"`) {
		t.Errorf("the failure was not logged with its object:\n%s", logs.String())
	}
	got := f.state(t)
	if vs, ok := got.IPVS.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.100.10"), Port: 80}); !ok || len(vs.RealServers) != 1 {
		t.Errorf("the virtual server was not programmed next to the failing set member: %+v", vs)
	}
	if got := metricValue(t, p.Metrics(), "kubeproxy_sync_proxy_rules_errors_total"); got != float64(DefaultFailureThreshold) {
		t.Errorf("kubeproxy_sync_proxy_rules_errors_total = %v, want %d", got, DefaultFailureThreshold)
	}
	if !p.needFull {
		t.Error("after a failed sync the next one is not full")
	}

	// The fault clears: the retry applies the member and health recovers.
	if err := p.syncAndRecord(); err != nil {
		t.Fatal(err)
	}
	if !p.Health().Status().Healthy {
		t.Error("health did not recover after a successful sync")
	}
	if set, _ := f.state(t).IPSet("KUBE-CLUSTER-IP"); !set.HasMember("10.96.100.10,tcp:80") {
		t.Errorf("KUBE-CLUSTER-IP = %v after the retry", set.Members)
	}
}

// metricValue sums a metric's series: counters and gauges by value, histograms by their
// sample count.
func metricValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mm := range mf.GetMetric() {
			switch {
			case mm.GetCounter() != nil:
				sum += mm.GetCounter().GetValue()
			case mm.GetGauge() != nil:
				sum += mm.GetGauge().GetValue()
			case mm.GetHistogram() != nil:
				sum += float64(mm.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// Graceful termination through the proxier: a TCP endpoint that goes while it has
// connections keeps weight 0 until they end; a UDP one goes at once.
func TestProxierGracefulTermination(t *testing.T) {
	cfg := seedConfig(t)
	f := newFakes(t)
	feed := newDirectFeed(t, f, cfg)
	feed.service(svcObj("web", "10.96.100.10", 80), false)
	feed.service(svcObj("dns", "10.96.0.10", 53, withProtocol(corev1.ProtocolUDP)), false)
	feed.slice(sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2"), ready("10.244.2.6", "node3")), false)
	feed.slice(sliceObj("dns", "a", 53, corev1.ProtocolUDP, ready("10.244.1.2", "node2"), ready("10.244.2.3", "node3")), false)
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	web := dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.100.10"), Port: 80}
	dns := dataplane.ServiceKey{Protocol: dataplane.UDP, Address: netip.MustParseAddr("10.96.0.10"), Port: 53}
	if err := f.ipvs.SetConnections(web, netip.MustParseAddrPort("10.244.2.6:8080"), 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.ipvs.SetConnections(dns, netip.MustParseAddrPort("10.244.2.3:53"), 0, 5); err != nil {
		t.Fatal(err)
	}
	feed.slice(sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2")), false)
	feed.slice(sliceObj("dns", "a", 53, corev1.ProtocolUDP, ready("10.244.1.2", "node2")), false)
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := vsWeights(t, f, web); !slices.Equal(got, []string{"10.244.1.5:8080=1", "10.244.2.6:8080=0"}) {
		t.Errorf("TCP real servers = %v, want the leaving one at weight 0", got)
	}
	if got := vsWeights(t, f, dns); !slices.Equal(got, []string{"10.244.1.2:53=1"}) {
		t.Errorf("UDP real servers = %v, want the leaving one gone at once", got)
	}
	if err := f.ipvs.SetConnections(web, netip.MustParseAddrPort("10.244.2.6:8080"), 0, 0); err != nil {
		t.Fatal(err)
	}
	feed.p.needFull = true // the periodic full sync rereads the counters
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := vsWeights(t, f, web); !slices.Equal(got, []string{"10.244.1.5:8080=1"}) {
		t.Errorf("TCP real servers = %v after the connections ended, want the leaving one deleted", got)
	}
}

func vsWeights(t *testing.T, f *fakes, key dataplane.ServiceKey) []string {
	t.Helper()
	vs, ok := f.state(t).IPVS.Service(key)
	if !ok {
		t.Fatalf("virtual server %s missing", key)
	}
	var out []string
	for _, rs := range vs.RealServers {
		out = append(out, rs.Key().String()+"="+strconv.Itoa(rs.Weight))
	}
	slices.Sort(out)
	return out
}

// The node's labels and addresses feed every Service: a change recomputes all of them.
func TestProxierNodeChangeRecomputes(t *testing.T) {
	cfg := seedConfig(t)
	f := newFakes(t)
	feed := newDirectFeed(t, f, cfg)
	feed.service(svcObj("web", "10.96.100.10", 80, withNodePort(30080)), false)
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	// A second node address appears; the next full sync puts the NodePort on it too.
	if err := f.links.AddAddress("eth0", netip.MustParsePrefix("10.0.3.15/24")); err != nil {
		t.Fatal(err)
	}
	feed.p.needFull = true
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.state(t).IPVS.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.0.3.15"), Port: 30080}); !ok {
		t.Error("NodePort virtual server missing on the new node address")
	}
}

func TestDetectFamilies(t *testing.T) {
	cfg := seedConfig(t)
	tests := []struct {
		name  string
		eth0  []netip.Prefix
		setup func(f *fakes)
		want  []int
	}{
		{name: "global IPv4 and IPv6 addresses", want: []int{4, 6}},
		{
			// Kube-proxy's rule: no IPv6 address yet (autoconfiguration still running) is
			// no reason to run single-stack.
			name: "no global IPv6 address yet",
			eth0: []netip.Prefix{netip.MustParsePrefix("10.0.2.15/24"), netip.MustParsePrefix("fe80::1/64")},
			want: []int{4, 6},
		},
		{name: "IPv6 disabled", setup: func(f *fakes) { f.sysctl.Define(sysctlDisableIPv6, "1") }, want: []int{4}},
		{name: "no kernel IPv6", setup: func(f *fakes) { f.sysctl.Remove(sysctlDisableIPv6) }, want: []int{4}},
		{name: "ip6tables fails", setup: func(f *fakes) { f.iptables.FailNext("Save", errInjected) }, want: []int{4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t)
			if tc.eth0 != nil {
				f = newFakesOn(t, tc.eth0...)
			}
			if tc.setup != nil {
				tc.setup(f)
			}
			fams, err := DetectFamilies(f.k, cfg)
			if err != nil || !slices.Equal(fams, tc.want) {
				t.Errorf("families %v, %v; want %v", fams, err, tc.want)
			}
		})
	}
	f := newFakes(t)
	f.sysctl.FailNext("Get", errInjected)
	if _, err := DetectFamilies(f.k, cfg); !errors.Is(err, errInjected) {
		t.Errorf("unreadable %s: error %v, want the read error", sysctlDisableIPv6, err)
	}
}

func TestResyncIsNotAChange(t *testing.T) {
	a := svcObj("web", "10.96.100.10", 80)
	b := svcObj("web", "10.96.100.10", 80)
	if !resync(a, b) {
		t.Error("the same resource version was taken for a change")
	}
	b.ResourceVersion = "2"
	if resync(a, b) {
		t.Error("a new resource version was taken for a resync")
	}
	a.ResourceVersion, b.ResourceVersion = "", ""
	if resync(a, b) {
		t.Error("objects without a resource version (fakes, tests) were taken for a resync")
	}
}

func TestTrimForCache(t *testing.T) {
	svc := svcObj("web", "10.96.100.10", 80)
	svc.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	svc.Annotations = map[string]string{lastAppliedAnnotation: `{"kind":"Service"}`, "keep": "me"}
	got, err := trimForCache(svc)
	if err != nil {
		t.Fatal(err)
	}
	out := got.(*corev1.Service)
	if out.ManagedFields != nil {
		t.Errorf("managed fields kept: %v", out.ManagedFields)
	}
	if want := map[string]string{"keep": "me"}; !maps.Equal(out.Annotations, want) {
		t.Errorf("annotations %v, want %v", out.Annotations, want)
	}
	if out.Spec.ClusterIP != "10.96.100.10" {
		t.Errorf("spec changed: %+v", out.Spec)
	}
	// A tombstone or anything else passes through untouched.
	tomb := cache.DeletedFinalStateUnknown{Key: "default/web"}
	if got, err := trimForCache(tomb); err != nil || got != tomb {
		t.Errorf("tombstone: %v, %v", got, err)
	}
}
