package labrun

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	kwait "sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/differential"
	diffmanifests "github.com/ipvs-e2e/ipvs-e2e/manifests/diff"
)

// Options configure one proxy's run.
type Options struct {
	// KubeProxy is the upstream release ("v1.37.2") or lab.Reference.
	KubeProxy string
	Scenarios []Scenario
	// IPVSDump is the host path of the static ipvsdump the node reads IPVS with.
	IPVSDump string
	// Quiet is how long the state must hold still, with no sync ending, after the proxy's
	// first sync following the scenario; 0 means 6 s (upstream's syncs take 2-6 s in the lab).
	Quiet time.Duration
	// Timeout bounds each wait (pods, endpoints, settling, cleanup); 0 means 3 minutes.
	Timeout time.Duration
	// OnCapture, when set, is called with each capture as soon as it is taken.
	OnCapture func(differential.Capture)
	// OnProxyLog, when set, gets the proxy's log (kubectl logs of its pod) at the end of
	// the run, before the cluster goes: its start lines say which families it proxies.
	OnProxyLog func(string)
}

func (o Options) quiet() time.Duration {
	if o.Quiet > 0 {
		return o.Quiet
	}
	return 6 * time.Second
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 3 * time.Minute
}

// poll is how often the node is read while waiting.
const poll = 2 * time.Second

// metricsURL is kube-proxy's (and the reference proxier's) metrics endpoint on the node.
const metricsURL = "http://127.0.0.1:10249/metrics"

type env struct {
	o      Options
	client kubernetes.Interface
	r      *resources.Resources
	node   node.Node
	read   node.ReadOptions
	// apiserver is the kubernetes Service's endpoint.
	apiserver netip.AddrPort
	// baseline is the restricted state of the Baseline scenario, which cleanup returns to.
	baseline *dataplane.State
}

// Run brings up a lab cluster running the proxy, runs every scenario and returns one
// capture per scenario, in order; the cluster is deleted before it returns. A scenario that
// fails gets a capture with Error set and the run goes on; an error is returned only when
// the cluster itself could not be used (then every scenario's capture carries it).
func Run(ctx context.Context, o Options) ([]differential.Capture, error) {
	start := time.Now()
	p, err := lab.New(cluster.Options{Name: "ipvs-diff", KubernetesVersion: o.KubeProxy})
	if err != nil {
		return failAll(o, err), err
	}
	if err := p.Preflight(ctx); err != nil {
		return failAll(o, err), err
	}
	slog.Info("ipvs-diff: starting a lab cluster", "kubeProxy", o.KubeProxy)
	if _, err := p.Create(ctx); err != nil {
		return failAll(o, err), err
	}
	defer func() {
		if err := p.Delete(context.WithoutCancel(ctx)); err != nil {
			slog.Error("ipvs-diff: deleting the lab cluster", "err", err)
		}
	}()
	e, err := connect(ctx, p, o)
	if err != nil {
		return failAll(o, err), err
	}
	var out []differential.Capture
	for _, s := range o.Scenarios {
		t := time.Now()
		c := e.scenario(ctx, s)
		slog.Info("ipvs-diff: scenario captured", "kubeProxy", o.KubeProxy, "scenario", s.Name, "settled", c.Settled,
			"programmed", c.Took.Round(100*time.Millisecond), "took", time.Since(t).Round(100*time.Millisecond), "error", c.Error)
		if o.OnCapture != nil {
			o.OnCapture(c)
		}
		out = append(out, c)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	if o.OnProxyLog != nil {
		o.OnProxyLog(e.proxyLog(ctx))
	}
	slog.Info("ipvs-diff: run done", "kubeProxy", o.KubeProxy, "scenarios", len(out), "took", time.Since(start).Round(time.Second))
	return out, nil
}

func failAll(o Options, err error) []differential.Capture {
	var out []differential.Capture
	for _, s := range o.Scenarios {
		out = append(out, differential.Capture{Scenario: s.Name, Proxy: o.KubeProxy, Error: "lab cluster: " + err.Error()})
	}
	return out
}

func connect(ctx context.Context, p *lab.Provider, o Options) (*env, error) {
	kc, err := p.Kubeconfig(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		return nil, err
	}
	e := &env{o: o}
	if e.client, err = kubernetes.NewForConfig(rc); err != nil {
		return nil, err
	}
	if e.r, err = resources.New(rc); err != nil {
		return nil, err
	}
	nodes, err := p.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	if len(nodes) != 1 {
		return nil, fmt.Errorf("lab cluster: expected one node, found %v", cluster.NodeNames(nodes))
	}
	e.node = nodes[0]
	if err := node.InstallIPVSDump(ctx, e.node, o.IPVSDump); err != nil {
		return nil, err
	}
	// The lab's node has ipset; ipvsdump reads IPVS with its timeouts. The guest has an
	// IPv6 address (QEMU's fec0::/64), so both proxies program IPv6 too when ip6tables
	// answers: read it whenever it does.
	e.read = node.ReadOptions{IPSets: node.NodeIPSet{}}
	if _, err := node.Output(ctx, e.node, "ip6tables-save"); err == nil {
		e.read.IPv6 = true
	} else {
		slog.Warn("ipvs-diff: ip6tables-save does not run on the node; comparing IPv4 rules only", "err", err)
	}
	if e.apiserver, err = e.apiServerEndpoint(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// apiServerEndpoint reads the kubernetes Service's one endpoint.
func (e *env) apiServerEndpoint(ctx context.Context) (netip.AddrPort, error) {
	sl, err := e.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
	if err != nil {
		return netip.AddrPort{}, err
	}
	for _, s := range sl.Items {
		for _, p := range s.Ports {
			if p.Port == nil || len(s.Endpoints) != 1 || len(s.Endpoints[0].Addresses) != 1 {
				continue
			}
			a, err := netip.ParseAddr(s.Endpoints[0].Addresses[0])
			if err == nil {
				return netip.AddrPortFrom(a, uint16(*p.Port)), nil
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("the kubernetes Service's EndpointSlices %v: expected one endpoint with one port", sl.Items)
}

// scenario applies one scenario, waits for the proxy to program it, captures the node and
// deletes the scenario's namespace, waiting for the node to return to the baseline (what
// stops that becomes a note of the capture: hence the named result).
func (e *env) scenario(ctx context.Context, s Scenario) (c differential.Capture) {
	c = differential.Capture{Scenario: s.Name, Proxy: e.o.KubeProxy, APIServer: e.apiserver}
	fail := func(err error) differential.Capture {
		c.Error = err.Error()
		return c
	}
	// The node's clock before anything is applied: the sync that programs the scenario
	// ends after it.
	t0, err := e.nodeTime(ctx)
	if err != nil {
		return fail(err)
	}
	if s.Name != Baseline {
		ns := "diff-" + s.Name
		if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return fail(fmt.Errorf("create namespace %s: %w", ns, err))
		}
		defer func() {
			if note := e.cleanup(ctx, ns); note != "" {
				c.Notes = append(c.Notes, note)
			}
		}()
		if err := e.apply(ctx, s, ns); err != nil {
			return fail(err)
		}
		pods, err := e.waitReady(ctx, ns)
		if err != nil {
			return fail(err)
		}
		c.Names = differential.PodNames(pods)
	}
	st, settled, took, err := e.settle(ctx, t0)
	if err != nil {
		return fail(err)
	}
	c.State, c.Settled, c.Took = st, settled, took
	if s.Name == Baseline {
		b := differential.Restrict(st)
		e.baseline = &b
	}
	return c
}

func (e *env) apply(ctx context.Context, s Scenario, ns string) error {
	for _, b := range s.Backends {
		d := fixtures.Backend(b.Name, ns, fixtures.BackendOptions{Replicas: b.Replicas})
		if err := e.r.Create(ctx, d); err != nil {
			return fmt.Errorf("create deployment %s/%s: %w", ns, b.Name, err)
		}
	}
	if s.Apply != nil {
		if err := s.Apply(ctx, e.r, ns); err != nil {
			return err
		}
	}
	for _, b := range s.Backends {
		if err := kwait.For(conditions.New(e.r).DeploymentAvailable(b.Name, ns), kwait.WithTimeout(e.o.timeout()), kwait.WithContext(ctx)); err != nil {
			return fmt.Errorf("deployment %s/%s not available after %s: %w", ns, b.Name, e.o.timeout(), err)
		}
	}
	return e.publishIngress(ctx, ns)
}

// publishIngress plays the cloud controller: each LoadBalancer Service annotated with an
// ingress IP gets it in its status.
func (e *env) publishIngress(ctx context.Context, ns string) error {
	list, err := e.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, s := range list.Items {
		ip := s.Annotations[diffmanifests.IngressIPAnnotation]
		if ip == "" || s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
		if _, err := e.client.CoreV1().Services(ns).UpdateStatus(ctx, &s, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("write ingress IP %s into the status of service %s/%s: %w", ip, ns, s.Name, err)
		}
	}
	return nil
}

// waitReady waits until every pod of the namespace is Ready with an IP and every Service
// with a selector has exactly its ready pods as ready endpoints, so that the proxy has been
// told everything before the sync wait starts. It returns the pods.
func (e *env) waitReady(ctx context.Context, ns string) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, e.o.timeout(), true, func(ctx context.Context) (bool, error) {
		pl, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		pods = pl.Items
		for _, p := range pods {
			if p.Status.PodIP == "" || !podReady(p) {
				last = "pod " + p.Name + " not Ready with an IP"
				return false, nil
			}
		}
		sl, err := e.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, s := range sl.Items {
			if len(s.Spec.Selector) == 0 {
				continue
			}
			want := podIPsMatching(pods, s.Spec.Selector)
			got, err := e.readyEndpoints(ctx, ns, s.Name)
			if err != nil {
				last = err.Error()
				return false, nil
			}
			if !slices.Equal(want, got) {
				last = fmt.Sprintf("service %s: ready endpoints %v, expected the ready pods %v", s.Name, got, want)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("namespace %s not ready within %s (last: %s): %w", ns, e.o.timeout(), last, err)
	}
	return pods, nil
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podIPsMatching(pods []corev1.Pod, selector map[string]string) []string {
	sel := labels.SelectorFromSet(selector)
	var out []string
	for _, p := range pods {
		if sel.Matches(labels.Set(p.Labels)) && !slices.Contains(out, p.Status.PodIP) {
			out = append(out, p.Status.PodIP)
		}
	}
	slices.Sort(out)
	return out
}

func (e *env) readyEndpoints(ctx context.Context, ns, svc string) ([]string, error) {
	sl, err := e.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range sl.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				if !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// settle waits until the proxy has programmed what the API holds now (the caller waited
// for the pods and EndpointSlices): a sync that ended after t0 (the node's clock before
// the scenario was applied; the proxy's metrics use that clock), no change queued after
// its family's last sync ended, then the state unchanged, with no sync ending, for the
// quiet period.
// It returns the last state read, whether it settled, and how long from the call until
// the state reached its final form.
func (e *env) settle(ctx context.Context, t0 time.Time) (dataplane.State, bool, time.Duration, error) {
	start := time.Now()
	var (
		st          dataplane.State
		prev        *dataplane.State
		prevSync    time.Time
		stableSince time.Time
		lastErr     error
	)
	deadline := time.Now().Add(e.o.timeout())
	for {
		sync, err := e.syncState(ctx)
		if err == nil {
			st, err = node.ReadState(ctx, e.node, e.read)
		}
		now := time.Now()
		switch {
		case err != nil:
			lastErr = err
			prev = nil
		case !sync.Latest.After(t0) || sync.Pending:
			prev = nil
		case prev != nil && sync.Latest.Equal(prevSync) && dataplane.Equal(differential.Restrict(*prev), differential.Restrict(st)):
			if now.Sub(stableSince) >= e.o.quiet() {
				return st, true, stableSince.Sub(start), nil
			}
		default:
			cp := st
			prev, prevSync, stableSince = &cp, sync.Latest, now
		}
		if now.After(deadline) {
			if prev == nil && lastErr != nil {
				return st, false, 0, fmt.Errorf("read the node while waiting for the proxy to sync: %w", lastErr)
			}
			return st, false, now.Sub(start), nil
		}
		select {
		case <-ctx.Done():
			return st, false, 0, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// nodeTime is the node's clock, to second precision, rounded up: a sync the metric says
// ended after it ended after this call.
func (e *env) nodeTime(ctx context.Context) (time.Time, error) {
	out, err := node.Output(ctx, e.node, "date", "+%s")
	if err != nil {
		return time.Time{}, err
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("node %s: `date +%%s` printed %q: expected seconds since the epoch", e.node.Name(), out)
	}
	return time.Unix(sec+1, 0), nil
}

// syncState reads the proxy's sync metrics on the node.
func (e *env) syncState(ctx context.Context) (syncState, error) {
	out, err := node.Output(ctx, e.node, "curl", "-sS", "--fail", "--max-time", "3", metricsURL)
	if err != nil {
		return syncState{}, err
	}
	return readSyncState(out)
}

// proxyLog is the log of the proxy's pod on the node, or why it could not be read.
func (e *env) proxyLog(ctx context.Context) string {
	kp := kubeproxy.Cluster{Client: e.client, Nodes: []node.Node{e.node}}
	pod, err := kubeproxy.PodOnNode(ctx, kp, e.node.Name())
	if err != nil {
		return "no log: " + err.Error()
	}
	log, err := kubeproxy.ClientLogs{Client: e.client}.PodLogs(ctx, kubeproxy.Namespace, pod.Name, kubeproxy.ContainerName, false)
	if err != nil {
		return "no log: " + err.Error()
	}
	return log
}

// cleanup deletes the namespace (its pods without a grace period), waits for it to go,
// then for the node's dataplane to be the baseline's again. What stops it is returned as a note for the scenario's capture.
func (e *env) cleanup(ctx context.Context, ns string) string {
	ctx = context.WithoutCancel(ctx)
	if err := e.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Sprintf("cleanup: delete namespace %s: %v", ns, err)
	}
	// Pods are deleted at once rather than after their 30 s grace period: both proxies see
	// the same, and the run is shorter by that much per scenario.
	zero := int64(0)
	err := wait.PollUntilContextTimeout(ctx, time.Second, e.o.timeout(), true, func(ctx context.Context) (bool, error) {
		_ = e.client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
		_, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Sprintf("cleanup: namespace %s still there after %s", ns, e.o.timeout())
	}
	if e.baseline == nil {
		return ""
	}
	var diff string
	err = wait.PollUntilContextTimeout(ctx, poll, e.o.timeout(), true, func(ctx context.Context) (bool, error) {
		st, err := node.ReadState(ctx, e.node, e.read)
		if err != nil {
			diff = err.Error()
			return false, nil
		}
		diff = dataplane.Diff(*e.baseline, differential.Restrict(st)).String()
		return diff == "", nil
	})
	if err != nil {
		return fmt.Sprintf("cleanup: after deleting namespace %s the node did not return to the baseline within %s (- baseline, + left):\n%s", ns, e.o.timeout(), diff)
	}
	return ""
}
