package labrun

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"

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
	// Quiet is how long the proxy's sync metrics and the node's dataplane must hold still,
	// no change pending, to settle a step without a sync known to have begun after the
	// proxy queued the step's change (see settling); 0 means 6 s (upstream's syncs take
	// 2-6 s in the lab, and one queued during the quiet period moves the metrics).
	Quiet time.Duration
	// Timeout bounds each wait (pods, endpoints, settling, cleanup); 0 means 3 minutes.
	Timeout time.Duration
	// OnCapture, when set, is called with each step's capture as soon as it is taken.
	OnCapture func(differential.Capture)
	// OnProxyLog, when set, gets the proxy's log (kubectl logs of its pod) at the end of
	// the run, before the cluster goes: its start lines say which families it proxies.
	OnProxyLog func(string)
}

// withDefaults gives the durations left at 0 their defaults, once, before the run.
func (o Options) withDefaults() Options {
	if o.Quiet <= 0 {
		o.Quiet = 6 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	return o
}

// poll is how often the node's dataplane is read while waiting; metricsPoll how often the
// proxy's sync metrics are, more often than upstream's syncs end (they take 2-20 s in the
// lab, and syncs are at least its minSyncPeriod, 1 s, apart).
const (
	poll        = 2 * time.Second
	metricsPoll = time.Second
)

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
	// base is the node as the cluster was created, which every delete step returns to.
	base baseline
}

// baseline is the node's dataplane before any scenario ran.
type baseline struct {
	state      dataplane.State
	restricted dataplane.State
	took       time.Duration
}

// Run brings up a lab cluster running the proxy, reads the node's baseline, runs every
// scenario's steps and returns one capture per step, in order; the cluster is deleted
// before it returns. A step that fails gets a capture with Error set, the scenario's later
// steps up to its delete are not run, and the run goes on; an error is returned only when
// the cluster itself could not be used (then every step's capture carries it).
func Run(ctx context.Context, o Options) ([]differential.Capture, error) {
	start := time.Now()
	o = o.withDefaults()
	p, err := lab.New(cluster.Options{Name: "ipvs-diff", KubernetesVersion: o.KubeProxy})
	if err != nil {
		return failAll(o, err), err
	}
	if err := p.Preflight(ctx); err != nil {
		return failAll(o, err), err
	}
	slog.Info("diff: starting a lab cluster", "kubeProxy", o.KubeProxy)
	if _, err := p.Create(ctx); err != nil {
		return failAll(o, err), err
	}
	defer func() {
		if err := p.Delete(context.WithoutCancel(ctx)); err != nil {
			slog.Error("diff: deleting the lab cluster", "err", err)
		}
	}()
	e, err := connect(ctx, p, o)
	if err != nil {
		return failAll(o, err), err
	}
	if err := e.readBaseline(ctx); err != nil {
		return failAll(o, err), err
	}
	var out []differential.Capture
	for _, s := range o.Scenarios {
		out = append(out, e.scenario(ctx, s)...)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	if o.OnProxyLog != nil {
		o.OnProxyLog(e.proxyLog(ctx))
	}
	slog.Info("diff: run done", "kubeProxy", o.KubeProxy, "scenarios", len(out), "took", time.Since(start).Round(time.Second))
	return out, nil
}

func failAll(o Options, err error) []differential.Capture {
	var out []differential.Capture
	for _, id := range StepIDs(o.Scenarios) {
		out = append(out, differential.Capture{Scenario: id, Proxy: o.KubeProxy, Error: "lab cluster: " + err.Error()})
	}
	return out
}

func connect(ctx context.Context, p *lab.Provider, o Options) (*env, error) {
	rc, client, err := cluster.Connect(ctx, p)
	if err != nil {
		return nil, err
	}
	e := &env{o: o, client: client}
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
		slog.Warn("diff: ip6tables-save does not run on the node; comparing IPv4 rules only", "err", err)
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

// readBaseline reads the node before any scenario: once the proxy has settled, with
// nothing applied.
func (e *env) readBaseline(ctx context.Context) error {
	began, err := e.syncMetricsBefore(ctx)
	if err != nil {
		return err
	}
	now := make(chan struct{})
	close(now)
	st, took, err := e.settle(ctx, began, now, nil)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	e.base = baseline{state: st, restricted: differential.Restrict(st), took: took}
	return nil
}

// scenario runs the scenario's steps in its namespace, one capture each.
func (e *env) scenario(ctx context.Context, s Scenario) []differential.Capture {
	ns := "diff-" + s.Name
	var (
		out   []differential.Capture
		names differential.Names
	)
	runSteps(s.Steps(), func(step Step, skipped string) error {
		t := time.Now()
		c := differential.Capture{Scenario: StepID(s.Name, step), Proxy: e.o.KubeProxy, APIServer: e.apiserver, Names: names, Error: skipped}
		var err error
		if skipped == "" {
			if err = e.step(ctx, s, step, ns, &c); err != nil {
				c.Error = err.Error()
			}
		}
		names = c.Names
		slog.Info("diff: step captured", "kubeProxy", e.o.KubeProxy, "step", c.Scenario, "settled", c.Settled,
			"programmed", c.Took.Round(100*time.Millisecond), "took", time.Since(t).Round(100*time.Millisecond), "error", c.Error)
		if e.o.OnCapture != nil {
			e.o.OnCapture(c)
		}
		out = append(out, c)
		return err
	})
	return out
}

// runSteps calls run for each step in order. After a step fails, the steps before delete
// are skipped (run is told why, and acts on nothing); delete always runs, so that the next
// scenario starts from the baseline.
func runSteps(steps []Step, run func(step Step, skipped string) error) {
	var failed Step
	for _, step := range steps {
		if failed != "" && step != StepDelete {
			_ = run(step, fmt.Sprintf("not run: the %s step failed", failed))
			continue
		}
		if err := run(step, ""); err != nil && failed == "" {
			failed = step
		}
	}
}

// step applies one step, waits until the API holds it (pods Ready, EndpointSlices
// current, the namespace gone) and the proxy has settled, and fills c with the node's
// state. The proxy's sync metrics are sampled from before the step is applied, so that
// syncs ending meanwhile are told apart. A delete step settles only at the baseline.
func (e *env) step(ctx context.Context, s Scenario, step Step, ns string, c *differential.Capture) error {
	if s.Name == Baseline {
		c.State, c.Settled, c.Took = e.base.state, true, e.base.took
		return nil
	}
	began, err := e.syncMetricsBefore(ctx)
	if err != nil {
		return err
	}
	var target *dataplane.State
	if step == StepDelete {
		target = &e.base.restricted
	}
	type settled struct {
		state dataplane.State
		took  time.Duration
		err   error
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	applied, done := make(chan struct{}), make(chan settled, 1)
	go func() {
		st, took, err := e.settle(sctx, began, applied, target)
		done <- settled{st, took, err}
	}()
	if err := e.apply(ctx, s, step, ns, c); err != nil {
		cancel()
		<-done
		return err
	}
	close(applied)
	r := <-done
	c.State = r.state
	if r.err != nil {
		return r.err
	}
	c.Settled, c.Took = true, r.took
	return nil
}

// apply makes the step's change and waits until the API holds it: for create and change,
// the Deployments rolled out, the ingress IPs published and the pods Ready behind their
// Services (their names go into c); for delete, the namespace gone.
func (e *env) apply(ctx context.Context, s Scenario, step Step, ns string, c *differential.Capture) error {
	var err error
	switch step {
	case StepCreate:
		err = e.create(ctx, s, ns)
	case StepChange:
		err = s.Change.Apply(ctx, e.r, ns)
	case StepDelete:
		return e.deleteNamespace(ctx, ns)
	default:
		err = fmt.Errorf("step %q: expected %s, %s or %s", step, StepCreate, StepChange, StepDelete)
	}
	if err != nil {
		return err
	}
	if err := e.waitRolledOut(ctx, ns); err != nil {
		return err
	}
	if err := e.publishIngress(ctx, ns); err != nil {
		return err
	}
	pods, err := e.waitReady(ctx, ns)
	if err != nil {
		return err
	}
	c.Names = differential.PodNames(pods)
	return nil
}

// create makes the scenario's namespace, its backends and its other objects.
func (e *env) create(ctx context.Context, s Scenario, ns string) error {
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	for _, b := range s.Backends {
		d := fixtures.Backend(b.Name, ns, fixtures.BackendOptions{Replicas: b.Replicas})
		if err := e.r.Create(ctx, d); err != nil {
			return fmt.Errorf("create deployment %s/%s: %w", ns, b.Name, err)
		}
	}
	if s.Apply != nil {
		return s.Apply(ctx, e.r, ns)
	}
	return nil
}

// waitRolledOut waits until every Deployment of the namespace runs its replicas, all
// current and available: after a scale, before the pods are counted.
func (e *env) waitRolledOut(ctx context.Context, ns string) error {
	return e.waitUntil(ctx, "deployments of namespace "+ns+" not rolled out", func(ctx context.Context) (string, error) {
		list, err := e.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		for _, d := range list.Items {
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			st := d.Status
			if st.ObservedGeneration < d.Generation || st.Replicas != want || st.UpdatedReplicas != want || st.AvailableReplicas != want {
				return fmt.Sprintf("deployment %s: %d replicas, %d updated, %d available (generation %d observed %d), expected %d", d.Name,
					st.Replicas, st.UpdatedReplicas, st.AvailableReplicas, d.Generation, st.ObservedGeneration, want), nil
			}
		}
		return "", nil
	})
}

// waitFailed is a check's verdict that waiting longer cannot help (a pod that cannot start).
type waitFailed struct{ error }

// waitUntil runs check every second, up to the timeout, until it finds nothing missing. check
// returns what is missing, "" when nothing is; a failed read counts as missing, a waitFailed
// ends the wait at once. The error starts with what and ends with the last thing missing.
func (e *env) waitUntil(ctx context.Context, what string, check func(context.Context) (string, error)) error {
	var last string
	var failed waitFailed
	err := wait.PollUntilContextTimeout(ctx, time.Second, e.o.Timeout, true, func(ctx context.Context) (bool, error) {
		missing, err := check(ctx)
		if errors.As(err, &failed) {
			return false, failed.error
		}
		if err != nil {
			missing = err.Error()
		}
		last = missing
		return missing == "", nil
	})
	if failed.error != nil {
		return fmt.Errorf("%s: %w", what, failed.error)
	}
	if err != nil {
		return fmt.Errorf("%s within %s (last: %s): %w", what, e.o.Timeout, last, err)
	}
	return nil
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
	err := e.waitUntil(ctx, "namespace "+ns+" not ready", func(ctx context.Context) (string, error) {
		pl, err := e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		pods = pl.Items
		for _, p := range pods {
			if why := fixtures.PodFailing(p); why != "" {
				return "", waitFailed{fmt.Errorf("pod %s/%s cannot become Ready: %s", ns, p.Name, why)}
			}
			if p.Status.PodIP == "" || !fixtures.PodReady(p) {
				return "pod " + p.Name + " not Ready with an IP", nil
			}
		}
		sl, err := e.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		for _, s := range sl.Items {
			if len(s.Spec.Selector) == 0 {
				continue
			}
			want := podIPsMatching(pods, s.Spec.Selector)
			got, err := e.readyEndpoints(ctx, ns, s.Name)
			if err != nil {
				return "", err
			}
			if !slices.Equal(want, got) {
				return fmt.Sprintf("service %s: ready endpoints %v, expected the ready pods %v", s.Name, got, want), nil
			}
		}
		return "", nil
	})
	if err != nil {
		return nil, err
	}
	return pods, nil
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

// settle samples the proxy's sync metrics every metricsPoll from the call (began is the
// metrics before the step) and, once applied is closed, reads the node when they show the
// step synced, and every poll in any case, until the proxy has settled the step (see
// settling) and, when target is set, the node's restricted state is target. It returns the
// node's state and how long from applied until the state took its final form; when the
// timeout passes first, the last state read and an error quoting what the readings showed.
func (e *env) settle(ctx context.Context, began kubeproxy.SyncMetrics, applied <-chan struct{}, target *dataplane.State) (dataplane.State, time.Duration, error) {
	s := newSettling(began, e.o.Quiet)
	var (
		start, deadline time.Time
		lastErr         error
		lastRead        time.Time
		last            dataplane.State
	)
	for {
		m, err := e.syncMetrics(ctx)
		if err == nil {
			s.sample(time.Now(), m)
		} else if ferr := kubeproxy.Failing(ctx, e.kubeProxy(), e.node.Name()); ferr != nil {
			// No metrics because the proxy cannot run: waiting longer will not help.
			return last, 0, fmt.Errorf("the proxy did not settle: %w", ferr)
		}
		if start.IsZero() {
			select {
			case <-applied:
				start = time.Now()
				deadline = start.Add(e.o.Timeout)
			default:
			}
		}
		if !start.IsZero() && err == nil && (s.ready() || time.Since(lastRead) >= poll) {
			var r reading
			r, last, err = e.readNode(ctx)
			lastRead = time.Now()
			// Settled away from the target, the proxy may not have been told everything
			// yet: read on until the timeout.
			if err == nil && s.observe(r) && (target == nil || dataplane.Equal(*target, r.State)) {
				slog.Info("diff: settled", "kubeProxy", e.o.KubeProxy, "evidence", s.why)
				return last, max(s.stateSince.Sub(start), 0), nil
			}
		}
		if err != nil {
			lastErr = err
		}
		if !start.IsZero() && time.Now().After(deadline) {
			switch {
			case s.state == nil:
				return last, 0, fmt.Errorf("the proxy did not settle within %s: the node could not be read: %w", e.o.Timeout, lastErr)
			case target != nil && !dataplane.Equal(*target, *s.state):
				return last, 0, fmt.Errorf("the node did not return to the baseline within %s (- baseline, + left):\n%s\nthe proxy's metrics: %s",
					e.o.Timeout, strings.TrimSuffix(dataplane.Diff(*target, *s.state).String(), "\n"), s.evidence())
			}
			return last, 0, fmt.Errorf("the proxy did not settle within %s: %s", e.o.Timeout, s.evidence())
		}
		select {
		case <-ctx.Done():
			return last, 0, ctx.Err()
		case <-time.After(metricsPoll):
		}
	}
}

// readNode takes one reading of the node: the sync metrics, the dataplane, the metrics again.
// It returns the whole state as well as the reading's restricted one.
func (e *env) readNode(ctx context.Context) (reading, dataplane.State, error) {
	before, err := e.syncMetrics(ctx)
	if err != nil {
		return reading{}, dataplane.State{}, err
	}
	st, err := node.ReadState(ctx, e.node, e.read)
	if err != nil {
		return reading{}, dataplane.State{}, err
	}
	after, err := e.syncMetrics(ctx)
	if err != nil {
		return reading{}, dataplane.State{}, err
	}
	return reading{At: time.Now(), Before: before, After: after, State: differential.Restrict(st)}, st, nil
}

// syncMetricsBefore reads the proxy's sync metrics before a step, again every second
// while the read fails, up to the timeout.
func (e *env) syncMetricsBefore(ctx context.Context) (kubeproxy.SyncMetrics, error) {
	var (
		m       kubeproxy.SyncMetrics
		lastErr error
	)
	err := wait.PollUntilContextTimeout(ctx, time.Second, e.o.Timeout, true, func(ctx context.Context) (bool, error) {
		m, lastErr = e.syncMetrics(ctx)
		return lastErr == nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("no reading within %s: %w", e.o.Timeout, cmp.Or(lastErr, err))
	}
	return m, nil
}

// syncMetrics reads the proxy's sync metrics on the node.
func (e *env) syncMetrics(ctx context.Context) (kubeproxy.SyncMetrics, error) {
	out, err := node.Output(ctx, e.node, "curl", "-sS", "--fail", "--max-time", "3", metricsURL)
	if err != nil {
		return nil, fmt.Errorf("read the proxy's metrics on node %s: %w", e.node.Name(), err)
	}
	return kubeproxy.ParseSyncMetrics(out)
}

func (e *env) kubeProxy() kubeproxy.Cluster {
	return kubeproxy.Cluster{Client: e.client, Nodes: []node.Node{e.node}}
}

// proxyLog is the log of the proxy's pod on the node, or why it could not be read.
func (e *env) proxyLog(ctx context.Context) string {
	pod, err := kubeproxy.PodOnNode(ctx, e.kubeProxy(), e.node.Name())
	if err != nil {
		return "no log: " + err.Error()
	}
	log, err := kubeproxy.ClientLogs{Client: e.client}.PodLogs(ctx, kubeproxy.Namespace, pod.Name, kubeproxy.ContainerName, false)
	if err != nil {
		return "no log: " + err.Error()
	}
	return log
}

// deleteNamespace deletes the namespace (its pods without a grace period) and waits for
// it to go.
func (e *env) deleteNamespace(ctx context.Context, ns string) error {
	ctx = context.WithoutCancel(ctx)
	if err := e.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	// Pods are deleted at once rather than after their 30 s grace period: both proxies see
	// the same, and the run is shorter by that much per scenario.
	zero := int64(0)
	err := wait.PollUntilContextTimeout(ctx, time.Second, e.o.Timeout, true, func(ctx context.Context) (bool, error) {
		_ = e.client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
		_, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s still there %s after deleting it: %w", ns, e.o.Timeout, err)
	}
	return nil
}
