// Package existing runs the suites on a cluster the project did not create: a kubeadm
// cluster, a staging cluster, a classroom's. It is chosen only by name (never by an ambient
// KUBECONFIG), finds the cluster as kubectl does (-kubeconfig, KUBECONFIG, -context), checks
// before any spec that the API server answers, that the user may do what the suites do and
// where kube-proxy runs and in which mode, and reads every node through the node inspector
// (framework/node/inspector), which it deploys in a namespace of its own and removes at the
// end. It never creates or deletes the cluster.
package existing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
	"github.com/ipvs-e2e/ipvs-e2e/hack/image"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/cachedir"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// ProviderName is the name suites select this provider by.
const ProviderName = "existing"

func init() {
	cluster.Register(ProviderName, func(o cluster.Options) (cluster.Provider, error) { return New(o) })
}

// ReachTimeout bounds the first answer of the API server: an unreachable cluster is said at
// once, not after client-go's retries.
const ReachTimeout = 10 * time.Second

// Provider is a cluster found through a kubeconfig.
type Provider struct {
	opts   cluster.Options
	config clientcmd.ClientConfig
	// files are the kubeconfig files the context is read from, for messages.
	files []string

	context string
	server  string
	raw     []byte
	rest    *rest.Config
	client  kubernetes.Interface

	// reach bounds the first request (ReachTimeout; tests shorten it).
	reach time.Duration
	// wait bounds the inspector pods' start.
	wait time.Duration
	// newClient builds the clientset from the REST config; tests give a fake one.
	newClient func(*rest.Config) (kubernetes.Interface, error)

	// archive is the inspector's tarball (make inspector-image), side-loaded into a kind
	// cluster's nodes by kindLoad when no image is named; sideLoad is that cluster.
	archive  string
	sideLoad string
	kindLoad func(cluster, archive string) error

	inspectorNS string
	// inspectorSelector selects the inspector's pods.
	inspectorSelector string
	nodes             []node.Node
}

var (
	_ cluster.Provider = (*Provider)(nil)
	_ cluster.Releaser = (*Provider)(nil)
)

// New prepares the provider; nothing is read or dialled until Preflight.
func New(o cluster.Options) (*Provider, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	files := rules.GetLoadingPrecedence()
	if rules.ExplicitPath != "" {
		files = []string{rules.ExplicitPath}
	}
	return &Provider{
		opts:     o,
		config:   clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context}),
		files:    files,
		reach:    ReachTimeout,
		wait:     5 * time.Minute,
		archive:  image.InspectorArchive(filepath.Join(cachedir.Root(), "images"), runtime.GOARCH),
		kindLoad: kindLoadArchive,
		newClient: func(c *rest.Config) (kubernetes.Interface, error) {
			return kubernetes.NewForConfig(c)
		},
	}, nil
}

// Name implements cluster.Provider.
func (p *Provider) Name() string { return ProviderName }

// Preflight implements cluster.Provider: the kubeconfig and its context, the API server
// within ReachTimeout, the user's permissions, the inspector image, and kube-proxy.
func (p *Provider) Preflight(ctx context.Context) error {
	if err := p.load(); err != nil {
		return err
	}
	if err := p.reachable(ctx); err != nil {
		return err
	}
	slog.Info("preflight ok: API server answers", "context", p.context, "server", p.server)
	if err := CheckAccess(ctx, p.client, Needs(p.opts.AllowDisruptive)); err != nil {
		return fmt.Errorf("context %q (%s): %w", p.context, p.server, err)
	}
	slog.Info("preflight ok: the user may do what the suites do", "checks", len(Needs(p.opts.AllowDisruptive)), "disruptive", p.opts.AllowDisruptive)
	if p.opts.InspectorImage == "" {
		if err := p.kindSideLoad(ctx); err != nil {
			return err
		}
	}
	if p.opts.InspectorImage == "" {
		return fmt.Errorf("no node inspector image: the nodes of a cluster the project did not create are read through the node inspector, a DaemonSet of its own; build it (make inspector-image), push it to a registry the cluster pulls from, and name it with %s (a kind cluster needs no registry: with no image named, the tarball %s is loaded into its nodes)", inspector.ImageEnv, p.archive)
	}
	found, err := FindKubeProxy(ctx, p.client)
	if err != nil {
		return fmt.Errorf("context %q (%s): %w", p.context, p.server, err)
	}
	slog.Info("preflight ok: " + found.String())
	return nil
}

// kindSideLoad names the inspector's image after the tarball make inspector-image wrote
// when every node is a kind node, for Create to load it into them.
func (p *Provider) kindSideLoad(ctx context.Context) error {
	nodes, err := p.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	cluster := kindClusterOf(nodes.Items)
	if cluster == "" {
		return nil
	}
	ref, err := image.ArchiveRef(p.archive)
	if err != nil {
		return fmt.Errorf("kind cluster %s without a node inspector image named: %w", cluster, err)
	}
	p.opts.InspectorImage, p.sideLoad = ref, cluster
	slog.Info("preflight ok: kind cluster: the node inspector's image is side-loaded", "cluster", cluster, "image", ref, "archive", p.archive)
	return nil
}

// load reads the kubeconfig, picks the context and keeps a kubeconfig of that context alone.
func (p *Provider) load() error {
	where := strings.Join(p.files, ":")
	if p.opts.Kubeconfig != "" {
		if _, err := os.Stat(p.opts.Kubeconfig); err != nil {
			return fmt.Errorf("kubeconfig %s: %w; give the file of your cluster's kubeconfig (-kubeconfig or KUBECONFIG)", p.opts.Kubeconfig, err)
		}
	}
	raw, err := p.config.RawConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", where, err)
	}
	if len(raw.Contexts) == 0 {
		var missing []string
		for _, f := range p.files {
			if _, err := os.Stat(f); err != nil {
				missing = append(missing, f)
			}
		}
		if len(missing) == len(p.files) {
			return fmt.Errorf("kubeconfig %s: no such file; point -kubeconfig or KUBECONFIG at your cluster's kubeconfig", where)
		}
		return fmt.Errorf("kubeconfig %s: no context in it (is KUBECONFIG or -kubeconfig pointing at your cluster's kubeconfig?)", where)
	}
	p.context = p.opts.Context
	if p.context == "" {
		p.context = raw.CurrentContext
	}
	names := make([]string, 0, len(raw.Contexts))
	for n := range raw.Contexts {
		names = append(names, n)
	}
	slices.Sort(names)
	switch {
	case p.context == "":
		return fmt.Errorf("kubeconfig %s has no current-context: choose one with -context (contexts: %s)", where, strings.Join(names, ", "))
	case raw.Contexts[p.context] == nil:
		return fmt.Errorf("context %q is not in kubeconfig %s (contexts: %s)", p.context, where, strings.Join(names, ", "))
	}
	p.rest, err = p.config.ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig %s, context %q: %w", where, p.context, err)
	}
	p.server = p.rest.Host
	// The suites create and watch many objects; client-go's default 5 QPS would pace them.
	p.rest.QPS, p.rest.Burst = 50, 100
	one := raw.DeepCopy()
	one.CurrentContext = p.context
	if err := clientcmdapi.MinifyConfig(one); err != nil {
		return fmt.Errorf("kubeconfig %s, context %q: %w", where, p.context, err)
	}
	if err := clientcmdapi.FlattenConfig(one); err != nil {
		return fmt.Errorf("kubeconfig %s, context %q: %w", where, p.context, err)
	}
	if p.raw, err = clientcmd.Write(*one); err != nil {
		return err
	}
	p.client, err = p.newClient(p.rest)
	return err
}

// reachable asks the API server for its version within p.reach.
func (p *Provider) reachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.reach)
	defer cancel()
	start := time.Now()
	err := getVersion(ctx, p.rest)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", p.reach)
		}
		return fmt.Errorf("API server %s (context %q) did not answer GET /version: %v (after %s); is the cluster up, is this machine on its network, and is the kubeconfig its own?", p.server, p.context, err, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// getVersion asks the API server for /version with the kubeconfig's credentials: one
// request, no retries.
func getVersion(ctx context.Context, cfg *rest.Config) error {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/version", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET /version: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// Create implements cluster.Provider. It creates no cluster: it deploys the node inspector
// in a namespace of its own and waits for its pod on every node.
func (p *Provider) Create(ctx context.Context) (bool, error) {
	if p.client == nil {
		if err := p.Preflight(ctx); err != nil {
			return false, err
		}
	}
	nodes, err := p.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("list nodes: %w", err)
	}
	if len(nodes.Items) == 0 {
		return false, errors.New("the cluster has no nodes")
	}
	if p.sideLoad != "" {
		slog.Info("loading the node inspector's image into the kind cluster's nodes", "cluster", p.sideLoad, "archive", p.archive)
		if err := p.kindLoad(p.sideLoad, p.archive); err != nil {
			return false, err
		}
	}
	ns, err := p.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "ipvs-e2e-inspector-",
		Labels: map[string]string{
			// The inspector is privileged and on the host network: Pod Security must allow it.
			"pod-security.kubernetes.io/enforce": "privileged",
			"app.kubernetes.io/managed-by":       "ipvs-e2e",
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("create the node inspector's namespace: %w", err)
	}
	p.inspectorNS = ns.Name
	ds, err := manifests.InspectorDaemonSet(ns.Name, p.opts.InspectorImage)
	if err != nil {
		return false, err
	}
	p.inspectorSelector = metav1.FormatLabelSelector(ds.Spec.Selector)
	if _, err := p.client.AppsV1().DaemonSets(ns.Name).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return false, fmt.Errorf("create the node inspector DaemonSet in %s: %w", ns.Name, err)
	}
	slog.Info("node inspector deployed; waiting for its pod on every node", "namespace", ns.Name, "image", p.opts.InspectorImage, "nodes", len(nodes.Items))
	pods, err := p.waitInspectors(ctx, ds, nodes.Items)
	if err != nil {
		return false, err
	}
	p.nodes = p.nodes[:0]
	for _, n := range nodes.Items {
		p.nodes = append(p.nodes, inspector.NewNode(p.client.CoreV1().RESTClient(), n.Name, ns.Name, pods[n.Name]))
	}
	slices.SortFunc(p.nodes, func(a, b node.Node) int { return strings.Compare(a.Name(), b.Name()) })
	return false, nil
}

// waitInspectors waits until every node has a ready inspector pod and returns their names
// by node; on time out it names the nodes without one and why.
func (p *Provider) waitInspectors(ctx context.Context, ds *appsv1.DaemonSet, nodes []corev1.Node) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	for {
		list, err := p.client.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: p.inspectorSelector})
		ready, missing := map[string]string{}, []string{}
		if err == nil {
			for _, pod := range list.Items {
				if podReady(pod) {
					ready[pod.Spec.NodeName] = pod.Name
				}
			}
			for _, n := range nodes {
				if _, ok := ready[n.Name]; !ok {
					missing = append(missing, n.Name+": "+podWhy(list.Items, n.Name))
				}
			}
			if len(missing) == 0 {
				return ready, nil
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return nil, fmt.Errorf("node inspector pods in %s: %w", ds.Namespace, err)
			}
			return nil, fmt.Errorf("the node inspector (image %s) is not ready on %d of %d nodes within %s:\n  %s\nis the image pushed to a registry the nodes pull from (%s)?", p.opts.InspectorImage, len(missing), len(nodes), p.wait, strings.Join(missing, "\n  "), inspector.ImageEnv)
		case <-time.After(time.Second):
		}
	}
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podWhy says why the inspector pod of a node is not ready: no pod yet, or its waiting
// container's reason (ErrImagePull, ...), or its phase.
func podWhy(pods []corev1.Pod, nodeName string) string {
	for _, pod := range pods {
		if pod.Spec.NodeName != nodeName {
			continue
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				return fmt.Sprintf("pod %s waiting: %s %s", pod.Name, w.Reason, w.Message)
			}
		}
		return fmt.Sprintf("pod %s %s, not ready", pod.Name, pod.Status.Phase)
	}
	return "no pod scheduled"
}

// Nodes implements cluster.Provider: every node, read through its inspector pod.
func (p *Provider) Nodes(ctx context.Context) ([]node.Node, error) {
	if len(p.nodes) == 0 {
		return nil, errors.New("no nodes: the node inspector is not deployed (Create first)")
	}
	return p.nodes, nil
}

// Kubeconfig implements cluster.Provider: the chosen context alone, credentials inlined.
func (p *Provider) Kubeconfig(ctx context.Context) ([]byte, error) {
	if p.raw == nil {
		if err := p.load(); err != nil {
			return nil, err
		}
	}
	return p.raw, nil
}

// HostEndpoint implements cluster.Provider: NodePortAddress when given, else the
// InternalIP of the first node by name, as a person on the cluster's network reaches it.
func (p *Provider) HostEndpoint(ctx context.Context, nodePort int32) (netip.AddrPort, error) {
	if p.opts.NodePortAddress != "" {
		a, err := netip.ParseAddr(p.opts.NodePortAddress)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("NodePort address %q: expected an IP address: %w", p.opts.NodePortAddress, err)
		}
		return netip.AddrPortFrom(a, uint16(nodePort)), nil
	}
	nodes, err := p.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return netip.AddrPort{}, err
	}
	slices.SortFunc(nodes.Items, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); err == nil && a.Type == corev1.NodeInternalIP && ip.Is4() {
				return netip.AddrPortFrom(ip, uint16(nodePort)), nil
			}
		}
	}
	return netip.AddrPort{}, errors.New("no node has an IPv4 InternalIP: give the address NodePorts answer at from here (IPVS_E2E_NODEPORT_ADDRESS)")
}

// ExportLogs implements cluster.Provider: the logs of kube-proxy's pods (and the previous
// container's, after a restart) and of the inspector's, per node.
func (p *Provider) ExportLogs(ctx context.Context, dir string) error {
	var errs []error
	export := func(namespace, selector, file string) {
		pods, err := p.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, pod := range pods.Items {
			for _, previous := range []bool{false, true} {
				body, err := p.client.CoreV1().Pods(namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Previous: previous}).DoRaw(ctx)
				if err != nil {
					if !previous {
						errs = append(errs, fmt.Errorf("logs of %s/%s: %w", namespace, pod.Name, err))
					}
					continue
				}
				name := file
				if previous {
					name = strings.TrimSuffix(file, ".log") + ".previous.log"
				}
				path := filepath.Join(dir, pod.Spec.NodeName, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					errs = append(errs, err)
					continue
				}
				if err := os.WriteFile(path, body, 0o644); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	export(kubeproxy.Namespace, kubeproxy.PodSelector, "kube-proxy.log")
	if p.inspectorNS != "" {
		export(p.inspectorNS, p.inspectorSelector, "inspector.log")
	}
	return errors.Join(errs...)
}

// Release implements cluster.Releaser: the inspector's namespace goes, whatever becomes of
// the run; nothing else in the cluster is touched.
func (p *Provider) Release(ctx context.Context) error {
	if p.inspectorNS == "" {
		return nil
	}
	ns := p.inspectorNS
	if err := fixtures.DeleteNamespace(ctx, p.client, ns, p.wait); err != nil {
		return fmt.Errorf("the node inspector's namespace: %w", err)
	}
	p.inspectorNS = ""
	slog.Info("node inspector removed", "namespace", ns)
	return nil
}

// ErrNeverDeleted is Delete's answer: this provider never deletes a cluster.
var ErrNeverDeleted = errors.New("the existing provider never deletes a cluster: it did not create it")

// Delete implements cluster.Provider by refusing: cluster.Decide never deletes a cluster
// the run did not create, and this provider creates none.
func (p *Provider) Delete(ctx context.Context) error { return ErrNeverDeleted }
