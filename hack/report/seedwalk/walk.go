package seedwalk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	clusterlab "github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// Common are the options both walks take, a lab walk (Options) and a walk of a cluster
// the project did not create (ExistingOptions): one home for their defaults and checks.
type Common struct {
	// Method is MethodConfigMap or MethodCreation; its default is the walk's (see Options
	// and ExistingOptions).
	Method string
	// Out receives the walk as a person would see it.
	Out io.Writer
	// Lang is the language of the headings, explanations and verdicts; default English.
	Lang lang.Lang
	// ServiceTimeout bounds the wait for the seed's Service to reach IPVS (on every node,
	// on a cluster the project did not create); default 3 minutes.
	ServiceTimeout time.Duration
}

// withDefaults fills the options left empty, Method with the walk's own default.
func (c Common) withDefaults(method string) Common {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Method == "" {
		c.Method = method
	}
	if c.Lang == "" {
		c.Lang = lang.English
	}
	if c.ServiceTimeout <= 0 {
		c.ServiceTimeout = 3 * time.Minute
	}
	return c
}

// Options configure Walk.
type Options struct {
	// KubeProxy is the upstream release run as kube-proxy (and as the control plane), or
	// clusterlab.Reference for the reference proxier; default clusterlab.DefaultVersion.
	KubeProxy string
	// Common.Method is MethodConfigMap (the seed's main path, default) or MethodCreation.
	Common
}

// DefaultMethod is the method a walk uses when Options.Method is empty: the seed's main
// path, method 2, for upstream kube-proxy; method 1 for the reference proxier, which
// implements ipvs mode only and so cannot start in iptables mode to be switched.
func DefaultMethod(kubeProxy string) string {
	if kubeProxy == clusterlab.Reference {
		return MethodCreation
	}
	return MethodConfigMap
}

func (o Options) withDefaults() Options {
	if o.KubeProxy == "" {
		o.KubeProxy = clusterlab.DefaultVersion
	}
	o.Common = o.Common.withDefaults(DefaultMethod(o.KubeProxy))
	return o
}

// Validate rejects options a walk cannot honour, before anything is built or started.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.KubeProxy != clusterlab.Reference {
		if _, err := upstream.ParseRelease(o.KubeProxy); err != nil {
			return fmt.Errorf("kube-proxy %q: expected a release such as %s, or %q: %w", o.KubeProxy, clusterlab.DefaultVersion, clusterlab.Reference, err)
		}
	}
	if _, err := lang.Parse(string(o.Lang)); err != nil {
		return err
	}
	// The control plane is upstream's whatever the proxy, so its download settings count.
	if err := upstream.CheckEnv(); err != nil {
		return err
	}
	switch {
	case o.Method != MethodConfigMap && o.Method != MethodCreation:
		return fmt.Errorf("method %q: expected %q (the seed's method 2: edit the ConfigMap, delete the pods) or %q (method 1: mode ipvs at creation)",
			o.Method, MethodConfigMap, MethodCreation)
	case o.Method == MethodConfigMap && o.KubeProxy == clusterlab.Reference:
		return fmt.Errorf("method %q with the reference proxier: it implements ipvs mode only, so it cannot start in iptables mode to be switched; use method %q",
			MethodConfigMap, MethodCreation)
	}
	return nil
}

// Timings are the walk's phases.
type Timings struct {
	// Binaries is finding (or, on a first run, building) the upstream binaries.
	Binaries time.Duration
	// Create is the lab cluster's creation: control plane, guest boot, kube-proxy's first sync.
	Create time.Duration
	// Steps is the seed's steps, waits included.
	Steps time.Duration
	// Delete is the teardown: guest powered off, control plane stopped, ports free.
	Delete time.Duration
	Total  time.Duration
}

// Report is a finished walk.
type Report struct {
	Record  Record
	Timings Timings
}

// clusterName is the lab cluster's name (it shows in the provider's log lines only).
const clusterName = "ipvs-e2e-lab-walk"

// Walk creates a lab cluster, walks through the seed's steps printing each with its real
// output and elapsed time, and deletes the cluster, Ctrl-C included. The error is for a
// walk that could not run (binaries, cluster creation, cancellation); what the steps
// showed is judged from the report's record (Judge), failed steps included.
func Walk(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	reference := o.KubeProxy == clusterlab.Reference
	version := o.KubeProxy
	if reference {
		version = clusterlab.DefaultVersion
	}
	rel, err := upstream.ParseRelease(version)
	if err != nil {
		return nil, err
	}
	rep := &Report{Record: Record{Facts: Facts{KubeProxy: o.KubeProxy, Reference: reference, Method: o.Method}, Results: map[string]Result{}}}
	if !reference {
		rep.Record.Facts.Minor = rel.Minor
	}

	printIntro(o.Out, o.Lang, rep.Record.Facts)
	t := time.Now()
	paths, err := binaries(ctx, o.Out, o.Lang, version, reference)
	if err != nil {
		return nil, err
	}
	rep.Timings.Binaries = time.Since(t)

	mode := cluster.ModeIPTables
	if o.Method == MethodCreation {
		mode = cluster.ModeIPVS
	}
	p, err := clusterlab.New(cluster.Options{Name: clusterName, KubernetesVersion: o.KubeProxy, ProxyMode: mode, HostNodePorts: []int32{seedNodePort}})
	if err != nil {
		return nil, err
	}
	if err := p.Preflight(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "\n%s\n", o.Lang.Sprintf(lang.LabCreating, clusterlab.NodeName, mode))
	t = time.Now()
	_, err = p.Create(ctx)
	rep.Timings.Create = time.Since(t)
	if err != nil {
		return nil, fmt.Errorf("creating the lab cluster: %w", err)
	}
	fmt.Fprintln(o.Out, o.Lang.Sprintf(lang.LabUp, FormatElapsed(rep.Timings.Create)))
	defer func() {
		t := time.Now()
		if err := p.Delete(context.Background()); err != nil {
			slog.Error("seedwalk: deleting the lab cluster", "err", err)
		}
		rep.Timings.Delete = time.Since(t)
		rep.Timings.Total = time.Since(start)
	}()

	// The walk's files live in the cluster's run directory: removed with it, or kept with
	// it when the run failed.
	w, err := newWalker(ctx, o.Out, o.Lang, p, filepath.Join(p.RunDir(), "walk"), paths.Binary(upstream.Kubectl), &rep.Record)
	if err != nil {
		return rep, err
	}
	return rep, rep.timeSteps(ctx, func() error { return w.walk(ctx, o) })
}

// timeSteps runs a walk's steps and times them; a walk cancelled (Ctrl-C) between steps
// ends with the cancellation's error.
func (rep *Report) timeSteps(ctx context.Context, steps func() error) error {
	t := time.Now()
	err := steps()
	rep.Timings.Steps = time.Since(t)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return err
}

// printIntro says what the lab walk runs: the release, the node, kube-proxy and the method.
func printIntro(out io.Writer, l lang.Lang, f Facts) {
	version, proxy := f.KubeProxy, lang.T(lang.ProxyUpstream, f.KubeProxy)
	if f.Reference {
		version, proxy = clusterlab.DefaultVersion, lang.T(lang.ProxyReference)
	}
	method := lang.T(lang.SwitchConfigMap)
	if f.Method == MethodCreation {
		method = lang.T(lang.SwitchCreation)
	}
	for _, t := range []lang.Text{lang.T(lang.IntroTitle), lang.T(lang.IntroControlPlane, version), lang.T(lang.IntroNode, clusterlab.NodeName),
		lang.T(lang.IntroProxy, proxy), lang.T(lang.IntroSwitch, method), lang.T(lang.IntroPrompts, version, strings.TrimSpace(NodePrompt))} {
		fmt.Fprintln(out, l.Render(t))
	}
}

// binaries finds the upstream binaries the walk needs, fetching the missing ones. A first
// run without a release host builds them from the Go module proxy, which takes minutes: say
// so before it starts.
func binaries(ctx context.Context, out io.Writer, l lang.Lang, version string, reference bool) (upstream.Paths, error) {
	cs := []string{upstream.Etcd, upstream.KubeAPIServer, upstream.KubeControllerManager, upstream.Kubectl}
	if !reference {
		cs = append(cs, upstream.KubeProxy)
	}
	uo := upstream.Options{Version: version, Components: cs}
	paths, err := upstream.Lookup(ctx, uo)
	var nb *upstream.NotBuiltError
	switch {
	case errors.As(err, &nb):
		fmt.Fprintf(out, "lab: upstream %s binaries not cached yet (%s): fetching them now into %s.\n"+
			"     The release binaries download in seconds; without a release host (or with %s=build) they are built\n"+
			"     from the Go module proxy, 7-15 minutes on 2 cores. Progress lines follow on stderr. Later runs reuse them.\n",
			version, strings.Join(nb.Components, ", "), upstream.ReleaseDir(upstream.DefaultCacheDir(), nb.Release), upstream.SourceEnv)
		t := time.Now()
		paths, err = upstream.Build(ctx, uo)
		if err != nil {
			return paths, err
		}
		fmt.Fprintf(out, "lab: upstream %s binaries ready in %s\n", version, FormatElapsed(time.Since(t)))
		return paths, nil
	case err != nil:
		return paths, err
	}
	fmt.Fprintln(out, l.Sprintf(lang.LabBinariesCached, version, paths.BinDir))
	return paths, nil
}

// walker runs the steps: host lines with /bin/sh in a scratch directory whose bin/ holds
// the release's kubectl, node lines with sh on the lab node through its agent.
type walker struct {
	out      io.Writer
	lang     lang.Lang
	dir      string
	env      []string
	node     node.Node
	client   kubernetes.Interface
	kp       kubeproxy.Cluster
	provider cluster.Provider
	rec      *Record
	// guestNow is the node's clock when inIPVS last found the Service.
	guestNow time.Time
	// nodes are every node, by name, for the steps that name theirs (a cluster the walk
	// did not create); node is the first.
	nodes map[string]node.Node
}

func newWalker(ctx context.Context, out io.Writer, l lang.Lang, p cluster.Provider, dir, kubectl string, rec *Record) (*walker, error) {
	kubeconfig, err := p.Kubeconfig(ctx)
	if err != nil {
		return nil, err
	}
	_, cs, err := cluster.Connect(ctx, p)
	if err != nil {
		return nil, err
	}
	nodes, err := p.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("the lab cluster has no node")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("the walk's folder: %w", err)
	}
	svc, err := manifests.FS.ReadFile(manifests.ServiceIPVS)
	if err != nil {
		return nil, err
	}
	// The editor kubectl edit runs: the one change a person makes in vi, on config.conf's
	// top-level mode line (indented under `config.conf: |` in the ConfigMap's YAML).
	editor := "#!/bin/sh\n# KUBE_EDITOR for the seed's `kubectl -n kube-system edit configmap kube-proxy`\n" +
		"exec sed -i -e 's/^\\(  *\\)mode: .*$/\\1mode: \"ipvs\"/' \"$1\"\n"
	files := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{"kubeconfig", kubeconfig, 0o600},
		{ManifestPath, svc, 0o644},
		{"edit-mode.sh", []byte(editor), 0o755},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink(kubectl, filepath.Join(dir, "bin", "kubectl")); err != nil {
		return nil, err
	}
	env := append(os.Environ(),
		"PATH="+filepath.Join(dir, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+filepath.Join(dir, "kubeconfig"),
		"KUBE_EDITOR="+filepath.Join(dir, "edit-mode.sh"),
		"LC_ALL=C")
	byName := map[string]node.Node{}
	for _, n := range nodes {
		byName[n.Name()] = n
	}
	return &walker{
		out: out, lang: l, dir: dir, env: env, node: nodes[0], client: cs, provider: p, rec: rec,
		kp: kubeproxy.Cluster{Client: cs, Nodes: nodes}, nodes: byName,
	}, nil
}

// do runs one step, records and prints its result.
func (w *walker) do(s Step, run func() Result) Result {
	t := time.Now()
	r := run()
	r.Elapsed = time.Since(t)
	w.rec.Results[s.Name] = r
	renderStep(w.out, w.lang, w.rec.Facts, s, r)
	return r
}

// renderStep prints a step with its result, and the lines of it that prove section 1.
func renderStep(out io.Writer, l lang.Lang, f Facts, s Step, r Result) {
	Render(out, l, s, &r)
	if !s.Hidden {
		printProofs(out, l, f, s.Name, r)
	}
}

// run runs a step's typed line where the step says; once the walk is cancelled (Ctrl-C)
// it runs and prints nothing more, and the record lacks the steps not taken.
func (w *walker) run(ctx context.Context, s Step) {
	if ctx.Err() != nil {
		return
	}
	w.do(s, func() Result { return w.exec(ctx, s) })
}

// statsWait bounds how long the walk lists the counters again until they show the
// requests: the kernel adds its per-CPU counters into the listed ones every 2 seconds.
const statsWait = 10 * time.Second

// runUntil runs a step as run does, again every half second while done says its output
// does not yet show what it is for, at most statsWait; the last run is recorded.
func (w *walker) runUntil(ctx context.Context, s Step, done func(Result) bool) {
	if ctx.Err() != nil {
		return
	}
	w.do(s, func() Result {
		deadline := time.Now().Add(statsWait)
		for {
			r := w.exec(ctx, s)
			if done(r) || time.Now().After(deadline) || ctx.Err() != nil {
				return r
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
}

// exec runs a step's typed line on the step's node or on the host.
func (w *walker) exec(ctx context.Context, s Step) Result {
	if s.Where == Node {
		n := w.node
		if s.NodeName != "" {
			n = w.nodes[s.NodeName]
		}
		if in, ok := n.(*inspector.Node); ok {
			return onInspector(ctx, in, s.Typed, w.dir)
		}
		return w.onNode(ctx, s.Typed)
	}
	return w.onHost(ctx, s.Typed)
}

// counted tells whether a counter listing after the requests shows them against the one
// before (the step of that name): the tutorial's own check, judged on the two.
func (w *walker) counted(before string) func(Result) bool {
	return func(after Result) bool {
		b, ok := w.rec.Results[before]
		if !ok || !b.OK() || !after.OK() {
			return false
		}
		tf := tutorialFacts(w.rec.Facts)
		c, _ := tutorial.Lookup(tutorial.TrafficCounters)
		return c.Judge(tf, tutorial.Node{Transcript: map[string]tutorial.Output{
			tutorial.ShownStatsBefore: {Text: b.Output}, tutorial.ShownStatsAfter: {Text: after.Output}}}).Pass
	}
}

func (w *walker) onHost(ctx context.Context, line string) Result {
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir, cmd.Env = w.dir, w.env
	out, err := cmd.CombinedOutput()
	r := Result{Output: string(out)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	case err != nil:
		r.ExitCode, r.Err = -1, err.Error()
	}
	return r
}

func (w *walker) onNode(ctx context.Context, line string) Result {
	var out bytes.Buffer
	err := w.node.Command(ctx, "sh", "-c", line).SetStdout(&out).SetStderr(&out).Run()
	r := Result{Output: out.String()}
	var ee *clusterlab.ExitError
	switch {
	case errors.As(err, &ee):
		r.ExitCode = ee.Code
	case err != nil:
		r.ExitCode, r.Err = -1, err.Error()
	}
	return r
}

// wait runs a lab wait as a step: its output is one line saying what it waited for.
func (w *walker) wait(ctx context.Context, s Step, f func() (string, error)) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var err error
	w.do(s, func() Result {
		var msg string
		msg, err = f()
		if err != nil {
			return Result{ExitCode: -1, Err: err.Error()}
		}
		return Result{Output: "lab: " + msg}
	})
	return err
}

func (w *walker) walk(ctx context.Context, o Options) error {
	f := &w.rec.Facts
	n, err := w.client.CoreV1().Nodes().Get(ctx, w.node.Name(), metav1.GetOptions{})
	if err != nil {
		return err
	}
	f.NodeName = n.Name
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && !strings.Contains(a.Address, ":") {
			f.NodeIP = a.Address
		}
	}
	if f.NodeIP == "" {
		return fmt.Errorf("node %s has no IPv4 InternalIP (addresses %v)", n.Name, n.Status.Addresses)
	}
	if hp, err := w.provider.HostEndpoint(ctx, seedNodePort); err == nil {
		f.HostNodePort = hp.String()
	} else {
		return err
	}

	printClaims(w.out, w.lang)
	for _, s := range []Step{toolsStep(), modprobeStep(), lsmodStep(), configMapsStep(o.Method), describeStep()} {
		w.run(ctx, s)
	}
	if err := w.reachIPVS(ctx, o.Method); err != nil {
		return err
	}
	pod := "kube-proxy-?"
	if len(f.PodsAfter) > 0 {
		pod = f.PodsAfter[0]
	}
	for _, s := range []Step{kubeProxyPodsStep(), kubeProxyLogStep(pod), fullLogStep(pod), proxyModeStep(), ipvsBeforeStep()} {
		w.run(ctx, s)
	}
	if o.Method == MethodConfigMap {
		w.run(ctx, leftoversStep())
	}

	w.run(ctx, manifestStep())
	w.run(ctx, applyStep())
	w.wait(ctx, waitServiceStep(), func() (string, error) { return w.waitService(ctx, o.ServiceTimeout) })
	for _, s := range []Step{getStep(), ipvsStep(), kubeIPVS0Step(), nodePortChainStep(), nodePortSetStep(),
		natCountStep(), natPerChainStep(), natSaveStep(), statsBeforeStep(f.ClusterIP),
		curlClusterStep(f.ClusterIP), curlNodePortStep(f.NodeIP), curlHostStep(f.HostNodePort)} {
		w.run(ctx, s)
	}
	w.runUntil(ctx, statsAfterStep(f.ClusterIP), w.counted(StepStatsBefore))
	w.run(ctx, connsAfterStep(f.ClusterIP))
	return ctx.Err()
}

// reachIPVS gets kube-proxy to ipvs mode the method's way: the seed's ConfigMap edit and
// pod deletion (method 2), or nothing but waiting for it (method 1); it records the
// configuration kube-proxy then runs with.
func (w *walker) reachIPVS(ctx context.Context, method string) error {
	f := &w.rec.Facts
	if method == MethodConfigMap {
		conf, err := kubeproxy.ReadConfig(ctx, w.kp)
		if err != nil {
			return err
		}
		f.ModeBefore, _ = conf.Get("mode")
		before, err := kubeproxy.Pods(ctx, w.kp)
		if err != nil {
			return err
		}
		replaced := map[types.UID]bool{}
		for _, p := range before {
			f.PodsBefore = append(f.PodsBefore, p.Name)
			replaced[p.UID] = true
		}
		w.run(ctx, editStep(f.ModeBefore))
		w.run(ctx, deletePodsStep())
		w.waitKubeProxy(ctx, method, replaced)
	} else {
		w.waitKubeProxy(ctx, method, nil)
	}
	if conf, err := kubeproxy.ReadConfig(ctx, w.kp); err == nil {
		f.ConfigAfter = string(conf)
	}
	return nil
}

func (w *walker) waitKubeProxy(ctx context.Context, method string, replaced map[types.UID]bool) {
	w.wait(ctx, waitKubeProxyStep(method), func() (string, error) {
		pods, err := kubeproxy.WaitForPods(ctx, w.kp, replaced)
		if err != nil {
			return "", err
		}
		var names []string
		for _, p := range pods {
			names = append(names, p.Name)
		}
		w.rec.Facts.PodsAfter = names
		// The agent reports the pod Ready once its process runs; kube-proxy then needs
		// seconds under TCG to choose its proxier and sync. A person would look later.
		var synced time.Time
		var last string
		err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			out, err := node.Output(ctx, w.node, "curl", "-sS", "--fail", "--max-time", "3", metricsURL)
			if err != nil {
				last = err.Error()
				return false, nil
			}
			if synced, err = LastSyncIPv4(out); err != nil {
				return false, err
			}
			last = "no sync finished yet"
			return !synced.IsZero(), nil
		})
		if err != nil {
			return "", fmt.Errorf("%s is Ready, but kube-proxy finished no sync within 3m0s (%v): %s", strings.Join(names, ", "), err, last)
		}
		return fmt.Sprintf("%s Ready on %s; kube-proxy finished its first sync at %s (node clock)",
			strings.Join(names, ", "), w.node.Name(), synced.Format("15:04:05.000")), nil
	})
}

// metricsURL is kube-proxy's /metrics on the node (metricsBindAddress left at its default).
const metricsURL = "http://" + kubeproxy.MetricsAddress + "/metrics"

// waitService waits until the seed's Pod runs with an address, its Service has a
// ClusterIP, the node's IPVS table forwards both the ClusterIP and the NodePort to the Pod,
// and kube-proxy has finished the sync that put them there: kube-proxy creates the virtual
// servers in the middle of a sync and fills the ipsets and the iptables rules at its end,
// seconds later under TCG. It records the addresses; on a timeout it says what was missing.
func (w *walker) waitService(ctx context.Context, timeout time.Duration) (string, error) {
	f := &w.rec.Facts
	missing := "nothing checked yet"
	var seen, synced time.Time // guest clock: the Service first seen in IPVS; kube-proxy's sync
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		if seen.IsZero() {
			ok, err := w.inIPVS(ctx, &missing)
			if err != nil || !ok {
				return false, err
			}
			seen = w.guestNow
		}
		out, err := node.Output(ctx, w.node, "curl", "-sS", "--fail", "--max-time", "3", metricsURL)
		if err != nil {
			missing = "kube-proxy's /metrics: " + err.Error()
			return false, nil
		}
		// Kept for the record: the sync metrics that ended the wait (testdata of LastSyncIPv4).
		w.rec.Results[StepMetrics] = Result{Output: SyncMetrics(string(out))}
		if synced, err = LastSyncIPv4(out); err != nil {
			return false, err
		}
		missing = fmt.Sprintf("the Service is in IPVS since %s (node clock); kube-proxy's IPv4 proxier last finished a sync at %s", seen.Format(time.TimeOnly), synced.Format(time.TimeOnly))
		return !synced.Before(seen), nil
	})
	if err != nil {
		return "", fmt.Errorf("the seed's Service did not reach IPVS within %s: %s", timeout, missing)
	}
	return fmt.Sprintf("Pod %s Running at %s; IPVS forwards %s:%d and %s:%d to it; kube-proxy finished that sync at %s (node clock)",
		seedPodName, f.PodIP, f.ClusterIP, seedServicePort, f.NodeIP, seedNodePort, synced.Format("15:04:05.000")), nil
}

// inIPVS tells whether the Pod runs and both of the Service's virtual servers forward to
// it, and notes the node's clock (whole seconds) just before it looked, in w.guestNow.
func (w *walker) inIPVS(ctx context.Context, missing *string) (bool, error) {
	f := &w.rec.Facts
	svc, err := w.client.CoreV1().Services(seedNamespace).Get(ctx, seedServiceName, metav1.GetOptions{})
	if err != nil {
		*missing = "Service " + seedServiceName + ": " + err.Error()
		return false, nil
	}
	f.ClusterIP = svc.Spec.ClusterIP
	pod, err := w.client.CoreV1().Pods(seedNamespace).Get(ctx, seedPodName, metav1.GetOptions{})
	if err != nil {
		*missing = "Pod " + seedPodName + ": " + err.Error()
		return false, nil
	}
	f.PodIP = pod.Status.PodIP
	if pod.Status.Phase != corev1.PodRunning || f.PodIP == "" {
		*missing = fmt.Sprintf("Pod %s is %s with address %q", seedPodName, pod.Status.Phase, f.PodIP)
		return false, nil
	}
	// One command, so that the clock is read right before the table.
	out, err := node.Output(ctx, w.node, "sh", "-c", "date +%s && ipvsadm -Ln")
	if err != nil {
		*missing = "date && ipvsadm -Ln: " + err.Error()
		return false, nil
	}
	clock, table, _ := strings.Cut(string(out), "\n")
	sec, err := strconv.ParseInt(strings.TrimSpace(clock), 10, 64)
	if err != nil {
		return false, fmt.Errorf("the node's `date +%%s` printed %q: expected seconds since 1970", clock)
	}
	ipvs, err := dataplane.ParseIPVSAdm(table)
	if err != nil {
		return false, fmt.Errorf("parsing ipvsadm -Ln: %w", err)
	}
	rip := fmt.Sprintf("%s:%d", f.PodIP, seedServicePort)
	for _, vip := range []string{fmt.Sprintf("%s:%d", f.ClusterIP, seedServicePort), fmt.Sprintf("%s:%d", f.NodeIP, seedNodePort)} {
		m := match.HaveVirtualServer(dataplane.TCP, vip, match.WithRealServer(rip, dataplane.Masq, 1))
		if ok, _ := m.Match(ipvs); !ok {
			*missing = fmt.Sprintf("IPVS has no TCP %s -> %s yet; ipvsadm -Ln:\n%s", vip, rip, table)
			return false, nil
		}
	}
	w.guestNow = time.Unix(sec, 0)
	return true, nil
}
