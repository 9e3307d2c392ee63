package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// syncBuffer is an io.Writer safe for the program's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeKernel is a node with eth0 10.0.2.15/24 and a 6.1 kernel.
func fakeKernel() *kernel.Kernel {
	k := kernel.Fake()
	k.Links = netif.NewFake(dataplane.Link{Name: "eth0", Kind: "ether", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.15/24")}})
	k.Sysctl.(*sysctl.Fake).Define("kernel/osrelease", "6.1.0-18-cloud-amd64")
	return k
}

func testEnv(k *kernel.Kernel, client kubernetes.Interface) env {
	return env{
		openKernel: func() (*kernel.Kernel, error) { return k, nil },
		newClient:  func(config.ClientConnection, *proxy.APIGate) (kubernetes.Interface, error) { return client, nil },
		hostname:   func() (string, error) { return "Node1", nil },
		families:   []int{4},
		self:       sysctl.NewFakeWith(map[string]string{oomScoreAdjFile: "0"}),
	}
}

// writeTemp writes body to a file name in a fresh temporary folder and returns its path.
func writeTemp(t *testing.T, name, body string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), perm); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	return writeTemp(t, "config.yaml", "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"+body, 0o644)
}

// listenLocal listens on a free 127.0.0.1 port until the test ends.
func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// freeAddr returns a 127.0.0.1 address with a port nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln := listenLocal(t)
	defer ln.Close()
	return ln.Addr().String()
}

func TestRunRefuses(t *testing.T) {
	noIPVS := errors.New("this kernel has no IPVS (no ip_vs netlink family): load the modules: modprobe ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack")
	tests := []struct {
		name   string
		args   func(t *testing.T) []string
		env    func() env
		code   int
		stderr string
	}{
		{
			name:   "unknown flag",
			args:   func(t *testing.T) []string { return []string{"--no-such-flag"} },
			env:    func() env { return testEnv(fakeKernel(), fake.NewClientset()) },
			code:   2,
			stderr: "unknown flag: --no-such-flag",
		},
		{
			// pflag reads this as --ipvs-strict-arp=true and a stray "false".
			name:   "a boolean flag's value given apart",
			args:   func(t *testing.T) []string { return []string{"--ipvs-strict-arp", "false"} },
			env:    func() env { return testEnv(fakeKernel(), fake.NewClientset()) },
			code:   2,
			stderr: `unexpected argument(s) ["false"]: it takes flags only, as kube-proxy does; give a boolean flag its value with = (--ipvs-strict-arp=false)`,
		},
		{
			name:   "a positional argument",
			args:   func(t *testing.T) []string { return []string{"--cleanup", "now"} },
			env:    func() env { return testEnv(fakeKernel(), fake.NewClientset()) },
			code:   2,
			stderr: `unexpected argument(s) ["now"]`,
		},
		{
			name: "bad config names the field",
			args: func(t *testing.T) []string {
				return []string{"--config", writeConfig(t, "mode: ipvs\niptables:\n  masqueradeBit: 40\n")}
			},
			env:    func() env { return testEnv(fakeKernel(), fake.NewClientset()) },
			code:   1,
			stderr: "iptables.masqueradeBit",
		},
		{
			name:   "mode other than ipvs",
			args:   func(t *testing.T) []string { return []string{"--config", writeConfig(t, "mode: iptables\n")} },
			env:    func() env { return testEnv(fakeKernel(), fake.NewClientset()) },
			code:   1,
			stderr: "mode",
		},
		{
			name: "host without IPVS says which modules to load",
			args: func(t *testing.T) []string { return []string{"--config", writeConfig(t, "mode: ipvs\n")} },
			env: func() env {
				e := testEnv(fakeKernel(), fake.NewClientset())
				e.openKernel = func() (*kernel.Kernel, error) { return nil, noIPVS }
				return e
			},
			code:   1,
			stderr: "modprobe ip_vs",
		},
		{
			name: "scheduler the kernel lacks",
			args: func(t *testing.T) []string {
				return []string{"--config", writeConfig(t, "mode: ipvs\nipvs:\n  scheduler: mh\n"), "--healthz-bind-address", freeAddr(t), "--metrics-bind-address", freeAddr(t)}
			},
			env: func() env {
				k := fakeKernel()
				k.IPVS.(*ipvs.Fake).SetSchedulers("rr")
				return testEnv(k, fake.NewClientset())
			},
			code:   1,
			stderr: "modprobe ip_vs_mh",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr syncBuffer
			code := run(context.Background(), tt.args(t), &stderr, tt.env())
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}

// The whole program against a fake API server and kernel: it programs the seed's Service,
// answers on its health and metrics addresses, and stops cleanly when told to.
func TestRunServesAndStops(t *testing.T) {
	k := fakeKernel()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "service-test1"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.106.71.137", ClusterIPs: []string{"10.106.71.137"},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30089}}},
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "service-test1-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "service-test1"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(80))}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.3.214"}, NodeName: ptr.To("node1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	client := fake.NewClientset(svc, slice)
	healthz, metrics := freeAddr(t), freeAddr(t)
	args := []string{"--config", writeConfig(t, "mode: ipvs\n"), "--healthz-bind-address", healthz, "--metrics-bind-address", metrics}

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stderr, testEnv(k, client)) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		vs, _ := k.IPVS.Services()
		if len(vs) == 2 && len(vs[0].RealServers) == 1 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the seed's virtual servers were not programmed: %+v\nstderr:\n%s", vs, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct{ url, want string }{
		{"http://" + healthz + "/healthz", `"healthy":true`},
		{"http://" + healthz + "/livez", `"healthy":true`},
		{"http://" + metrics + "/proxyMode", "ipvs"},
		{"http://" + metrics + "/metrics", "kubeproxy_sync_proxy_rules_duration_seconds_bucket"},
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %s = %d %.200s, want 200 with %q", c.url, resp.StatusCode, body, c.want)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after a clean stop, stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	// The servers are gone.
	if _, err := net.DialTimeout("tcp", healthz, time.Second); err == nil {
		t.Error("the healthz server still listens after the program stopped")
	}
}

func TestRunCleanup(t *testing.T) {
	k := fakeKernel()
	// Something of ours and something foreign.
	if _, err := k.Links.EnsureDummy(dataplane.KubeIPVSInterface); err != nil {
		t.Fatal(err)
	}
	if err := k.Links.AddAddress(dataplane.KubeIPVSInterface, netip.MustParsePrefix("10.96.0.1/32")); err != nil {
		t.Fatal(err)
	}
	ours := dataplane.VirtualServer{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.0.1"), Port: 443, Scheduler: "rr"}
	foreign := dataplane.VirtualServer{Protocol: dataplane.TCP, Address: netip.MustParseAddr("192.168.1.1"), Port: 80, Scheduler: "rr"}
	for _, vs := range []dataplane.VirtualServer{ours, foreign} {
		if err := k.IPVS.AddService(vs); err != nil {
			t.Fatal(err)
		}
	}
	var stderr syncBuffer
	if code := run(context.Background(), []string{"--cleanup"}, &stderr, testEnv(k, nil)); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	vs, _ := k.IPVS.Services()
	if len(vs) != 1 || vs[0].Key() != foreign.Key() {
		t.Errorf("virtual servers after --cleanup = %+v, want only the foreign one", vs)
	}
	links, _ := k.Links.Links()
	for _, l := range links {
		if l.Name == dataplane.KubeIPVSInterface {
			t.Error("kube-ipvs0 left after --cleanup")
		}
	}
}

func TestNodeName(t *testing.T) {
	host := func() (string, error) { return " Node1.Example\n", nil }
	if n, _ := nodeName(config.Config{}, host); n != "node1.example" {
		t.Errorf("nodeName from hostname = %q, want lower-cased and trimmed", n)
	}
	if n, _ := nodeName(config.Config{HostnameOverride: "lab-node"}, host); n != "lab-node" {
		t.Errorf("nodeName with override = %q", n)
	}
	_, err := nodeName(config.Config{}, func() (string, error) { return "", errors.New("no hostname") })
	wanterr.Check(t, err, "--hostname-override")
}

// writeKubeconfig writes a kubeconfig for the API server at server, without credentials.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	return writeTemp(t, "kubeconfig", "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: "+server+
		"\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {}\ncurrent-context: c\n", 0o600)
}

// hangingServer accepts connections and never answers: an API server stopped with SIGSTOP,
// or one behind a network that drops packets after the handshake.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln := listenLocal(t)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close() // before the connections: none is accepted after them
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A stop does not wait for client-go, whatever it is blocked on.
func TestRunStopsWhileTheAPIServerHangs(t *testing.T) {
	k := fakeKernel()
	kubeconfig := writeKubeconfig(t, "http://"+hangingServer(t))
	e := testEnv(k, nil)
	e.newClient = newClient
	args := []string{"--config", writeConfig(t, "mode: ipvs\n"), "--kubeconfig", kubeconfig,
		"--healthz-bind-address", freeAddr(t), "--metrics-bind-address", freeAddr(t)}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stderr, e) }()
	// Let the informers block on their first list.
	time.Sleep(500 * time.Millisecond)
	cancel()
	stopped := time.Now()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after a stop, stderr:\n%s", code, stderr.String())
		}
		t.Logf("stopped in %v", time.Since(stopped).Round(time.Millisecond))
	case <-time.After(2 * time.Second):
		t.Fatalf("run did not return within 2 s of its stop while the API server hangs; stderr:\n%s", stderr.String())
	}
}

// A proxier that does not return when asked to stop (client-go blocked on a dead
// connection) holds the stop for the grace period only.
func TestRunUntilStoppedGivesUpAfterTheGrace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	blocked := make(chan struct{})
	defer close(blocked)
	done := make(chan error, 1)
	go func() {
		done <- runUntilStopped(ctx, func(context.Context) error { <-blocked; return errors.New("late") }, 50*time.Millisecond, klog.Background())
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runUntilStopped = %v; expected nil after giving up on the proxier", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("runUntilStopped still waits for a proxier that ignores its stop")
	}
	// One that returns in time has its error returned.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := runUntilStopped(ctx2, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, time.Second, klog.Background()); !errors.Is(err, context.Canceled) {
		t.Fatalf("runUntilStopped = %v; expected the proxier's own error", err)
	}
}
