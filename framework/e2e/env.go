package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Env is a running cluster as the suites see it.
type Env struct {
	Config   Config
	Provider cluster.Provider
	// Created tells whether this run created the cluster (false: reused).
	Created bool
	Nodes   []node.Node
	REST    *rest.Config
	Client  kubernetes.Interface
	// Resources is e2e-framework's klient over the same cluster (fixtures, exec).
	Resources *resources.Resources
	KubeProxy kubeproxy.Cluster
	// Read is how node.ReadState reaches this cluster's nodes: ipvsdump (installed by
	// setup) or ipvsadm for IPVS, and for ipsets the node's ipset, ipvsdump over netlink or,
	// as a last resort, the kube-proxy pod, which has ipset (kind nodes have none).
	Read node.ReadOptions
	// Minor is the server's Kubernetes minor version (37 for v1.37.2).
	Minor int
	// KubeProxyRelease is what the kube-proxy DaemonSet runs: an upstream release, or
	// another implementation of ipvs mode (the lab's reference proxier).
	KubeProxyRelease kubeproxy.Release
	// Switch is the ConfigMap switch's report (method 2 only).
	Switch *kubeproxy.SwitchReport
	// Modes is what each node's kube-proxy said about its mode (log findings, /proxyMode)
	// once ipvs mode was reached, either way.
	Modes []kubeproxy.NodeMode
	// Notes are lines for the summary (deprecation, leftovers, fate).
	Notes []string
	// Fate is what happened to the cluster after the run.
	Fate string
	// snapshot is kube-proxy as the run found it on a cluster it did not create, when the
	// run may change it (-allow-disruptive); finish restores it.
	snapshot *kubeproxy.Snapshot
}

// setup runs preflight on a checked configuration (Settings.Config), brings the cluster up through the configured provider, installs
// ipvsdump in every node and gets kube-proxy into ipvs mode the configured way.
func setup(ctx context.Context, cfg Config) (*Env, error) {
	p, err := cluster.New(cfg.Provider, cfg.clusterOptions())
	if err != nil {
		return nil, err
	}
	e := &Env{Config: cfg, Provider: p}
	// Preflight before anything is created: without Docker or IPVS the run stops here.
	if err := p.Preflight(ctx); err != nil {
		return e, err
	}
	if e.Created, err = p.Create(ctx); err != nil {
		return e, err
	}
	if err := e.connect(ctx); err != nil {
		return e, err
	}
	for _, n := range e.Nodes {
		if _, ok := n.(node.StateReader); ok {
			continue // the node inspector reads the node itself; nothing is copied into it
		}
		if err := node.InstallIPVSDump(ctx, n, cfg.IPVSDump); err != nil {
			return e, err
		}
	}
	if !e.Created && cfg.AllowDisruptive {
		if e.snapshot, err = kubeproxy.TakeSnapshot(ctx, e.KubeProxy); err != nil {
			return e, err
		}
	}
	if err := e.reachIPVS(ctx); err != nil {
		return e, err
	}
	return e, nil
}

func (e *Env) connect(ctx context.Context) error {
	var err error
	if e.REST, e.Client, err = cluster.Connect(ctx, e.Provider); err != nil {
		return err
	}
	if e.Resources, err = resources.New(e.REST); err != nil {
		return err
	}
	if e.Nodes, err = e.Provider.Nodes(ctx); err != nil {
		return err
	}
	v, err := e.Client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	if e.Minor, err = strconv.Atoi(strings.TrimSuffix(v.Minor, "+")); err != nil {
		return fmt.Errorf("server minor version %q: %w", v.Minor, err)
	}
	e.KubeProxy = kubeproxy.Cluster{
		Client:  e.Client,
		Nodes:   e.Nodes,
		Exec:    kubeproxy.KlientExec{Resources: e.Resources},
		Timeout: e.Config.Timeout,
	}
	e.Read = node.ReadOptions{IPSets: node.FirstIPSet{node.NodeIPSet{}, node.IPVSDumpIPSets{}, kubeproxy.PodIPSet{Cluster: e.KubeProxy}}}
	e.KubeProxy.Read = e.Read
	slog.Info("cluster ready", "provider", e.Provider.Name(), "name", e.Config.ClusterName, "kubernetes", v.GitVersion, "nodes", cluster.NodeNames(e.Nodes))
	return nil
}

// reachIPVS applies the configured method, then records the deprecation state.
func (e *Env) reachIPVS(ctx context.Context) error {
	if e.Config.Switch == SwitchByConfigMap {
		r, err := kubeproxy.SwitchToIPVS(ctx, e.KubeProxy, kubeproxy.SwitchOptions{KeepLeftovers: e.Config.KeepLeftovers})
		e.Switch = r
		if err != nil {
			return err
		}
		e.Modes = r.Nodes
		e.Notes = append(e.Notes, strings.TrimRight(r.String(), "\n"))
	} else {
		if _, err := kubeproxy.WaitForPods(ctx, e.KubeProxy, nil); err != nil {
			return err
		}
		modes, err := kubeproxy.VerifyMode(ctx, e.KubeProxy, "ipvs")
		if err != nil {
			return err
		}
		e.Modes = modes
		e.Notes = append(e.Notes, "kube-proxy in ipvs mode from cluster creation (the seed's method 1)")
	}
	release, err := kubeproxy.DaemonSetRelease(ctx, e.KubeProxy)
	if err != nil {
		return err
	}
	e.KubeProxyRelease = release
	events, err := kubeproxy.DeprecationEvents(ctx, e.KubeProxy)
	if err != nil {
		return err
	}
	note, err := e.CheckDeprecation(events)
	if err != nil {
		// Events are recorded asynchronously: a missing one is a note, not a failure.
		note = "deprecation events: " + err.Error()
	}
	e.Notes = append(e.Notes, note)
	return nil
}

// CheckDeprecation compares the deprecation the cluster shows (events, and the lines its
// kube-proxy pods logged) with what the release the DaemonSet runs should show.
func (e *Env) CheckDeprecation(events []kubeproxy.Deprecation) (string, error) {
	return kubeproxy.CheckReleaseDeprecation(e.KubeProxyRelease, events, kubeproxy.LoggedDeprecations(e.Modes), cluster.NodeNames(e.Nodes))
}

// artifacts are the files collected per node when a spec fails.
func (e *Env) artifacts() []node.Artifact {
	return append(node.DefaultArtifacts("", e.Read.IPSets),
		kubeproxy.KubeProxyLogArtifact(e.KubeProxy))
}

// InternalIP is a node's InternalIP as the API server knows it.
func (e *Env) InternalIP(ctx context.Context, nodeName string) (string, error) {
	n, err := e.Client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && !strings.Contains(a.Address, ":") {
			return a.Address, nil
		}
	}
	return "", fmt.Errorf("node %s has no IPv4 InternalIP (addresses %v)", nodeName, n.Status.Addresses)
}

// Namespace creates a namespace for one Describe and returns a function deleting it.
func (e *Env) Namespace(ctx context.Context, prefix string) (string, func(context.Context) error, error) {
	ns, err := e.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("create namespace %s-*: %w", prefix, err)
	}
	del := func(ctx context.Context) error {
		return fixtures.DeleteNamespace(ctx, e.Client, ns.Name, e.Config.Timeout)
	}
	return ns.Name, del, nil
}

// Wait bounds one wait in a spec.
func (e *Env) Wait() time.Duration { return e.Config.Timeout }
