package labe2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/vishvananda/netlink"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// The node of every test: node1 of the seed's cluster, its address on a dummy "eth0" (the
// guest has no NIC), pods from its pod CIDR.
const (
	nodeName  = "node1"
	nodeLink  = "eth0"
	nodeIP    = "172.18.0.3"
	nodeCIDR  = "172.18.0.3/16"
	podCIDR   = "10.244.3.0/24"
	namespace = "default"
)

// Polling for the proxier's asynchronous syncs: short polls, a bound generous enough for
// TCG, where every iptables-restore is a process start in an emulated CPU.
const (
	pollEvery   = 50 * time.Millisecond
	pollTimeout = 30 * time.Second
	askTimeout  = 5 * time.Second
)

// node is one test's node: the real kernel of the guest, an API server (client-go's fake
// clientset) and the pods. Everything a test adds is removed when it ends: proxiers
// stopped, pods deleted, the proxier's kernel state cleaned up, the node address removed.
type node struct {
	t      *testing.T
	g      gomega.Gomega
	k      *kernel.Kernel
	cfg    config.Config
	client *fake.Clientset
}

// nodeConfig is the proxier configuration of the tests (testdata/kube-proxy.yaml).
func nodeConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load([]byte(fixture.Read(t, "kube-proxy.yaml")), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newNode asserts the lab guest (labtest.Require) and prepares the node: the dummy eth0
// with the node's address, the sysctls the proxier's start sets (proxy.Setup, as
// cmd/ipvs-proxier runs it), the Node object in the API.
func newNode(t *testing.T) *node {
	t.Helper()
	labtest.Require(t)
	k := labtest.Open(t, kernel.Linux)
	leftovers(t, k)
	addNodeAddress(t, nodeLink, netip.MustParsePrefix(nodeCIDR))
	t.Cleanup(func() {
		if err := proxy.Cleanup(k, proxy.CleanupOptions{}); err != nil {
			t.Errorf("cleanup of the proxier's kernel state: %v", err)
		}
	})

	t.Cleanup(func() {
		if t.Failed() {
			dumpNode(t)
		}
	})

	cfg := nodeConfig(t)
	if err := proxy.Setup(k, proxy.SetupOptionsFrom(cfg)); err != nil {
		t.Fatal(err)
	}
	return &node{t: t, g: gomega.NewWithT(t), k: k, cfg: cfg, client: fake.NewClientset(nodeObject())}
}

// leftovers fails the test at once when an earlier test left proxier state behind, so that
// a failure is blamed on the test that caused it.
func leftovers(t *testing.T, k *kernel.Kernel) {
	t.Helper()
	vss, err := k.IPVS.Services()
	if err != nil {
		t.Fatal(err)
	}
	if len(vss) > 0 {
		t.Fatalf("the guest holds %d virtual servers before the test (an earlier test did not clean up):\n%s",
			len(vss), dataplane.FormatIPVSAdm(dataplane.IPVS{Services: vss}, false))
	}
}

// addNodeAddress creates a dummy link holding the node's IPv4 address (up) and removes it
// when the test ends.
func addNodeAddress(t *testing.T, link string, p netip.Prefix) {
	t.Helper()
	d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: link}}
	if err := netlink.LinkAdd(d); err != nil {
		t.Fatalf("create dummy %s for the node address: %v", link, err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(d); err != nil {
			t.Errorf("delete %s: %v", link, err)
		}
	})
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if err := netlink.AddrAdd(d, addr); err != nil {
		t.Fatalf("add %s to %s: %v", p, link, err)
	}
	if err := netlink.LinkSetUp(d); err != nil {
		t.Fatalf("set %s up: %v", link, err)
	}
}

// pod creates a pod serving its name over HTTP on port and deletes it when the test ends.
func (n *node) pod(name, ip string, port uint16) *pods.Pod {
	n.t.Helper()
	p, err := pods.Create(pods.Spec{Name: name, IPs: []netip.Addr{netip.MustParseAddr(ip)}})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() {
		if err := p.Delete(); err != nil {
			n.t.Errorf("cleanup: %v", err)
		}
	})
	if port != 0 {
		if _, err := p.Serve(port); err != nil {
			n.t.Fatal(err)
		}
	}
	return p
}

// read is the node's dataplane as the proxier's tests look at it.
func (n *node) read() (dataplane.State, error) {
	return kernel.Read(n.k, kernel.ReadOptions{Node: nodeName, IPVS: true, Timeouts: true, Links: true, IPSets: true, IPTables: true, Tables: []string{"nat", "filter"}})
}

// state is for Eventually: the node's dataplane, failing the poll when it cannot be read.
func (n *node) state(g gomega.Gomega) dataplane.State {
	s, err := n.read()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	return s
}

// eventually polls f (which asserts through its Gomega) until it passes.
func (n *node) eventually(f func(g gomega.Gomega)) {
	n.t.Helper()
	n.g.Eventually(f).WithTimeout(pollTimeout).WithPolling(pollEvery).Should(gomega.Succeed())
}

// run runs one of the guest's tools and returns what it printed.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// dumpNode logs what a person would look at on a node where a test failed, before the
// cleanup removes it.
func dumpNode(t *testing.T) {
	for _, c := range [][]string{
		{"ipvsadm", "-Ln"},
		{"cat", "/proc/net/ip_vs_conn"},
		{"iptables-save"},
		{"ipset", "save"},
		{"conntrack", "-L"},
		{"ip", "addr"},
		{"ip", "route"},
	} {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		t.Logf("$ %s (%v)\n%s", strings.Join(c, " "), err, out)
	}
}

// logBuffer collects a proxier's log lines; they are printed only when the test fails.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) write(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(time.Now().Format("15:04:05.000 "))
	if prefix != "" {
		l.b.WriteString(prefix + " ")
	}
	l.b.WriteString(args + "\n")
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runningProxier is a proxier running in the test's process.
type runningProxier struct {
	name   string
	p      *proxy.Proxier
	cancel context.CancelFunc
	done   chan error
	logs   *logBuffer
	once   sync.Once
	err    error
}

// startProxier builds a proxier over k (the node's kernel, or a wrapper of it) exactly as
// cmd/ipvs-proxier does, and runs it until stop or the end of the test.
func (n *node) startProxier(name string, k *kernel.Kernel) *runningProxier {
	n.t.Helper()
	logs := &logBuffer{}
	logger := funcr.New(logs.write, funcr.Options{Verbosity: 2})
	p, err := proxy.New(proxy.Options{Config: n.cfg, NodeName: nodeName, Client: n.client, Kernel: k,
		Families: []int{4}, Logger: logger, RetryInterval: 100 * time.Millisecond})
	if err != nil {
		n.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rp := &runningProxier{name: name, p: p, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { rp.done <- p.Run(ctx) }()
	n.t.Cleanup(func() {
		if err := rp.stop(); err != nil {
			n.t.Errorf("%s: %v", name, err)
		}
		if n.t.Failed() {
			n.t.Logf("log of %s:\n%s", name, logs)
		}
	})
	return rp
}

// stop ends Run and waits for it to return; calling it again returns the first answer.
func (rp *runningProxier) stop() error {
	rp.once.Do(func() {
		rp.cancel()
		select {
		case rp.err = <-rp.done:
		case <-time.After(20 * time.Second):
			rp.err = fmt.Errorf("Run did not return within 20s of its context ending")
		}
	})
	return rp.err
}

// synced tells whether the proxier finished a sync of IPv4 successfully.
func (rp *runningProxier) synced() bool {
	return gaugeValue(rp.p.Metrics().Gatherer(), "kubeproxy_sync_proxy_rules_last_timestamp_seconds") > 0
}

// gaugeValue is the value of a gauge (its first series), 0 when it has none yet.
func gaugeValue(g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := gaugeOf(m); v != 0 {
				return v
			}
		}
	}
	return 0
}

func gaugeOf(m *dto.Metric) float64 {
	if m.GetGauge() == nil {
		return 0
	}
	return m.GetGauge().GetValue()
}
