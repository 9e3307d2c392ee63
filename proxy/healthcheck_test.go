package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/desired"
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// testLogger returns a logger writing into a buffer the test can read.
func testLogger() (klog.Logger, *logBuffer) {
	logs := &logBuffer{}
	return funcr.New(func(prefix, args string) {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		logs.b.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 3}), logs
}

// answer is one health check response.
type answer struct {
	code   int
	header http.Header
	body   string
	reused bool
}

// get asks port on 127.0.0.1 with client; an error means nothing answered.
func get(client *http.Client, port uint16) (answer, error) {
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet,
		"http://127.0.0.1:"+strconv.Itoa(int(port))+"/", nil)
	if err != nil {
		return answer{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: string(body), reused: reused}, nil
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableKeepAlives: false, MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// healthBody is kube-proxy's body, as its service health server prints it.
func healthBody(ns, name string, n int, healthy bool) string {
	return "{\n\t\"service\": {\n\t\t\"namespace\": \"" + ns + "\",\n\t\t\"name\": \"" + name + "\"\n\t},\n" +
		"\t\"localEndpoints\": " + strconv.Itoa(n) + ",\n\t\"serviceProxyHealthy\": " + strconv.FormatBool(healthy) + "\n}"
}

func TestServiceHealthAnswers(t *testing.T) {
	nn := types.NamespacedName{Namespace: "shop", Name: "web"}
	tests := []struct {
		name           string
		localEndpoints int
		unhealthy      bool
		wantCode       int
	}{
		{name: "local endpoints", localEndpoints: 3, wantCode: http.StatusOK},
		{name: "one local endpoint", localEndpoints: 1, wantCode: http.StatusOK},
		{name: "no local endpoint", localEndpoints: 0, wantCode: http.StatusServiceUnavailable},
		{name: "local endpoints but the proxier is unhealthy", localEndpoints: 2, unhealthy: true, wantCode: http.StatusServiceUnavailable},
		{name: "neither", localEndpoints: 0, unhealthy: true, wantCode: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			health := NewHealth(time.Minute, 1, nil)
			if tt.unhealthy {
				health.Failed(errors.New("iptables-restore: exit status 1"))
			}
			log, _ := testLogger()
			s := NewServiceHealthServers(health, log)
			defer s.Close()
			port := freePort(t)
			s.Sync([]netip.Addr{loopback4}, map[types.NamespacedName]ServiceHealthCheck{nn: {Port: port, LocalEndpoints: tt.localEndpoints}})
			got, err := get(newClient(t), port)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if got.code != tt.wantCode {
				t.Errorf("status %d, want %d", got.code, tt.wantCode)
			}
			wantHeaders := map[string]string{
				"Content-Type":                     "application/json",
				"X-Content-Type-Options":           "nosniff",
				"X-Load-Balancing-Endpoint-Weight": strconv.Itoa(tt.localEndpoints),
			}
			for k, v := range wantHeaders {
				if got.header.Get(k) != v {
					t.Errorf("header %s: %q, want %q", k, got.header.Get(k), v)
				}
			}
			if want := healthBody("shop", "web", tt.localEndpoints, !tt.unhealthy); got.body != want {
				t.Errorf("body\n%s\nwant\n%s", got.body, want)
			}
		})
	}
}

// TestServiceHealthSync walks one set of servers through Service changes; after each step
// the listed ports answer with their counts and the closed ones refuse connections.
func TestServiceHealthSync(t *testing.T) {
	a := types.NamespacedName{Namespace: "default", Name: "a"}
	b := types.NamespacedName{Namespace: "default", Name: "b"}
	p1, p2, p3 := freePort(t), freePort(t), freePort(t)
	type want struct {
		port   uint16
		count  int   // -1: the port must refuse connections
		reused *bool // whether the previous step's connection must be reused
	}
	steps := []struct {
		name   string
		wanted map[types.NamespacedName]ServiceHealthCheck
		want   []want
	}{
		{
			name:   "two Services open",
			wanted: map[types.NamespacedName]ServiceHealthCheck{a: {Port: p1, LocalEndpoints: 1}, b: {Port: p2}},
			want:   []want{{port: p1, count: 1}, {port: p2, count: 0}, {port: p3, count: -1}},
		},
		{
			name:   "counts change without reopening",
			wanted: map[types.NamespacedName]ServiceHealthCheck{a: {Port: p1, LocalEndpoints: 4}, b: {Port: p2, LocalEndpoints: 2}},
			want:   []want{{port: p1, count: 4, reused: ptr.To(true)}, {port: p2, count: 2, reused: ptr.To(true)}},
		},
		{
			name:   "a port change closes the old port and opens the new one",
			wanted: map[types.NamespacedName]ServiceHealthCheck{a: {Port: p3, LocalEndpoints: 4}, b: {Port: p2, LocalEndpoints: 2}},
			want:   []want{{port: p1, count: -1}, {port: p3, count: 4, reused: ptr.To(false)}, {port: p2, count: 2, reused: ptr.To(true)}},
		},
		{
			name:   "a removed Service closes its port",
			wanted: map[types.NamespacedName]ServiceHealthCheck{a: {Port: p3, LocalEndpoints: 4}},
			want:   []want{{port: p2, count: -1}, {port: p3, count: 4, reused: ptr.To(true)}, {port: p1, count: -1}},
		},
		{
			name:   "nothing wanted",
			wanted: nil,
			want:   []want{{port: p1, count: -1}, {port: p2, count: -1}, {port: p3, count: -1}},
		},
	}
	log, _ := testLogger()
	s := NewServiceHealthServers(nil, log)
	defer s.Close()
	client := newClient(t)
	for _, st := range steps {
		s.Sync([]netip.Addr{loopback4}, st.wanted)
		for _, w := range st.want {
			got, err := get(client, w.port)
			if w.count < 0 {
				if err == nil {
					t.Errorf("%s: port %d answered %d, want it closed", st.name, w.port, got.code)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: port %d: %v", st.name, w.port, err)
				continue
			}
			wantCode := http.StatusOK
			if w.count == 0 {
				wantCode = http.StatusServiceUnavailable
			}
			if got.code != wantCode || got.header.Get("X-Load-Balancing-Endpoint-Weight") != strconv.Itoa(w.count) {
				t.Errorf("%s: port %d answered %d with weight %s, want %d with %d", st.name, w.port, got.code, got.header.Get("X-Load-Balancing-Endpoint-Weight"), wantCode, w.count)
			}
			if w.reused != nil && got.reused != *w.reused {
				t.Errorf("%s: port %d: connection reused %t, want %t", st.name, w.port, got.reused, *w.reused)
			}
		}
		var wantListening []string
		for nn, hc := range st.wanted {
			wantListening = append(wantListening, nn.String()+"="+netip.AddrPortFrom(loopback4, hc.Port).String())
		}
		if got := listening(s); !slices.Equal(got, sortedStrings(wantListening)) {
			t.Errorf("%s: listening %v, want %v", st.name, got, sortedStrings(wantListening))
		}
	}
}

func listening(s *ServiceHealthServers) []string {
	var out []string
	for nn, addrs := range s.Listening() {
		for _, a := range addrs {
			out = append(out, nn.String()+"="+a.String())
		}
	}
	slices.Sort(out)
	return out
}

// A port taken by someone else is logged and retried at the next sync; the other
// Services are served meanwhile.
func TestServiceHealthPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := uint16(taken.Addr().(*net.TCPAddr).Port)
	free := freePort(t)
	a := types.NamespacedName{Namespace: "default", Name: "a"}
	b := types.NamespacedName{Namespace: "default", Name: "b"}
	wanted := map[types.NamespacedName]ServiceHealthCheck{a: {Port: busy, LocalEndpoints: 1}, b: {Port: free, LocalEndpoints: 1}}

	log, logs := testLogger()
	s := NewServiceHealthServers(nil, log)
	defer s.Close()
	s.Sync([]netip.Addr{loopback4}, wanted)
	if got, want := listening(s), []string{"default/b=127.0.0.1:" + strconv.Itoa(int(free))}; !slices.Equal(got, want) {
		t.Fatalf("listening %v, want %v", got, want)
	}
	line := ""
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, "Failed to open the health check node port") {
			line = l
		}
	}
	for _, want := range []string{`"service"={"name"="a" "namespace"="default"}`, `"port"=` + strconv.Itoa(int(busy)), "address already in use"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %s; logs:\n%s", line, want, logs.String())
		}
	}
	if got, err := get(newClient(t), free); err != nil || got.code != http.StatusOK {
		t.Errorf("the other Service's port: %d, %v; want 200", got.code, err)
	}

	taken.Close()
	s.Sync([]netip.Addr{loopback4}, wanted)
	if got, err := get(newClient(t), busy); err != nil || got.code != http.StatusOK {
		t.Errorf("after the port was freed: %d, %v; want 200", got.code, err)
	}
}

// Listeners follow the listen addresses: a change reopens every port on the new ones.
func TestServiceHealthAddressesChange(t *testing.T) {
	port := freePort(t)
	nn := types.NamespacedName{Namespace: "default", Name: "a"}
	wanted := map[types.NamespacedName]ServiceHealthCheck{nn: {Port: port, LocalEndpoints: 1}}
	log, _ := testLogger()
	s := NewServiceHealthServers(nil, log)
	defer s.Close()
	s.Sync(nil, wanted)
	if got := listening(s); len(got) != 0 {
		t.Errorf("no address: listening %v, want nothing", got)
	}
	if _, err := get(newClient(t), port); err == nil {
		t.Error("no address: the port answers")
	}
	s.Sync([]netip.Addr{loopback4}, wanted)
	if got, err := get(newClient(t), port); err != nil || got.code != http.StatusOK {
		t.Errorf("on 127.0.0.1: %d, %v; want 200", got.code, err)
	}
	s.Close()
	if _, err := get(newClient(t), port); err == nil {
		t.Error("after Close the port answers")
	}
}

func TestServiceHealthCheckOf(t *testing.T) {
	lbLocal := func(opts ...func(*corev1.Service)) *corev1.Service {
		return svcObj("web", "10.96.0.20", 80, append([]func(*corev1.Service){
			withLoadBalancer(30080, "198.51.100.1"),
			func(s *corev1.Service) {
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				s.Spec.HealthCheckNodePort = 32000
			},
		}, opts...)...)
	}
	notReady := func(ip, node string) endpointObj { return endpointObj{ip: ip, node: node} }
	mixed := sliceObj("web", "a", 8080, corev1.ProtocolTCP,
		ready("10.244.3.5", "node1"), ready("10.244.3.6", "node1"), ready("10.244.1.5", "node2"), notReady("10.244.3.7", "node1"))
	// The same pod in a second slice with another port counts once.
	again := sliceObj("web", "b", 8443, corev1.ProtocolTCP, ready("10.244.3.5", "node1"))
	noPorts := sliceObj("web", "c", 8080, corev1.ProtocolTCP, ready("10.244.3.9", "node1"))
	noPorts.Ports = nil
	terminating := sliceObj("web", "d", 8080, corev1.ProtocolTCP, ready("10.244.3.8", "node1"))
	terminating.Endpoints[0].Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
	unset := sliceObj("web", "e", 8080, corev1.ProtocolTCP, ready("10.244.3.10", "node1"))
	unset.Endpoints[0].Conditions = discoveryv1.EndpointConditions{} // nil Ready means ready
	v6 := sliceObj("web", "f", 8080, corev1.ProtocolTCP, ready("fd00:244::5", "node1"))
	v6.AddressType = discoveryv1.AddressTypeIPv6
	dualStack := func(s *corev1.Service) {
		s.Spec.ClusterIPs = []string{"10.96.0.20", "fd00:96::20"}
	}

	tests := []struct {
		name     string
		svc      *corev1.Service
		slices   []*discoveryv1.EndpointSlice
		families []int
		want     *ServiceHealthCheck
	}{
		{name: "ready local endpoints count once each", svc: lbLocal(), slices: []*discoveryv1.EndpointSlice{mixed, again}, want: &ServiceHealthCheck{Port: 32000, LocalEndpoints: 2}},
		{name: "no slices", svc: lbLocal(), want: &ServiceHealthCheck{Port: 32000}},
		{name: "terminating, portless and remote endpoints do not count", svc: lbLocal(),
			slices: []*discoveryv1.EndpointSlice{noPorts, terminating, sliceObj("web", "g", 80, corev1.ProtocolTCP, ready("10.244.1.1", "node2"))},
			want:   &ServiceHealthCheck{Port: 32000}},
		{name: "conditions unset mean ready", svc: lbLocal(), slices: []*discoveryv1.EndpointSlice{unset}, want: &ServiceHealthCheck{Port: 32000, LocalEndpoints: 1}},
		{name: "other family's slices are not this proxier's", svc: lbLocal(dualStack), slices: []*discoveryv1.EndpointSlice{v6}, want: &ServiceHealthCheck{Port: 32000}},
		{name: "dual-stack reports the larger family", svc: lbLocal(dualStack), slices: []*discoveryv1.EndpointSlice{mixed, v6}, families: []int{4, 6},
			want: &ServiceHealthCheck{Port: 32000, LocalEndpoints: 2}},
		{name: "IPv6-only Service on an IPv4 proxier", svc: lbLocal(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "fd00:96::20", []string{"fd00:96::20"} })},
		{name: "externalTrafficPolicy Cluster", svc: lbLocal(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster })},
		{name: "NodePort with Local has no health check", svc: lbLocal(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })},
		{name: "no healthCheckNodePort", svc: lbLocal(func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 0 })},
		{name: "headless", svc: lbLocal(func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fams := tt.families
			if fams == nil {
				fams = []int{4}
			}
			got, ok := serviceHealthCheck(tt.svc, tt.slices, "node1", fams)
			switch {
			case tt.want == nil && ok:
				t.Errorf("got %+v, want no health check", got)
			case tt.want != nil && !ok:
				t.Errorf("got no health check, want %+v", *tt.want)
			case tt.want != nil && got != *tt.want:
				t.Errorf("got %+v, want %+v", got, *tt.want)
			}
		})
	}
}

func TestServiceHealthListenAddresses(t *testing.T) {
	env := map[int]desired.Input{
		4: {NodeIP: netip.MustParseAddr("10.0.2.15"), NodeAddresses: []netip.Addr{netip.MustParseAddr("10.0.2.15"), netip.MustParseAddr("192.168.1.4")}},
		6: {NodeIP: netip.MustParseAddr("fd00:10::15"), NodeAddresses: []netip.Addr{netip.MustParseAddr("fd00:10::15")}},
	}
	tests := []struct {
		name      string
		families  []int
		nodePorts []string
		explicit  []netip.Addr
		want      []string
	}{
		{name: "default: every address", families: []int{4}, want: []string{"0.0.0.0"}},
		{name: "dual-stack default", families: []int{4, 6}, want: []string{"0.0.0.0", "::"}},
		{name: "a CIDR picks the node's addresses in it", families: []int{4}, nodePorts: []string{"192.168.0.0/16"}, want: []string{"192.168.1.4"}},
		{name: "primary", families: []int{4, 6}, nodePorts: []string{"primary"}, want: []string{"10.0.2.15", "fd00:10::15"}},
		{name: "localhost", families: []int{4}, nodePorts: []string{"localhost"}, want: []string{"127.0.0.1"}},
		{name: "a zero CIDR covers the rest", families: []int{4}, nodePorts: []string{"192.168.0.0/16", "0.0.0.0/0"}, want: []string{"0.0.0.0"}},
		{name: "a CIDR no address is in", families: []int{4}, nodePorts: []string{"172.16.0.0/12"}},
		{name: "the option wins", families: []int{4}, explicit: []netip.Addr{loopback4}, want: []string{"127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Proxier{cfg: config.Config{NodePortAddresses: tt.nodePorts}, families: tt.families, serviceHealthAddrs: tt.explicit}
			var got []string
			for _, a := range p.serviceHealthAddresses(env) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// Through the fake API server and informers: a LoadBalancer Service with
// externalTrafficPolicy Local gets its health check node port, which follows its
// endpoints and closes when the Service goes.
func TestProxierServiceHealthCheck(t *testing.T) {
	port := freePort(t)
	svc := svcObj("web", "10.96.100.10", 80, withLoadBalancer(30080, "198.51.100.7"), func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.HealthCheckNodePort = int32(port)
	})
	slice := sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.3.5", "node1"), ready("10.244.1.5", "node2"))
	client := fake.NewClientset(svc, slice, nodeObj("node1", testNodeIP.String()))
	log, _ := testLogger()
	p, err := New(Options{Config: seedConfig(t), NodeName: "node1", Client: client, Kernel: newFakes(t).k, Families: []int{4},
		ServiceHealthAddresses: []netip.Addr{loopback4}, Logger: log, RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runProxier(t, p)
	httpClient := newClient(t)
	answers := func(code int, body string) func() string {
		return func() string {
			got, err := get(httpClient, port)
			switch {
			case err != nil:
				return err.Error()
			case got.code != code || got.body != body:
				return strconv.Itoa(got.code) + " " + got.body
			}
			return ""
		}
	}
	eventually(t, "the health check node port answers 200 for one local endpoint", answers(http.StatusOK, healthBody("default", "web", 1, true)))

	ctx := context.Background()
	remote := sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2"))
	remote.ResourceVersion = "2"
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, remote, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the local endpoint left: 503", answers(http.StatusServiceUnavailable, healthBody("default", "web", 0, true)))

	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Service is gone: the port is closed", func() string {
		if got, err := get(httpClient, port); err == nil {
			return "answered " + strconv.Itoa(got.code)
		}
		return ""
	})
}
