// Package kind runs the suites' cluster with kind's Go API (no kind CLI): a control plane
// and workers as Docker containers, kube-proxy in the requested mode with the ipvs block set
// through a kubeadm patch. Config renders the readable YAML kept in manifests/.
package kind

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	kindcmd "sigs.k8s.io/kind/pkg/cmd"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/preflight"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/cachedir"
)

// ProviderName is the name suites select this provider by.
const ProviderName = "kind"

func init() {
	cluster.Register(ProviderName, func(o cluster.Options) (cluster.Provider, error) { return New(o) })
}

// api is the part of kind's *cluster.Provider used here; tests replace it.
type api interface {
	Create(name string, options ...kindcluster.CreateOption) error
	Delete(name, explicitKubeconfigPath string) error
	List() ([]string, error)
	ListInternalNodes(name string) ([]nodes.Node, error)
	KubeConfig(name string, internal bool) (string, error)
	CollectLogs(name, dir string) error
}

// Provider is a kind cluster.
type Provider struct {
	opts cluster.Options
	cfg  Config
	raw  []byte

	kind  api
	probe preflight.Probe
	goos  string
	// waitReady bounds kind's wait for the control plane.
	waitReady   time.Duration
	preflighted bool
}

var _ cluster.Provider = (*Provider)(nil)

// New prepares a kind provider; nothing touches Docker until Preflight or Create.
func New(o cluster.Options) (*Provider, error) {
	o = o.WithDefaults()
	if o.KubeconfigPath == "" {
		// A file of the cluster's own: kind would otherwise merge its context into
		// ~/.kube/config (or $KUBECONFIG), where a person's other clusters live.
		o.KubeconfigPath = DefaultKubeconfigPath(o.Name)
	}
	cfg, err := ConfigFor(o)
	if err != nil {
		return nil, err
	}
	raw, err := cfg.Render()
	if err != nil {
		return nil, err
	}
	return &Provider{
		opts: o,
		cfg:  cfg,
		raw:  raw,
		// kind's CLI logger prints its familiar progress lines (Ensuring node image ...).
		kind:      kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(kindcmd.NewLogger())),
		probe:     preflight.Host{},
		goos:      runtime.GOOS,
		waitReady: 5 * time.Minute,
	}, nil
}

// DefaultKubeconfigPath is where a cluster the kind provider creates has its kubeconfig:
// $CACHE_DIR/kind/<name>.kubeconfig, never merged into the user's kubeconfig.
func DefaultKubeconfigPath(name string) string {
	return filepath.Join(cachedir.Root(), "kind", name+".kubeconfig")
}

// Name implements cluster.Provider.
func (p *Provider) Name() string { return ProviderName }

// Config is the kind configuration the cluster is created from.
func (p *Provider) Config() Config { return p.cfg }

// RawConfig is its YAML.
func (p *Provider) RawConfig() []byte { return p.raw }

// Preflight implements cluster.Provider: a Docker engine, then the host's IPVS modules.
func (p *Provider) Preflight(ctx context.Context) error {
	r := preflight.ForKind(ctx, p.probe, p.goos, "rr", "wrr", "sh", p.cfg.IPVS.Scheduler)
	for _, w := range r.Warnings {
		slog.Warn("preflight: " + w)
	}
	for _, ok := range r.Passed {
		slog.Info("preflight ok: " + ok)
	}
	if err := r.Err(); err != nil {
		return err
	}
	p.preflighted = true
	return nil
}

// Create implements cluster.Provider. kind's Create cannot be cancelled: on interrupt it is
// allowed to finish, and the half-made cluster is deleted when DeleteOnInterrupt is set.
func (p *Provider) Create(ctx context.Context) (bool, error) {
	if !p.preflighted {
		if err := p.Preflight(ctx); err != nil {
			return false, err
		}
	}
	name := p.opts.Name
	existing, err := p.kind.List()
	if err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	if slices.Contains(existing, name) {
		if p.opts.Reuse {
			slog.Info("reusing kind cluster", "name", name)
			return false, nil
		}
		return false, fmt.Errorf("kind cluster %q already exists: delete it (`kind delete cluster --name %s`) or reuse it (IPVS_E2E_REUSE=1)", name, name)
	}

	slog.Info("creating kind cluster", "name", name, "image", p.cfg.NodeImage, "kubeProxyMode", p.cfg.ProxyMode, "workers", p.cfg.Workers)
	opts := []kindcluster.CreateOption{
		kindcluster.CreateWithRawConfig(p.raw),
		kindcluster.CreateWithWaitForReady(p.waitReady),
		kindcluster.CreateWithRetain(p.opts.KeepOnFailure),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	}
	if p.opts.KubeconfigPath != "" {
		opts = append(opts, kindcluster.CreateWithKubeconfigPath(p.opts.KubeconfigPath))
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- p.kind.Create(name, opts...) }()

	select {
	case err := <-done:
		if err != nil {
			return false, fmt.Errorf("create kind cluster %q (config below):\n%s\n%w", name, p.raw, err)
		}
		slog.Info("kind cluster ready", "name", name, "took", time.Since(start).Round(time.Second), "kubeconfig", p.opts.KubeconfigPath)
		return true, nil
	case <-ctx.Done():
		slog.Warn("interrupted while kind creates the cluster; waiting for it to finish", "name", name)
		err := <-done
		if p.opts.DeleteOnInterrupt {
			if derr := p.kind.Delete(name, p.opts.KubeconfigPath); derr != nil {
				return err == nil, fmt.Errorf("interrupted; deleting kind cluster %q failed: %w", name, derr)
			}
			return false, fmt.Errorf("interrupted; kind cluster %q deleted: %w", name, ctx.Err())
		}
		return err == nil, fmt.Errorf("interrupted; kind cluster %q kept (delete it with `kind delete cluster --name %s`): %w", name, name, ctx.Err())
	}
}

// Nodes implements cluster.Provider.
func (p *Provider) Nodes(ctx context.Context) ([]node.Node, error) {
	kn, err := p.kind.ListInternalNodes(p.opts.Name)
	if err != nil {
		return nil, fmt.Errorf("list nodes of kind cluster %q: %w", p.opts.Name, err)
	}
	if len(kn) == 0 {
		return nil, fmt.Errorf("kind cluster %q has no nodes: was it created (or deleted meanwhile)?", p.opts.Name)
	}
	out := make([]node.Node, 0, len(kn))
	for _, n := range kn {
		out = append(out, NewNode(n))
	}
	slices.SortFunc(out, func(a, b node.Node) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Kubeconfig implements cluster.Provider: the external one, for the test process.
func (p *Provider) Kubeconfig(ctx context.Context) ([]byte, error) {
	s, err := p.kind.KubeConfig(p.opts.Name, false)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of kind cluster %q: %w", p.opts.Name, err)
	}
	return []byte(s), nil
}

// HostEndpoint implements cluster.Provider. Mapped ports are on 127.0.0.1, at the host
// port kind picked (the container runtime says which); otherwise a Linux host reaches the
// control-plane container's address on the Docker network.
func (p *Provider) HostEndpoint(ctx context.Context, nodePort int32) (netip.AddrPort, error) {
	if slices.Contains(p.cfg.HostNodePorts, nodePort) {
		container := p.opts.Name + "-control-plane"
		out, stderr, err := p.probe.Run(ctx, "docker", "port", container, fmt.Sprintf("%d/tcp", nodePort))
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("host port of NodePort %d: `docker port %s %d/tcp` failed: %v: %s", nodePort, container, nodePort, err, strings.TrimSpace(string(stderr)))
		}
		ap, err := parseDockerPort(out)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("host port of NodePort %d from `docker port %s %d/tcp`: %w", nodePort, container, nodePort, err)
		}
		return ap, nil
	}
	if p.goos != "linux" {
		return netip.AddrPort{}, fmt.Errorf("NodePort %d is not mapped to the host (mapped: %v) and a %s host cannot reach the node containers directly; add it to HostNodePorts", nodePort, p.cfg.HostNodePorts, p.goos)
	}
	kn, err := p.kind.ListInternalNodes(p.opts.Name)
	if err != nil {
		return netip.AddrPort{}, err
	}
	for _, n := range kn {
		role, err := n.Role()
		if err != nil || role != "control-plane" {
			continue
		}
		v4, _, err := n.IP()
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("address of node %s: %w", n, err)
		}
		a, err := netip.ParseAddr(v4)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("address of node %s: %w", n, err)
		}
		return netip.AddrPortFrom(a, uint16(nodePort)), nil
	}
	return netip.AddrPort{}, fmt.Errorf("kind cluster %q has no control-plane node", p.opts.Name)
}

// ExportLogs implements cluster.Provider with kind's own log collection (journal, kubelet,
// containerd, pod logs per node).
func (p *Provider) ExportLogs(ctx context.Context, dir string) error {
	if err := p.kind.CollectLogs(p.opts.Name, dir); err != nil {
		return fmt.Errorf("export logs of kind cluster %q to %s: %w", p.opts.Name, dir, err)
	}
	return nil
}

// Delete implements cluster.Provider.
func (p *Provider) Delete(ctx context.Context) error {
	slog.Info("deleting kind cluster", "name", p.opts.Name)
	if err := p.kind.Delete(p.opts.Name, p.opts.KubeconfigPath); err != nil {
		return fmt.Errorf("delete kind cluster %q: %w", p.opts.Name, err)
	}
	return nil
}

// parseDockerPort reads `docker port CONTAINER PORT/tcp`: one HOST:PORT a line, one per
// address family ("127.0.0.1:41234", "[::1]:41234"). The mapping is made on 127.0.0.1 only,
// so that is the line wanted.
func parseDockerPort(out []byte) (netip.AddrPort, error) {
	var seen []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		seen = append(seen, line)
		ap, err := netip.ParseAddrPort(line)
		if err == nil && ap.Addr() == netip.AddrFrom4([4]byte{127, 0, 0, 1}) && ap.Port() != 0 {
			return ap, nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("expected a line 127.0.0.1:<port>, found %q", seen)
}
