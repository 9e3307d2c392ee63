package proxy

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// seriesWith returns the series of a metric with exactly these labels; nil if none.
func seriesWith(t *testing.T, m *Metrics, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			if len(s.GetLabel()) == len(labels) && !slices.ContainsFunc(s.GetLabel(), func(l *dto.LabelPair) bool { return labels[l.GetName()] != l.GetValue() }) {
				return s
			}
		}
	}
	return nil
}

// histogramOf returns the series of a histogram with the given ip_family, nil if none.
func histogramOf(t *testing.T, m *Metrics, name, family string) *dto.Histogram {
	t.Helper()
	return seriesWith(t, m, name, map[string]string{"ip_family": family}).GetHistogram()
}

// kube-proxy's *_changes_pending: what the handlers took and no sync has taken yet.
// Services count once however often they change; EndpointSlice changes count each.
func TestChangesPending(t *testing.T) {
	f := newFakes(t)
	feed := newDirectFeed(t, f, seedConfig(t))
	m := feed.p.Metrics()
	pending := func() (services, endpoints float64) {
		return metricValue(t, m, "kubeproxy_sync_proxy_rules_service_changes_pending"),
			metricValue(t, m, "kubeproxy_sync_proxy_rules_endpoint_changes_pending")
	}
	web := svcObj("web", "10.96.0.20", 80)
	web2 := web.DeepCopy()
	web2.ResourceVersion = "2"
	web2.Spec.Ports[0].Port = 81
	feed.service(web, false)
	feed.service(web2, false)
	feed.service(svcObj("db", "10.96.0.21", 5432), false)
	a := sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.2", "node2"))
	a2 := a.DeepCopy()
	a2.ResourceVersion = "2"
	feed.slice(a, false)
	feed.slice(a2, false)
	feed.slice(sliceObj("db", "a", 5432, corev1.ProtocolTCP, ready("10.244.1.3", "node2")), false)
	if s, e := pending(); s != 2 || e != 3 {
		t.Errorf("before the sync: service changes pending %v, endpoint changes pending %v; expected 2 and 3", s, e)
	}
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	if s, e := pending(); s != 0 || e != 0 {
		t.Errorf("after the sync: service changes pending %v, endpoint changes pending %v; expected 0 and 0", s, e)
	}
	feed.service(web, true)
	if s, e := pending(); s != 1 || e != 0 {
		t.Errorf("after a deletion: service changes pending %v, endpoint changes pending %v; expected 1 and 0", s, e)
	}
}

// kubeproxy_network_programming_duration_seconds as kube-proxy's EndpointsChangeTracker
// computes it: one observation per EndpointSlice change that carries
// endpoints.kubernetes.io/last-change-trigger-time later than the proxier's start, made by
// the slice's family when its sync succeeds, with the time since the trigger.
func TestNetworkProgrammingLatency(t *testing.T) {
	now := time.Now()
	at := func(ago time.Duration) string { return now.Add(-ago).Format(time.RFC3339Nano) }
	slice := func(suffix, rv, trigger string) *discoveryv1.EndpointSlice {
		s := sliceObj("web", suffix, 8080, corev1.ProtocolTCP, ready("10.244.1.2", "node2"))
		s.ResourceVersion = rv
		if trigger != "" {
			s.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: trigger}
		}
		return s
	}
	slice6 := func(suffix, trigger string) *discoveryv1.EndpointSlice {
		s := sliceObj("web", suffix, 8080, corev1.ProtocolTCP, ready("fd00:244::2", "node2"))
		s.AddressType = discoveryv1.AddressTypeIPv6
		s.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: trigger}
		return s
	}
	fqdn := slice("f", "1", at(10*time.Second))
	fqdn.AddressType = discoveryv1.AddressTypeFQDN
	annotated := svcObj("web", "10.96.0.20", 80)
	annotated.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: at(10 * time.Second)}

	type event struct {
		slice   *discoveryv1.EndpointSlice
		deleted bool
		svc     *corev1.Service
	}
	tests := []struct {
		name     string
		families []int
		events   []event
		// failFirst makes the first sync fail; the retry must observe.
		failFirst bool
		// want are the latencies each family observes.
		want map[string][]time.Duration
	}{
		{name: "a new slice", events: []event{{slice: slice("a", "1", at(42*time.Second))}},
			want: map[string][]time.Duration{"IPv4": {42 * time.Second}}},
		{name: "every update before the sync counts", events: []event{
			{slice: slice("a", "1", at(50*time.Second))}, {slice: slice("a", "2", at(20*time.Second))}},
			want: map[string][]time.Duration{"IPv4": {50 * time.Second, 20 * time.Second}}},
		{name: "two slices of a Service", events: []event{
			{slice: slice("a", "1", at(30*time.Second))}, {slice: slice("b", "1", at(10*time.Second))}},
			want: map[string][]time.Duration{"IPv4": {30 * time.Second, 10 * time.Second}}},
		{name: "a trigger before the proxier started", events: []event{{slice: slice("a", "1", at(2*time.Hour))}}},
		{name: "no annotation", events: []event{{slice: slice("a", "1", "")}}},
		{name: "an unparsable annotation", events: []event{{slice: slice("a", "1", "yesterday")}}},
		{name: "a deleted slice drops its Service's pending times", events: []event{
			{slice: slice("a", "1", at(30*time.Second))}, {slice: slice("b", "1", at(20*time.Second))},
			{slice: slice("b", "1", at(20*time.Second)), deleted: true}}},
		{name: "a Service's annotation does not count", events: []event{{svc: annotated}}},
		{name: "each family observes its own slices", families: []int{4, 6}, events: []event{
			{slice: slice("a", "1", at(40*time.Second))}, {slice: slice6("b", at(15*time.Second))}, {slice: fqdn}},
			want: map[string][]time.Duration{"IPv4": {40 * time.Second}, "IPv6": {15 * time.Second}}},
		{name: "a slice of a family not proxied", events: []event{{slice: slice6("b", at(15*time.Second))}}},
		{name: "a failed sync observes nothing, its retry does", failFirst: true,
			events: []event{{slice: slice("a", "1", at(30*time.Second))}},
			want:   map[string][]time.Duration{"IPv4": {30 * time.Second}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t)
			fams := tc.families
			if fams == nil {
				fams = []int{4}
			}
			p, err := New(Options{Config: seedConfig(t), NodeName: "node1", Client: fake.NewClientset(), Kernel: f.k, Families: fams})
			if err != nil {
				t.Fatal(err)
			}
			p.started = now.Add(-time.Hour)
			p.initialized = true
			p.onNode(nodeObj("node1", testNodeIP.String()), false)
			web := svcObj("web", "10.96.0.20", 80)
			web.Spec.ClusterIPs = []string{"10.96.0.20", "fd00:96::20"}
			p.onService(web, false)
			for _, e := range tc.events {
				if e.svc != nil {
					p.onService(e.svc, e.deleted)
				} else {
					p.onSlice(nil, e.slice, e.deleted)
				}
			}
			if tc.failFirst {
				f.ipvs.FailNext("AddService", errors.New("injected"))
				if err := p.Sync(); err == nil {
					t.Fatal("the first sync succeeded despite the injected failure")
				}
				if h := histogramOf(t, p.Metrics(), "kubeproxy_network_programming_duration_seconds", "IPv4"); h.GetSampleCount() != 0 {
					t.Fatalf("a failed sync observed %d latencies", h.GetSampleCount())
				}
			}
			if err := p.Sync(); err != nil {
				t.Fatal(err)
			}
			// A sync without changes observes nothing more.
			if err := p.Sync(); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(now)
			for _, fam := range []string{"IPv4", "IPv6"} {
				want := tc.want[fam]
				h := histogramOf(t, p.Metrics(), "kubeproxy_network_programming_duration_seconds", fam)
				if got := h.GetSampleCount(); got != uint64(len(want)) {
					t.Errorf("%s: %d observations, expected %d (%v)", fam, got, len(want), want)
					continue
				}
				var sum time.Duration
				for _, w := range want {
					sum += w
				}
				// Each observation is its trigger's age when observed: at least the age
				// at the start of the test, at most that plus the test's run time.
				low, high := sum.Seconds(), (sum + time.Duration(len(want))*elapsed).Seconds()
				if got := h.GetSampleSum(); got < low || got > high {
					t.Errorf("%s: latencies sum to %.3fs, expected %.3fs to %.3fs (%v)", fam, got, low, high, want)
				}
			}
		})
	}
}

// kubeproxy_sync_proxy_rules_no_local_endpoints_total counts, per policy, the Services
// whose Local policy found endpoints but none on this node (the IPVS fallback then sends
// to all of them), each Service once whatever its ports, as kube-proxy counts them.
func TestNoLocalEndpoints(t *testing.T) {
	etpLocal := func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }
	itpLocal := func(s *corev1.Service) {
		s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	}
	twoPorts := func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, NodePort: 30443})
	}
	remote := sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.2", "node2"))
	local := sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.3.2", "node1"), ready("10.244.1.2", "node2"))
	notReady := sliceObj("web", "a", 8080, corev1.ProtocolTCP, endpointObj{ip: "10.244.1.2", node: "node2"})
	tests := []struct {
		name               string
		svc                *corev1.Service
		slice              *discoveryv1.EndpointSlice
		internal, external float64
	}{
		{"external Local, remote endpoints only", svcObj("web", "10.96.0.20", 80, withNodePort(30080), etpLocal), remote, 0, 1},
		{"external Local with a local endpoint", svcObj("web", "10.96.0.20", 80, withNodePort(30080), etpLocal), local, 0, 0},
		{"external Local, no usable endpoint", svcObj("web", "10.96.0.20", 80, withNodePort(30080), etpLocal), notReady, 0, 0},
		{"internal Local, remote endpoints only", svcObj("web", "10.96.0.20", 80, itpLocal), remote, 1, 0},
		{"both Local, two ports: counted once each", svcObj("web", "10.96.0.20", 80, withNodePort(30080), etpLocal, itpLocal, twoPorts), remote, 1, 1},
		{"external Local on a ClusterIP Service has no effect", svcObj("web", "10.96.0.20", 80, etpLocal), remote, 0, 0},
		{"Cluster policies", svcObj("web", "10.96.0.20", 80, withNodePort(30080)), remote, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t)
			feed := newDirectFeed(t, f, seedConfig(t))
			m := feed.p.Metrics()
			feed.service(tc.svc, false)
			feed.slice(tc.slice, false)
			feed.service(svcObj("other", "10.96.0.21", 80, withNodePort(30081), etpLocal), false)
			if err := feed.p.Sync(); err != nil {
				t.Fatal(err)
			}
			count := func(policy string) float64 {
				return gaugeWith(t, m, "kubeproxy_sync_proxy_rules_no_local_endpoints_total", map[string]string{"traffic_policy": policy, "ip_family": "IPv4"})
			}
			if in, ex := count("internal"), count("external"); in != tc.internal || ex != tc.external {
				t.Errorf("internal %v, external %v; expected %v and %v", in, ex, tc.internal, tc.external)
			}
			// An ordinary (incremental) sync counts the Service out again.
			feed.service(tc.svc, true)
			if err := feed.p.Sync(); err != nil {
				t.Fatal(err)
			}
			if in, ex := count("internal"), count("external"); in != 0 || ex != 0 {
				t.Errorf("after the Service's deletion: internal %v, external %v; expected 0", in, ex)
			}
		})
	}
}

// gaugeWith returns the value of the series of a gauge with exactly these labels; NaN if
// there is none.
func gaugeWith(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	s := seriesWith(t, m, name, labels)
	if s == nil {
		return math.NaN()
	}
	return s.GetGauge().GetValue()
}
