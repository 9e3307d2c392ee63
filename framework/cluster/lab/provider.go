// Package lab is the lab cluster: a cluster.Provider that needs no Docker and no IPVS in
// the host's kernel. A real control plane of an upstream release (etcd, kube-apiserver,
// kube-controller-manager; framework/controlplane) runs on the host's loopback; the one
// node is a kernel lab guest (framework/lab) on QEMU user networking (guest 10.0.2.15, the
// host's loopback is 10.0.2.2), where cmd/ipvs-nodeagent plays the kubelet and runs
// kube-proxy (upstream, or this project's reference proxier) from the kube-proxy DaemonSet
// and ConfigMap the provider installs as kubeadm would.
//
// The host reaches the guest only through forwards on 127.0.0.1: one to the node agent
// (commands, files and the kubelet's /containerLogs, so `kubectl logs` works) and one per
// NodePort in Options.HostNodePorts. Everything started is stopped on Delete, and when the
// context given to New's caller is cancelled.
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
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/controlplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/framework/upstream"
)

// ProviderName is the name suites select this provider by (IPVS_E2E_PROVIDER=lab).
const ProviderName = "lab"

// NodeName is the guest's Kubernetes name.
const NodeName = "lab-node"

// DefaultVersion is the release run when Options.KubernetesVersion is empty.
const DefaultVersion = "v1.37.2"

// Reference, as Options.KubernetesVersion, runs this project's reference proxier
// (cmd/ipvs-proxier) as kube-proxy, against a DefaultVersion control plane.
const Reference = "reference"

// Environment variables naming the guest-side binaries (static linux/amd64 builds).
const (
	NodeAgentEnv = "IPVS_E2E_LAB_NODEAGENT" // default <module>/bin/ipvs-nodeagent
	ProxierEnv   = "IPVS_E2E_LAB_PROXIER"   // default <module>/bin/ipvs-proxier
)

func init() {
	cluster.Register(ProviderName, func(o cluster.Options) (cluster.Provider, error) { return New(o) })
}

// Provider is a lab cluster.
type Provider struct {
	opts      cluster.Options
	version   string
	reference bool

	mu        sync.Mutex
	cp        *controlplane.ControlPlane
	runDir    string
	cancelVM  context.CancelFunc
	vmDone    chan error
	agent     *agentClient
	agentPort int
	// nodePorts maps each NodePort in HostNodePorts to its host port on 127.0.0.1.
	nodePorts map[int32]uint16
	agentLog  string
}

var _ cluster.Provider = (*Provider)(nil)

// New prepares a lab provider; nothing starts before Create.
func New(o cluster.Options) (*Provider, error) {
	o = o.WithDefaults()
	p := &Provider{opts: o, version: o.KubernetesVersion}
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

// Name implements cluster.Provider.
func (p *Provider) Name() string { return ProviderName }

func (p *Provider) components() []string {
	cs := []string{upstream.Etcd, upstream.KubeAPIServer, upstream.KubeControllerManager}
	if !p.reference {
		cs = append(cs, upstream.KubeProxy)
	}
	return cs
}

// Preflight implements cluster.Provider: QEMU, the node agent (and reference proxier)
// binaries and the upstream release's binaries must be there (the release is built by
// Create when missing, which takes minutes, so Preflight only warns about it).
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
	if _, err := upstream.Lookup(ctx, upstream.Options{Version: p.version, Components: p.components()}); err != nil {
		slog.Warn("preflight: " + err.Error() + "; Create builds it (minutes)")
	}
	if len(errs) == 0 {
		slog.Info("preflight ok: lab cluster", "release", p.version, "reference", p.reference)
	}
	return errors.Join(errs...)
}

type guestBinary struct{ what, env, path string }

func (p *Provider) guestBinaries() []guestBinary {
	bs := []guestBinary{{"node agent", NodeAgentEnv, envOr(NodeAgentEnv, cluster.CheckoutPath("bin", "ipvs-nodeagent"))}}
	if p.reference {
		bs = append(bs, guestBinary{"reference proxier", ProxierEnv, envOr(ProxierEnv, cluster.CheckoutPath("bin", "ipvs-proxier"))})
	}
	return bs
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
		slog.Info("lab cluster: building upstream binaries", "release", p.version, "components", nb.Components)
		paths, err = upstream.Build(ctx, upstream.Options{Version: p.version, Components: p.components()})
	}
	if err != nil {
		return false, err
	}
	kubeProxyBin := paths.Binary(upstream.KubeProxy)
	image := "registry.k8s.io/kube-proxy:" + p.version
	agentBin := p.guestBinaries()[0].path
	if p.reference {
		kubeProxyBin = p.guestBinaries()[1].path
		image = "ipvs-e2e/ipvs-proxier:reference"
	}

	ports, err := freePorts(5 + len(p.opts.HostNodePorts))
	if err != nil {
		return false, err
	}
	runDir, err := os.MkdirTemp("", "ipvs-e2e-labcluster-")
	if err != nil {
		return false, err
	}
	p.runDir = runDir
	// The cluster outlives Create's context (Ginkgo's BeforeSuite); Delete stops it.
	life := context.WithoutCancel(ctx)
	cp, err := controlplane.Start(life, controlplane.Options{
		Binaries: controlplane.Binaries{Etcd: paths.Binary(upstream.Etcd), KubeAPIServer: paths.Binary(upstream.KubeAPIServer),
			KubeControllerManager: paths.Binary(upstream.KubeControllerManager)},
		RunDir: filepath.Join(runDir, "controlplane"),
		Ports:  controlplane.Ports{EtcdClient: ports[0], EtcdPeer: ports[1], APIServer: ports[2], ControllerManager: ports[3]},
	})
	if err != nil {
		return false, err
	}
	p.mu.Lock()
	p.cp = cp
	p.mu.Unlock()
	if err := p.installKubeProxy(ctx, image); err != nil {
		return true, p.failCreate(err)
	}

	p.agentPort = ports[4]
	p.nodePorts = map[int32]uint16{}
	forwards := []lab.PortForward{{Host: uint16(p.agentPort), Guest: agentGuestPort}}
	for i, np := range p.opts.HostNodePorts {
		hp := uint16(ports[5+i])
		p.nodePorts[np] = hp
		forwards = append(forwards, lab.PortForward{Host: hp, Guest: uint16(np)})
	}
	files, err := p.guestFiles(cp, agentBin, kubeProxyBin)
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
		"kubeconfig", cp.AdminKubeconfig, "agent", fmt.Sprintf("127.0.0.1:%d", p.agentPort), "nodePorts", p.nodePorts)
	return true, nil
}

func (p *Provider) failCreate(err error) error {
	if derr := p.Delete(context.Background()); derr != nil {
		return fmt.Errorf("%w (and cleaning up: %v)", err, derr)
	}
	return err
}

// installKubeProxy creates what kubeadm creates for kube-proxy.
func (p *Provider) installKubeProxy(ctx context.Context, image string) error {
	cs, err := p.cp.Clientset()
	if err != nil {
		return err
	}
	sa, cm, ds := kubeProxyObjects(p.opts, image, controlplane.DefaultClusterCIDR.String())
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

func (p *Provider) guestFiles(cp *controlplane.ControlPlane, agentBin, kubeProxyBin string) ([]lab.File, error) {
	certPEM, keyPEM, err := agentCert()
	if err != nil {
		return nil, err
	}
	token, err := randomToken()
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
	return []lab.File{
		{Path: guestAgent, Source: agentBin, Mode: 0o755},
		{Path: guestKubeProxy, Source: kubeProxyBin, Mode: 0o755},
		{Path: guestAgentKubeconfig, Source: agentKubeconfig, Mode: 0o600},
		{Path: guestKubeProxyKubeconfig, Source: cp.KubeProxyKubeconfig, Mode: 0o600},
		{Path: guestAgentDir + "/tls.crt", Data: certPEM, Mode: 0o644},
		{Path: guestAgentDir + "/tls.key", Data: keyPEM, Mode: 0o600},
		{Path: guestAgentDir + "/token", Data: []byte(token + "\n"), Mode: 0o600},
	}, nil
}

// boot starts the guest with the node agent as its one long command and waits until the
// agent answers and the Node is registered.
func (p *Provider) boot(ctx context.Context, files []lab.File, forwards []lab.PortForward) error {
	l, err := lab.Prepare(ctx, lab.Options{})
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
	}
	vmCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancelVM, p.vmDone = cancel, make(chan error, 1)
	job := lab.Job{
		Name:      "lab-cluster-" + NodeName,
		Files:     files,
		Commands:  []lab.Command{{Name: "ipvs-nodeagent", Args: args}},
		Timeout:   24 * time.Hour,
		MemoryMiB: 2048,
		Network:   &lab.Network{HostForwards: forwards},
		Hostname:  NodeName,
		Stream:    logf,
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
	slog.Info("lab cluster: booting the node", "agentLog", p.agentLog)
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
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// Nodes implements cluster.Provider.
func (p *Provider) Nodes(ctx context.Context) ([]node.Node, error) {
	if p.agent == nil {
		return nil, errors.New("lab cluster: not created")
	}
	return []node.Node{&labNode{name: NodeName, client: p.agent}}, nil
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

// HostEndpoint implements cluster.Provider: forwarded NodePorts only.
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
		n := &labNode{name: NodeName, client: p.agent}
		out, err := node.Output(ctx, n, "sh", "-c", "for f in "+guestLogDir+"/*/*/*.log; do echo \"==> $f\"; cat \"$f\"; done")
		if err == nil {
			errs = append(errs, os.WriteFile(filepath.Join(dir, NodeName, "containers.log"), out, 0o644))
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
	slog.Info("lab cluster deleted", "runDir", p.runDir)
	return errors.Join(errs...)
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
