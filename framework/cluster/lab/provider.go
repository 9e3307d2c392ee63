// Package lab is the lab cluster: a cluster.Provider that needs no Docker and no IPVS in
// the host's kernel. A real control plane of an upstream release (etcd, kube-apiserver,
// kube-controller-manager; hack/lab/controlplane) runs on the host's loopback; the
// nodes are one kernel lab guest (hack/lab/kernellab) on QEMU user networking (guest 10.0.2.15,
// the host's loopback is 10.0.2.2), where hack/lab/nodeagent plays the kubelet and runs
// kube-proxy (upstream, or this project's reference proxier) from the kube-proxy DaemonSet
// and ConfigMap the provider installs as kubeadm would. One node by default; NodesEnv asks
// for more, each a network namespace of the guest with its own agent and kube-proxy.
//
// The host reaches the guest only through forwards on 127.0.0.1: one to the node agent
// (commands, files and the kubelet's /containerLogs, so `kubectl logs` works) and one per
// NodePort in Options.HostNodePorts; and one to the first node's forward proxy (hack/lab/nodeagent,
// fwdproxy.go), which kube-apiserver is started with as HTTP_PROXY and HTTPS_PROXY (SOCKS5),
// so its pods/proxy and services/proxy reach the guest's pod and node addresses (the kubelet
// endpoint, etcd and the apiserver itself are on the loopback, which is never proxied). Everything started is stopped on Delete, and when the
// context given to New's caller is cancelled. What the run writes on the host (the control
// plane's keys, tokens, kubeconfigs and logs; the agent's log) is in one run directory,
// 0700, that Delete removes unless the run failed (KeepRunDir).
package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/controlplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// ProviderName is the name suites select this provider by (IPVS_E2E_PROVIDER=lab).
const ProviderName = "lab"

// NodeName is the guest's Kubernetes name: the first node's.
const NodeName = "lab-node"

// NodesEnv sets how many nodes New's cluster has (default 1). Nodes beyond the first are
// network namespaces of the same guest, each with its own node agent, IPVS, iptables and
// kube-proxy, on a bridged node network (hack/lab/nodeagent, nodes.go); they are named as
// kind names workers: lab-node2, lab-node3, with InternalIPs 10.0.2.16, 10.0.2.17.
const NodesEnv = "IPVS_E2E_LAB_NODES"

// MaxNodes bounds the node count: every node's kube-proxy shares the guest's one vCPU.
const MaxNodes = 4

// DefaultVersion is the release run when Options.KubernetesVersion is empty.
const DefaultVersion = "v1.37.2"

// Reference, as Options.KubernetesVersion, runs this project's reference proxier
// (cmd/ipvs-proxier) as kube-proxy, against a DefaultVersion control plane.
const Reference = "reference"

// Environment variables naming the guest-side binaries (static linux/amd64 builds).
const (
	NodeAgentEnv = "IPVS_E2E_LAB_NODEAGENT" // default <module>/bin/ipvs-nodeagent
	ProxierEnv   = "IPVS_E2E_LAB_PROXIER"   // default <module>/bin/ipvs-proxier
	// IPVSDumpEnv is the suites' setting (framework/e2e): the same binary they copy into
	// nodes, shipped at boot for the node inspector's pods.
	IPVSDumpEnv = "IPVS_E2E_IPVSDUMP" // default <module>/bin/ipvsdump
)

func init() {
	cluster.Register(ProviderName, func(o cluster.Options) (cluster.Provider, error) { return New(o) })
}

// Provider is a lab cluster.
type Provider struct {
	opts      cluster.Options
	version   string
	reference bool
	nodes     int

	mu     sync.Mutex
	cp     *controlplane.ControlPlane
	runDir string
	// keepRunDir tells Delete to leave runDir for inspection.
	keepRunDir bool
	cancelVM   context.CancelFunc
	vmDone     chan error
	agent      *agentClient
	agentPort  int
	// nodePorts maps each NodePort in HostNodePorts to its host port on 127.0.0.1.
	nodePorts map[int32]uint16
	// fixedNodePorts are NodePorts forwarded from a host port chosen by the caller
	// (ForwardNodePortAt) rather than a free one.
	fixedNodePorts map[int32]uint16
	proxyPort      int
	agentLog       string
}

var _ cluster.Provider = (*Provider)(nil)

// New prepares a lab provider with the node count of NodesEnv (1 when unset); nothing
// starts before Create. cluster.Options.Workers is kind's count and is not used: its
// default of 2 would triple the lab's work for suites that need one node.
func New(o cluster.Options) (*Provider, error) {
	n, err := parseNodesEnv()
	if err != nil {
		return nil, err
	}
	return NewNodes(o, n)
}

// NewNodes is New with a node count from 1 to MaxNodes.
func NewNodes(o cluster.Options, nodes int) (*Provider, error) {
	if nodes < 1 || nodes > MaxNodes {
		return nil, fmt.Errorf("lab cluster: %d nodes: expected 1 to %d (they share one guest)", nodes, MaxNodes)
	}
	o = o.WithDefaults()
	p := &Provider{opts: o, version: o.KubernetesVersion, nodes: nodes}
	switch {
	case p.version == "":
		p.version = DefaultVersion
	case p.version == Reference:
		p.version, p.reference = DefaultVersion, true
	case !strings.HasPrefix(p.version, "v"):
		p.version = "v" + p.version
	}
	if strings.Count(p.version, ".") != 2 {
		return nil, fmt.Errorf("lab cluster: Kubernetes version %q: expected a full release such as %s (the lab builds that release's binaries), or %q", o.KubernetesVersion, DefaultVersion, Reference)
	}
	return p, nil
}

// ForwardNodePortAt forwards host port 127.0.0.1:hostPort to the first node's nodePort
// (before Create): `ipvs-e2e lab up` offers the tutorial's NodePort at its own number.
// Create fails when the port is taken.
func (p *Provider) ForwardNodePortAt(nodePort int32, hostPort uint16) {
	if p.fixedNodePorts == nil {
		p.fixedNodePorts = map[int32]uint16{}
	}
	p.fixedNodePorts[nodePort] = hostPort
}

// Name implements cluster.Provider.
func (p *Provider) Name() string { return ProviderName }

// NodeNames are the cluster's Kubernetes node names, the first node's first.
func (p *Provider) NodeNames() []string {
	names := []string{NodeName}
	for i := 2; i <= p.nodes; i++ {
		names = append(names, fmt.Sprintf("%s%d", NodeName, i))
	}
	return names
}

func (p *Provider) components() []string {
	cs := []string{upstream.Etcd, upstream.KubeAPIServer, upstream.KubeControllerManager}
	if !p.reference {
		cs = append(cs, upstream.KubeProxy)
	}
	return cs
}

// Preflight implements cluster.Provider: QEMU, the node agent (and reference proxier)
// binaries and the upstream release's binaries must be there (the release is fetched by
// Create when missing, so Preflight only warns about it), and the upstream download
// settings must be well-formed.
func (p *Provider) Preflight(ctx context.Context) error {
	var errs []error
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		slog.Warn("preflight: qemu-system-x86_64 not found; the kernel lab installs it on first use (`make lab-prepare`)")
	}
	for _, b := range p.guestBinaries() {
		if _, err := os.Stat(b.path); err != nil {
			errs = append(errs, fmt.Errorf("%s binary %s: %w (build it with `make lab-cluster-binaries`, or set %s)", b.what, b.path, err, b.env))
		}
	}
	if err := upstream.CheckEnv(); err != nil {
		errs = append(errs, err)
	} else if _, err := upstream.Lookup(ctx, upstream.Options{Version: p.version, Components: p.components()}); err != nil {
		slog.Warn("preflight: " + err.Error() + "; Create downloads or builds it (seconds to minutes)")
	}
	if len(errs) == 0 {
		slog.Info("preflight ok: lab cluster", "release", p.version, "reference", p.reference)
	}
	return errors.Join(errs...)
}

type guestBinary struct{ what, env, path string }

func (p *Provider) guestBinaries() []guestBinary {
	return []guestBinary{
		{"node agent", NodeAgentEnv, envOr(NodeAgentEnv, cluster.CheckoutPath("bin", "ipvs-nodeagent"))},
		// The agent runs it for the node inspector's pods (`ipvsdump serve`).
		{"ipvsdump", IPVSDumpEnv, envOr(IPVSDumpEnv, cluster.CheckoutPath("bin", "ipvsdump"))},
		// Shipped for upstream clusters too: swapping the DaemonSet's image for the
		// reference proxier's swaps the proxy live (suites/swap).
		{"reference proxier", ProxierEnv, envOr(ProxierEnv, cluster.CheckoutPath("bin", "ipvs-proxier"))},
	}
}

// ProxyBinary is the guest path of the program the kube-proxy DaemonSet's pods run as
// installed: the reference proxier's build for Reference, upstream kube-proxy's otherwise
// (swapping the DaemonSet's image changes it: the node agent runs the image's program).
func (p *Provider) ProxyBinary() string {
	if p.reference {
		return guestProxier
	}
	return guestKubeProxy
}

// Create implements cluster.Provider. Reuse is not possible (nothing outlives the run):
// Create always makes a fresh cluster and reports it as created.
func (p *Provider) Create(ctx context.Context) (bool, error) {
	start := time.Now()
	if p.opts.Reuse {
		slog.Warn("lab cluster: reuse asked, but a lab cluster lives only as long as its run; creating a fresh one")
	}
	paths, err := upstream.Lookup(ctx, upstream.Options{Version: p.version, Components: p.components()})
	var nb *upstream.NotBuiltError
	if errors.As(err, &nb) {
		slog.Info("lab cluster: fetching upstream binaries", "release", p.version, "components", nb.Components)
		paths, err = upstream.Build(ctx, upstream.Options{Version: p.version, Components: p.components()})
	}
	if err != nil {
		return false, err
	}
	// kubeadm's DaemonSet; for the reference proxier, with the image and command its
	// swap patch gives (manifests/reference-proxier/swap).
	image, binary := "registry.k8s.io/kube-proxy:"+p.version, guestKubeProxy
	if p.reference {
		image, binary = manifests.ProxierImage, manifests.ProxierBinary
	}

	ports, err := freePorts(6 + len(p.opts.HostNodePorts))
	if err != nil {
		return false, err
	}
	if err := p.checkFixedNodePorts(); err != nil {
		return false, err
	}
	p.proxyPort = ports[5]
	runDir, err := newRunDir()
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	p.runDir = runDir
	p.mu.Unlock()
	// The cluster outlives Create's context (Ginkgo's BeforeSuite); Delete stops it.
	life := context.WithoutCancel(ctx)
	cp, err := controlplane.Start(life, controlplane.Options{
		Binaries: controlplane.UpstreamBinaries(paths),
		RunDir:   filepath.Join(runDir, "controlplane"),
		Ports:    controlplane.Ports{EtcdClient: ports[0], EtcdPeer: ports[1], APIServer: ports[2], ControllerManager: ports[3]},
		// The proxy answers once the guest is up; nothing proxied is asked for before that.
		APIServerEnv: proxyEnv(p.proxyPort),
	})
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	p.cp = cp
	p.mu.Unlock()
	if err := p.installKubeProxy(ctx, image, binary); err != nil {
		return true, p.failCreate(err)
	}

	p.agentPort = ports[4]
	p.nodePorts = map[int32]uint16{}
	forwards := []kernellab.PortForward{
		{Host: uint16(p.agentPort), Guest: agentGuestPort},
		{Host: uint16(p.proxyPort), Guest: proxyGuestPort},
	}
	for i, np := range p.opts.HostNodePorts {
		hp := uint16(ports[6+i])
		p.nodePorts[np] = hp
		forwards = append(forwards, kernellab.PortForward{Host: hp, Guest: uint16(np)})
	}
	for np, hp := range p.fixedNodePorts {
		if _, ok := p.nodePorts[np]; ok {
			continue
		}
		p.nodePorts[np] = hp
		forwards = append(forwards, kernellab.PortForward{Host: hp, Guest: uint16(np)})
	}
	files, err := p.guestFiles(cp, paths)
	if err != nil {
		return true, p.failCreate(err)
	}
	if err := p.boot(ctx, files, forwards); err != nil {
		return true, p.failCreate(err)
	}
	if err := p.waitKubeProxySynced(ctx, 3*time.Minute); err != nil {
		return true, p.failCreate(err)
	}
	slog.Info("lab cluster ready", "release", p.version, "reference", p.reference, "took", time.Since(start).Round(100*time.Millisecond),
		"kubeconfig", cp.AdminKubeconfig, "agent", fmt.Sprintf("127.0.0.1:%d", p.agentPort), "proxy", fmt.Sprintf("127.0.0.1:%d", p.proxyPort), "nodePorts", p.nodePorts)
	return true, nil
}

// proxyEnv is kube-apiserver's environment for the forward proxy on 127.0.0.1:port, as
// SOCKS5: the apiserver's proxy handler keeps the client's Host header, which Go's
// transport would put in an HTTP proxy's request line instead of the pod's address (see
// fwdproxy.go). Go's http.ProxyFromEnvironment never proxies loopback targets; NO_PROXY
// says so for readers.
func proxyEnv(port int) []string {
	u := fmt.Sprintf("socks5://127.0.0.1:%d", port)
	return []string{"HTTP_PROXY=" + u, "HTTPS_PROXY=" + u, "NO_PROXY=127.0.0.1,localhost"}
}

// checkFixedNodePorts fails when a host port asked for with ForwardNodePortAt is taken:
// QEMU would fail to start with a message far from the cause.
func (p *Provider) checkFixedNodePorts() error {
	for np, hp := range p.fixedNodePorts {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", hp))
		if err != nil {
			return fmt.Errorf("lab cluster: NodePort %d is to be forwarded from host port 127.0.0.1:%d, but that port is in use (%v); free it (`ss -ltnp 'sport = :%d'` shows who holds it) and try again", np, hp, err, hp)
		}
		l.Close()
	}
	return nil
}

func (p *Provider) failCreate(err error) error {
	dir := p.KeepRunDir()
	if derr := p.Delete(context.Background()); derr != nil {
		return fmt.Errorf("%w (and cleaning up: %v); run directory kept: %s", err, derr, dir)
	}
	return fmt.Errorf("%w; run directory kept: %s", err, dir)
}

// newRunDir makes the run's directory (hack/lab/rundir), readable by its owner only: it
// holds the cluster's CA and service-account keys and admin credentials.
func newRunDir() (string, error) {
	d, err := rundir.New("labcluster")
	if err != nil {
		return "", fmt.Errorf("lab cluster: %w", err)
	}
	return d.Path, nil
}

// RunDir is the run directory, where a caller may put what belongs to the run ("" before
// Create): it is removed or kept with the cluster's own files.
func (p *Provider) RunDir() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runDir
}

// KeepRunDir tells Delete to keep the run directory (a failed run's logs, kubeconfigs and
// keys, for inspection) and returns its path, "" when there is none.
func (p *Provider) KeepRunDir() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keepRunDir = true
	return p.runDir
}

// installKubeProxy creates what kubeadm creates for kube-proxy.
func (p *Provider) installKubeProxy(ctx context.Context, image, binary string) error {
	cs, err := p.cp.Clientset()
	if err != nil {
		return err
	}
	sa, cm, ds := kubeProxyObjects(p.opts, image, binary, controlplane.DefaultClusterCIDR.String(), ipvsGated(p.version))
	ns := kubeproxy.Namespace
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ServiceAccount %s/%s: %w", ns, sa.Name, err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create ConfigMap %s/%s: %w", ns, cm.Name, err)
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create DaemonSet %s/%s: %w", ns, ds.Name, err)
	}
	return nil
}

// agentAddrs are the addresses in the agents' certificate besides their name: the loopback
// and the guest's address on QEMU user networking.
var agentAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.2.15")}

func (p *Provider) guestFiles(cp *controlplane.ControlPlane, paths upstream.Paths) ([]kernellab.File, error) {
	// The agents' serving certificate: signed by the control plane's CA, for the name the
	// host and the agents dial and the guest addresses they dial it at.
	certPEM, keyPEM, err := cp.PKI.ServingPair(agentServerName, agentAddrs, []string{agentServerName})
	if err != nil {
		return nil, err
	}
	token, err := controlplane.NewToken()
	if err != nil {
		return nil, err
	}
	agent, err := newAgentClient(fmt.Sprintf("127.0.0.1:%d", p.agentPort), certPEM, token)
	if err != nil {
		return nil, err
	}
	p.agent = agent
	agentKubeconfig := filepath.Join(p.runDir, "agent.kubeconfig")
	if err := controlplane.WriteKubeconfig(agentKubeconfig, controlplane.Kubeconfig{
		Server: cp.GuestAPIServerURL, CAData: cp.PKI.CAData, User: cp.PKI.Admin.Name, Token: cp.PKI.Admin.Token,
	}); err != nil {
		return nil, err
	}
	bins := p.guestBinaries()
	files := []kernellab.File{
		{Path: guestAgent, Source: bins[0].path, Mode: 0o755},
		{Path: guestIPVSDump, Source: bins[1].path, Mode: 0o755},
		{Path: guestProxier, Source: bins[2].path, Mode: 0o755},
		{Path: guestAgentKubeconfig, Source: agentKubeconfig, Mode: 0o600},
		{Path: guestKubeProxyKubeconfig, Source: cp.KubeProxyKubeconfig, Mode: 0o600},
		{Path: guestAgentDir + "/tls.crt", Data: certPEM, Mode: 0o644},
		{Path: guestAgentDir + "/tls.key", Data: keyPEM, Mode: 0o600},
		{Path: guestAgentDir + "/token", Data: []byte(token + "\n"), Mode: 0o600},
	}
	if !p.reference {
		files = append(files, kernellab.File{Path: guestKubeProxy, Source: paths.Binary(upstream.KubeProxy), Mode: 0o755})
	}
	return files, nil
}

// boot starts the guest with the node agent as its one long command and waits until the
// agent answers and the Node is registered.
func (p *Provider) boot(ctx context.Context, files []kernellab.File, forwards []kernellab.PortForward) error {
	l, err := kernellab.Prepare(ctx, kernellab.Options{})
	if err != nil {
		return err
	}
	p.agentLog = filepath.Join(p.runDir, "ipvs-nodeagent.log")
	logf, err := os.Create(p.agentLog)
	if err != nil {
		return err
	}
	args := []string{guestAgent,
		"--node-name=" + NodeName, "--node-ip=10.0.2.15",
		fmt.Sprintf("--listen=0.0.0.0:%d", agentGuestPort),
		"--kubelet-address=127.0.0.1", fmt.Sprintf("--kubelet-port=%d", p.agentPort),
		"--kube-proxy-version=" + p.version,
		fmt.Sprintf("--workers=%d", p.nodes-1),
		fmt.Sprintf("--proxy-listen=0.0.0.0:%d", proxyGuestPort), "--proxy-peer=10.0.2.2",
		"--ipvsdump=" + guestIPVSDump, "--kube-proxy=" + guestKubeProxy, "--ipvs-proxier=" + guestProxier,
	}
	vmCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancelVM, p.vmDone = cancel, make(chan error, 1)
	job := kernellab.Job{
		Name:      "lab-cluster-" + NodeName,
		Files:     files,
		Commands:  []kernellab.Command{{Name: "ipvs-nodeagent", Args: args}},
		Timeout:   24 * time.Hour,
		MemoryMiB: 2048,
		Network:   &kernellab.Network{HostForwards: forwards},
		Hostname:  NodeName,
		Stream:    logf,
		Dir:       filepath.Join(p.runDir, "guest"),
	}
	go func() {
		res, err := l.Run(vmCtx, job)
		logf.Close()
		if err == nil && res != nil {
			if f := res.Failed(); f != nil {
				err = fmt.Errorf("node agent exited with status %d", f.ExitCode)
			}
		}
		p.vmDone <- err
	}()

	t := time.Now()
	slog.Info("lab cluster: booting the node", "agentLog", p.agentLog, "nodes", p.NodeNames())
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-p.vmDone:
			p.vmDone <- err
			return false, fmt.Errorf("the lab guest stopped before its node agent was up: %v; agent log ends:\n%s", err, tailFile(p.agentLog, 20))
		default:
		}
		return p.agent.healthy(ctx) == nil, nil
	})
	if err != nil {
		return fmt.Errorf("node agent not reachable on 127.0.0.1:%d: %w", p.agentPort, err)
	}
	slog.Info("lab cluster: node agent up", "took", time.Since(t).Round(100*time.Millisecond))
	cs, err := p.cp.Clientset()
	if err != nil {
		return err
	}
	var notReady []string
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		notReady = notReady[:0]
		for _, name := range p.NodeNames() {
			if !nodeReady(ctx, cs, name) {
				notReady = append(notReady, name)
			}
		}
		return len(notReady) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("nodes %v not Ready within 2m (the agent log %s tells why): %w", notReady, p.agentLog, err)
	}
	return nil
}

func nodeReady(ctx context.Context, cs kubernetes.Interface, name string) bool {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// Nodes implements cluster.Provider.
func (p *Provider) Nodes(ctx context.Context) ([]node.Node, error) {
	if p.agent == nil {
		return nil, errors.New("lab cluster: not created")
	}
	var out []node.Node
	for _, name := range p.NodeNames() {
		out = append(out, p.labNode(name))
	}
	return out, nil
}

// labNode reaches the first node's agent directly and the others' through it.
func (p *Provider) labNode(name string) *labNode {
	if name == NodeName {
		return &labNode{name: name, client: p.agent}
	}
	return &labNode{name: name, client: p.agent.via(name)}
}

// guestNodeLogDir is where a node's agent keeps its pods' container logs.
func guestNodeLogDir(name string) string {
	if name == NodeName {
		return guestLogDir
	}
	return guestAgentStateDir + "/" + name + "/logs"
}

// Kubeconfig implements cluster.Provider: the admin's, for the host.
func (p *Provider) Kubeconfig(ctx context.Context) ([]byte, error) {
	if p.cp == nil {
		return nil, errors.New("lab cluster: not created")
	}
	b, err := os.ReadFile(p.cp.AdminKubeconfig)
	if err != nil {
		return nil, err
	}
	if p.opts.KubeconfigPath != "" {
		if err := os.WriteFile(p.opts.KubeconfigPath, b, 0o600); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// HostEndpoint implements cluster.Provider: forwarded NodePorts only, on the first node
// (QEMU forwards to the guest's first address; further nodes are reached from the nodes).
func (p *Provider) HostEndpoint(ctx context.Context, nodePort int32) (netip.AddrPort, error) {
	hp, ok := p.nodePorts[nodePort]
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("NodePort %d is not forwarded to the host (forwarded: %v); add it to HostNodePorts", nodePort, p.nodePorts)
	}
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), hp), nil
}

// ExportLogs implements cluster.Provider: the control plane's logs and the node agent's
// (kube-proxy's own logs are in the guest; the suites read them through `kubectl logs`).
func (p *Provider) ExportLogs(ctx context.Context, dir string) error {
	if p.runDir == "" {
		return nil
	}
	var errs []error
	if p.cp != nil {
		errs = append(errs, copyDir(filepath.Join(p.cp.RunDir, "logs"), filepath.Join(dir, "controlplane")))
	}
	if p.agentLog != "" {
		errs = append(errs, copyFile(p.agentLog, filepath.Join(dir, NodeName, "ipvs-nodeagent.log")))
	}
	if p.agent != nil {
		for _, name := range p.NodeNames() {
			out, err := node.Output(ctx, p.labNode(name), "sh", "-c", "for f in "+guestNodeLogDir(name)+"/*/*/*.log; do echo \"==> $f\"; cat \"$f\"; done")
			if err == nil {
				if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
					errs = append(errs, err)
					continue
				}
				errs = append(errs, os.WriteFile(filepath.Join(dir, name, "containers.log"), out, 0o644))
			}
		}
	}
	return errors.Join(errs...)
}

// Delete implements cluster.Provider: it powers the guest off (QEMU stopped by its PID),
// stops the control plane and waits for their ports to be free.
func (p *Provider) Delete(ctx context.Context) error {
	var errs []error
	if p.cancelVM != nil {
		p.cancelVM()
		select {
		case <-p.vmDone:
		case <-time.After(30 * time.Second):
			errs = append(errs, errors.New("lab guest did not stop within 30s of cancelling it"))
		}
		p.cancelVM = nil
	}
	p.mu.Lock()
	cp := p.cp
	p.mu.Unlock()
	if cp != nil {
		errs = append(errs, cp.Stop())
	}
	if p.agentPort != 0 {
		errs = append(errs, waitFree(p.agentPort, 10*time.Second))
	}
	for _, hp := range p.fixedNodePorts {
		errs = append(errs, waitFree(int(hp), 10*time.Second))
	}
	errs = append(errs, p.removeRunDir(errors.Join(errs...) != nil))
	return errors.Join(errs...)
}

// removeRunDir removes the run directory unless it is to be kept, or stopping something
// failed (what still runs may write there, and its logs tell why), and says which it did.
func (p *Provider) removeRunDir(stopFailed bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.runDir == "":
		slog.Info("lab cluster deleted")
	case p.keepRunDir || stopFailed:
		if err := (&rundir.Dir{Path: p.runDir}).Keep(); err != nil {
			return fmt.Errorf("lab cluster: keeping the run directory: %w", err)
		}
		slog.Info("lab cluster deleted; run directory kept for inspection", "runDir", p.runDir)
	default:
		if err := os.RemoveAll(p.runDir); err != nil {
			return fmt.Errorf("lab cluster: removing the run directory: %w", err)
		}
		slog.Info("lab cluster deleted; run directory removed", "runDir", p.runDir)
		p.runDir = ""
	}
	return nil
}

// ipvsGated tells whether a release has the KubeProxyIPVS feature gate (1.37 and later).
func ipvsGated(version string) bool {
	parts := strings.Split(strings.TrimPrefix(version, "v"), ".")
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return err1 == nil && err2 == nil && (major > 1 || minor >= 37)
}

func waitFree(port int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port 127.0.0.1:%d still in use %s after the guest stopped", port, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			errs = append(errs, copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())))
		}
	}
	return errors.Join(errs...)
}

// UpOption adjusts the provider Up makes before it starts anything.
type UpOption func(*Provider) error

// WithNodes sets the node count (instead of NodesEnv).
func WithNodes(n int) UpOption {
	return func(p *Provider) error {
		q, err := NewNodes(p.opts, n)
		if err != nil {
			return err
		}
		p.nodes = q.nodes
		return nil
	}
}

// WithNodePortAt forwards host port 127.0.0.1:hostPort to the first node's nodePort
// (ForwardNodePortAt).
func WithNodePortAt(nodePort int32, hostPort uint16) UpOption {
	return func(p *Provider) error {
		p.ForwardNodePortAt(nodePort, hostPort)
		return nil
	}
}

// Up brings a lab cluster up (New, Preflight, Create) and returns it with the admin's REST
// configuration. On error nothing is left running; otherwise the caller Deletes it (after
// KeepRunDir when what it ran failed).
func Up(ctx context.Context, o cluster.Options, opts ...UpOption) (*Provider, *rest.Config, error) {
	p, err := New(o)
	if err != nil {
		return nil, nil, err
	}
	for _, opt := range opts {
		if err := opt(p); err != nil {
			return nil, nil, err
		}
	}
	if err := p.Preflight(ctx); err != nil {
		return nil, nil, err
	}
	if _, err := p.Create(ctx); err != nil {
		return nil, nil, err
	}
	rc := p.cp.RESTConfig()
	return p, rc, nil
}
