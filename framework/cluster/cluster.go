// Package cluster is the boundary between the suites and whatever runs their Kubernetes
// cluster. A Provider creates (or reuses) a cluster with kube-proxy in the requested mode,
// lists its nodes as node.Node values, hands out a kubeconfig, exports logs and deletes
// it. The suites pick a provider by name (kind by default, the kernel lab later) and never
// learn which one they got.
package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Provider runs one named cluster.
type Provider interface {
	// Name is the provider's registered name ("kind").
	Name() string
	// Preflight checks, before anything is created, that the host can run the cluster, and
	// says what to do when it cannot.
	Preflight(ctx context.Context) error
	// Create brings the cluster up, or adopts an existing one of the same name when
	// Options.Reuse is set. It reports whether it created the cluster.
	Create(ctx context.Context) (created bool, err error)
	// Nodes lists the cluster's nodes; their names are the Kubernetes node names.
	Nodes(ctx context.Context) ([]node.Node, error)
	// Kubeconfig returns a kubeconfig the test process can use.
	Kubeconfig(ctx context.Context) ([]byte, error)
	// HostEndpoint tells where the test process reaches a NodePort of the cluster (kind
	// maps it to a host port; a lab forwards it).
	HostEndpoint(ctx context.Context, nodePort int32) (netip.AddrPort, error)
	// ExportLogs writes the provider's own logs of every node under dir.
	ExportLogs(ctx context.Context, dir string) error
	// Delete removes the cluster. Deleting a cluster that does not exist is not an error.
	Delete(ctx context.Context) error
}

// Proxy modes a cluster starts with.
const (
	// ModeIPVS starts kube-proxy in ipvs mode: the seed's method 1 (set at creation).
	ModeIPVS = "ipvs"
	// ModeIPTables starts it in iptables mode, so a suite can switch it by editing the
	// kube-proxy ConfigMap: the seed's method 2.
	ModeIPTables = "iptables"
)

// IPVSConfig is the ipvs block of kube-proxy's configuration that a cluster is created with.
// Zero values leave kube-proxy's defaults (rr; kernel timeouts).
type IPVSConfig struct {
	Scheduler     string
	StrictARP     bool
	TCPTimeout    time.Duration
	TCPFinTimeout time.Duration
	UDPTimeout    time.Duration
}

// Options describe the cluster a provider runs.
type Options struct {
	// Name of the cluster; DefaultName when empty.
	Name string
	// KubernetesVersion picks the node image ("1.37", "v1.36.4"); empty: provider default.
	KubernetesVersion string
	// NodeImage overrides the image KubernetesVersion would pick.
	NodeImage string
	// ProxyMode is ModeIPVS or ModeIPTables; empty means ModeIPVS.
	ProxyMode string
	// IPVS configures kube-proxy's ipvs block at creation.
	IPVS IPVSConfig
	// Workers is the number of worker nodes; 0 means 2 (the seed shows two workers).
	Workers int
	// HostNodePorts are NodePorts the test process must reach from the host.
	HostNodePorts []int32
	// Reuse adopts an existing cluster of this name instead of failing.
	Reuse bool
	// KeepOnFailure leaves the cluster up after a failed run, for a person to inspect.
	KeepOnFailure bool
	// DeleteOnInterrupt deletes the cluster this run created when the run is interrupted
	// (Ctrl-C); a reused cluster is never deleted.
	DeleteOnInterrupt bool
	// KubeconfigPath is where the provider writes the kubeconfig; empty: provider default.
	KubeconfigPath string

	// Kubeconfig is the kubeconfig file of a cluster the project did not create (provider
	// existing); empty: KUBECONFIG, then ~/.kube/config, as kubectl reads them.
	Kubeconfig string
	// Context is the kubeconfig context to use; empty: its current-context.
	Context string
	// AllowDisruptive lets a run edit the kube-proxy ConfigMap and restart kube-proxy on a
	// cluster it did not create; what it changes is restored at the end.
	AllowDisruptive bool
	// InspectorImage is the node inspector's image, pushed where the cluster pulls from.
	InspectorImage string
	// NodePortAddress is where the test process reaches NodePorts; empty: the provider's
	// choice (the first node's InternalIP for an existing cluster).
	NodePortAddress string
}

// Releaser is a provider that puts objects of its own into a cluster it keeps (the existing
// provider's node inspector): Release removes them at the end of every run, Ctrl-C
// included, whatever becomes of the cluster.
type Releaser interface {
	Release(ctx context.Context) error
}

// DefaultName is the cluster name when Options.Name is empty.
const DefaultName = "ipvs-e2e"

// WithDefaults fills the empty fields.
func (o Options) WithDefaults() Options {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.ProxyMode == "" {
		o.ProxyMode = ModeIPVS
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
	return o
}

// Validate rejects options no provider can honour.
func (o Options) Validate() error {
	switch o.ProxyMode {
	case "", ModeIPVS, ModeIPTables:
	default:
		return fmt.Errorf("proxy mode %q: expected %q (set at creation) or %q (switched later through the ConfigMap)", o.ProxyMode, ModeIPVS, ModeIPTables)
	}
	if o.Workers < 0 {
		return fmt.Errorf("workers %d: expected 0 or more", o.Workers)
	}
	for _, p := range o.HostNodePorts {
		if p < 30000 || p > 32767 {
			return fmt.Errorf("host node port %d: expected one in the default NodePort range 30000-32767", p)
		}
	}
	return nil
}

// Factory builds a provider from options.
type Factory func(Options) (Provider, error)

var (
	registryMu sync.Mutex
	registry   = map[string]Factory{}
)

// Register makes a provider available by name; providers call it from init.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("cluster provider %q registered twice", name))
	}
	registry[name] = f
}

// Names lists the registered providers, sorted.
func Names() []string {
	registryMu.Lock()
	defer registryMu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the named provider.
func New(name string, o Options) (Provider, error) {
	registryMu.Lock()
	f, ok := registry[name]
	registryMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("cluster provider %q: expected one of %v (is its package imported?)", name, Names())
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return f(o.WithDefaults())
}

// Outcome is how a run ended, for deciding the cluster's fate.
type Outcome struct {
	// Created tells whether this run created the cluster (false: it reused one).
	Created     bool
	Failed      bool
	Interrupted bool
}

// Fate is what happens to the cluster after a run, and why.
type Fate struct {
	Delete bool
	Reason string
}

// Decide applies the options to a run's outcome:
//   - a cluster this run did not create (reused, or one the project never created) is never
//     deleted, whatever the options say: it is not ours;
//   - interrupted: delete when DeleteOnInterrupt, else keep;
//   - failed: keep when KeepOnFailure, so a person can look;
//   - otherwise delete what this run created.
func Decide(o Options, out Outcome) Fate {
	name := o.WithDefaults().Name
	switch {
	case !out.Created:
		return Fate{Reason: fmt.Sprintf("cluster %q was not created by this run; kept (a cluster the run did not create is never deleted)", name)}
	case out.Interrupted && o.DeleteOnInterrupt:
		return Fate{Delete: true, Reason: "run interrupted and delete-on-interrupt is set"}
	case out.Interrupted:
		return Fate{Reason: fmt.Sprintf("run interrupted; cluster %q kept (set delete-on-interrupt to remove it)", name)}
	case out.Failed && o.KeepOnFailure:
		return Fate{Reason: fmt.Sprintf("run failed and keep-on-failure is set; cluster %q kept for inspection", name)}
	case out.Failed:
		return Fate{Delete: true, Reason: "run failed; cluster deleted (set keep-on-failure to keep it)"}
	}
	return Fate{Delete: true, Reason: "run passed; cluster deleted"}
}

// NodeNames lists node names, for messages.
func NodeNames(nodes []node.Node) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n.Name())
	}
	slices.Sort(out)
	return out
}
