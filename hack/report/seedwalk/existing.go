package seedwalk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/existing"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

// ExistingOptions configure a walk of a cluster the project did not create (a kubeadm
// cluster, a classroom's): the provider existing finds it and reads every node through the
// node inspector. The walk is read-only unless Cluster.AllowDisruptive: it loads no module,
// and only with the opt-in does it switch kube-proxy through the ConfigMap (method 2),
// restoring the ConfigMap at the end.
type ExistingOptions struct {
	// Cluster names the cluster (Kubeconfig, Context), the inspector's image, where NodePorts
	// answer and whether the walk may change kube-proxy.
	Cluster cluster.Options
	// Kubectl is the kubectl the host steps run; default: kubectl on PATH.
	Kubectl string
	// Common.Method is MethodCreation (default: kube-proxy as the cluster runs it, which
	// must be ipvs mode) or MethodConfigMap (needs Cluster.AllowDisruptive).
	Common
}

func (o ExistingOptions) withDefaults() ExistingOptions {
	o.Common = o.Common.withDefaults(MethodCreation)
	return o
}

// Validate rejects options the walk cannot honour, before it dials the cluster.
func (o ExistingOptions) Validate() error {
	o = o.withDefaults()
	if _, err := lang.Parse(string(o.Lang)); err != nil {
		return err
	}
	switch {
	case o.Method != MethodCreation && o.Method != MethodConfigMap:
		return fmt.Errorf("method %q: expected %q (kube-proxy as the cluster runs it) or %q (the seed's ConfigMap switch, with the opt-in)", o.Method, MethodCreation, MethodConfigMap)
	case o.Method == MethodConfigMap && !o.Cluster.AllowDisruptive:
		return fmt.Errorf("method %q edits the kube-proxy ConfigMap and deletes kube-proxy's pods on a cluster the project did not create: allow it with --allow-disruptive (IPVS_E2E_ALLOW_DISRUPTIVE=1; the ConfigMap is restored at the end)", MethodConfigMap)
	}
	if o.Kubectl != "" {
		if _, err := exec.LookPath(o.Kubectl); err != nil {
			return fmt.Errorf("kubectl %q: %w", o.Kubectl, err)
		}
	} else if _, err := exec.LookPath("kubectl"); err != nil {
		return errors.New("no kubectl on PATH: the walk types its kubectl commands as a person does; install kubectl or give its path (--kubectl)")
	}
	return nil
}

// WalkExisting walks the seed's steps on a cluster the project did not create, printing
// each with its real output: kubectl on the host, the node's commands on every node through
// its inspector (a pipeline's filter runs on the host, on what the node printed). The seed's
// Service and Pod go into a namespace of the walk's own; that namespace, the inspector and,
// with the opt-in, kube-proxy's changes are undone at the end, Ctrl-C included.
func WalkExisting(ctx context.Context, o ExistingOptions) (*Report, error) {
	start := time.Now()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	kubectl := o.Kubectl
	if kubectl == "" {
		kubectl, _ = exec.LookPath("kubectl")
	}
	rep := &Report{Record: Record{Facts: Facts{Method: o.Method, Existing: true}, Results: map[string]Result{}}}
	title := lang.ExistingTitle
	if o.Method == MethodConfigMap {
		title = lang.ExistingTitleEdits
	}
	fmt.Fprintln(o.Out, o.Lang.Sprintf(title))
	fmt.Fprintln(o.Out, o.Lang.Sprintf(lang.ExistingInspector))

	p, err := existing.New(o.Cluster)
	if err != nil {
		return nil, err
	}
	t := time.Now()
	if err := p.Preflight(ctx); err != nil {
		return nil, err
	}
	if _, err := p.Create(ctx); err != nil {
		_ = p.Release(context.WithoutCancel(ctx))
		return nil, err
	}
	rep.Timings.Create = time.Since(t)
	defer func() {
		t := time.Now()
		if err := p.Release(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(o.Out, "walk: %v\n", err)
		}
		rep.Timings.Delete = time.Since(t)
		rep.Timings.Total = time.Since(start)
	}()

	dir, err := os.MkdirTemp("", "ipvs-e2e-walk-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	w, err := newWalker(ctx, o.Out, o.Lang, p, dir, kubectl, &rep.Record)
	if err != nil {
		return rep, err
	}
	ns, err := w.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ipvs-e2e-walk-",
		Labels: map[string]string{"app.kubernetes.io/managed-by": "ipvs-e2e"}}}, metav1.CreateOptions{})
	if err != nil {
		return rep, fmt.Errorf("a namespace for the seed's objects: %w", err)
	}
	rep.Record.Facts.Namespace = ns.Name
	defer func() {
		if err := fixtures.DeleteNamespace(context.WithoutCancel(ctx), w.client, ns.Name, o.ServiceTimeout); err != nil {
			fmt.Fprintf(o.Out, "walk: %v\n", err)
			return
		}
		fmt.Fprintf(o.Out, "walk: namespace %s and the seed's objects in it deleted\n", ns.Name)
	}()
	if o.Method == MethodConfigMap {
		snap, err := kubeproxy.TakeSnapshot(ctx, w.kp)
		if err != nil {
			return rep, err
		}
		defer func() {
			did, err := snap.Restore(context.WithoutCancel(ctx), w.kp)
			if err != nil {
				did += "; restoring FAILED: " + err.Error()
			}
			fmt.Fprintf(o.Out, "walk: kube-proxy restore: %s\n", did)
		}()
	}
	return rep, rep.timeSteps(ctx, func() error { return w.walkExisting(ctx, o) })
}

// walkExisting is walk for a cluster the walk did not create: no module loading, every
// node's dataplane steps in turn, the seed's objects in the walk's namespace.
func (w *walker) walkExisting(ctx context.Context, o ExistingOptions) error {
	f := &w.rec.Facts
	nodes, err := w.provider.Nodes(ctx)
	if err != nil {
		return err
	}
	ips := map[string]string{}
	for _, n := range nodes {
		k8s, err := w.client.CoreV1().Nodes().Get(ctx, n.Name(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, a := range k8s.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && !strings.Contains(a.Address, ":") {
				ips[n.Name()] = a.Address
			}
		}
		if ips[n.Name()] == "" {
			return fmt.Errorf("node %s has no IPv4 InternalIP (addresses %v)", n.Name(), k8s.Status.Addresses)
		}
	}
	f.NodeName, f.NodeIP = nodes[0].Name(), ips[nodes[0].Name()]
	for _, n := range nodes[1:] {
		f.Nodes = append(f.Nodes, NodeFacts{Name: n.Name(), IP: ips[n.Name()]})
	}
	hp, err := w.provider.HostEndpoint(ctx, seedNodePort)
	if err != nil {
		return err
	}
	f.HostNodePort = hp.String()
	rel, err := kubeproxy.DaemonSetRelease(ctx, w.kp)
	if err != nil {
		return err
	}
	f.KubeProxy, f.Reference, f.Minor = rel.String(), !rel.Upstream(), rel.Minor

	// everyNode runs a node step on each node, the first under the step's own name.
	everyNode := func(s Step, typed func(n node.Node) string) {
		for i, n := range nodes {
			ns := s
			ns.NodeName = n.Name()
			if typed != nil {
				ns.Typed = typed(n)
			}
			if i > 0 {
				ns.Name, ns.Heading = OnNode(s.Name, n.Name()), lang.Text{}
			}
			w.run(ctx, ns)
		}
	}
	printClaims(w.out, w.lang)
	// statsAfter lists each node's counters until they show its request to the ClusterIP.
	statsAfter := func(s Step) {
		for i, n := range nodes {
			ns, before := s, StepStatsBefore
			ns.NodeName = n.Name()
			if i > 0 {
				ns.Name, before = OnNode(s.Name, n.Name()), OnNode(StepStatsBefore, n.Name())
			}
			w.runUntil(ctx, ns, w.counted(before))
		}
	}
	lsmod := lsmodStep()
	lsmod.Heading = lang.T(lang.HeadModulesExisting)
	lsmod.Typed = "cat /proc/modules | grep -e ip_vs -e nf_conntrack"
	everyNode(lsmod, nil)
	w.run(ctx, configMapsStep(o.Method))
	w.run(ctx, describeStep())
	if err := w.reachIPVS(ctx, o.Method); err != nil {
		return err
	}
	pod := "kube-proxy-?"
	if p, err := kubeproxy.PodOnNode(ctx, w.kp, f.NodeName); err == nil {
		pod = p.Name
	}
	for _, s := range []Step{kubeProxyPodsStep(), kubeProxyLogStep(pod), fullLogStep(pod)} {
		w.run(ctx, s)
	}
	mode := proxyModeStep()
	mode.Note = lang.T(lang.NoteProxyModeInspect)
	everyNode(mode, nil)
	if o.Method == MethodConfigMap {
		everyNode(leftoversStep(), nil)
	}

	manifest := manifestStep()
	manifest.Note = lang.T(lang.NoteManifestExisting)
	w.run(ctx, manifest)
	apply := applyStep()
	apply.Typed = fmt.Sprintf("kubectl -n %s apply -f %s", f.Namespace, ManifestPath)
	w.run(ctx, apply)
	if r := w.rec.Results[StepApply]; !r.OK() {
		// Nothing to wait for: say why (a NodePort taken by another Service, say) and stop.
		return fmt.Errorf("kubectl apply of the seed's manifest %s: %s", status(r), strings.TrimSpace(r.Output))
	}
	w.wait(ctx, waitServiceStep(), func() (string, error) { return w.waitServiceEverywhere(ctx, nodes, ips, o.ServiceTimeout) })
	get := getStep()
	get.Typed = fmt.Sprintf("kubectl -n %s get svc,pods -o wide", f.Namespace)
	w.run(ctx, get)
	ipvs := ipvsStep()
	ipvs.Typed = "ipvsdump -Ln"
	ipvs.Note = lang.T(lang.NoteIPVSDump)
	everyNode(ipvs, nil)
	// The inspector reads the counters with ipvsdump, which lists every virtual server.
	const inspectorStats = "ipvsdump -Ln --stats"
	statsBefore := statsBeforeStep(f.ClusterIP)
	statsBefore.Typed = inspectorStats
	statsBefore.Note = lang.T(lang.NoteStatsInspector, fmt.Sprintf("%s:%d", f.ClusterIP, seedServicePort))
	for _, s := range []Step{kubeIPVS0Step(), nodePortChainStep(), nodePortSetStep(), natCountStep(), natPerChainStep(), natSaveStep(), statsBefore, curlClusterStep(f.ClusterIP)} {
		everyNode(s, nil)
	}
	everyNode(curlNodePortStep(""), func(n node.Node) string { return fmt.Sprintf("curl -sS http://%s:%d/", ips[n.Name()], seedNodePort) })
	host := curlHostStep(f.HostNodePort)
	host.Note = lang.T(lang.NoteCurlHostExisting, f.HostNodePort)
	w.run(ctx, host)
	after := statsAfterStep(f.ClusterIP)
	after.Typed = inspectorStats
	statsAfter(after)
	conns := connsAfterStep(f.ClusterIP)
	conns.Typed = "ipvsdump -Ln"
	everyNode(conns, nil)
	return ctx.Err()
}

// waitServiceEverywhere waits until the seed's Pod runs and every node forwards its
// ClusterIP and its own NodePort to it in IPVS, holds the ClusterIP on kube-ipvs0 and the
// NodePort in KUBE-NODE-PORT-TCP: kube-proxy fills those at the end of the sync that made
// the virtual servers.
func (w *walker) waitServiceEverywhere(ctx context.Context, nodes []node.Node, ips map[string]string, timeout time.Duration) (string, error) {
	f := &w.rec.Facts
	missing := "nothing checked yet"
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		svc, err := w.client.CoreV1().Services(f.Namespace).Get(ctx, seedServiceName, metav1.GetOptions{})
		if err != nil {
			missing = "Service " + seedServiceName + ": " + err.Error()
			return false, nil
		}
		f.ClusterIP = svc.Spec.ClusterIP
		pod, err := w.client.CoreV1().Pods(f.Namespace).Get(ctx, seedPodName, metav1.GetOptions{})
		if err != nil {
			missing = "Pod " + seedPodName + ": " + err.Error()
			return false, nil
		}
		f.PodIP = pod.Status.PodIP
		if pod.Status.Phase != corev1.PodRunning || f.PodIP == "" {
			missing = fmt.Sprintf("Pod %s is %s with address %q", seedPodName, pod.Status.Phase, f.PodIP)
			return false, nil
		}
		rip := fmt.Sprintf("%s:%d", f.PodIP, seedServicePort)
		for _, n := range nodes {
			st, err := node.ReadState(ctx, n, node.ReadOptions{})
			if err != nil {
				missing = err.Error()
				return false, nil
			}
			for _, vip := range []string{fmt.Sprintf("%s:%d", f.ClusterIP, seedServicePort), fmt.Sprintf("%s:%d", ips[n.Name()], seedNodePort)} {
				if ok, _ := match.HaveVirtualServer(dataplane.TCP, vip, match.WithRealServer(rip, dataplane.Masq, 1)).Match(st.IPVS); !ok {
					missing = fmt.Sprintf("node %s: IPVS has no TCP %s -> %s yet", n.Name(), vip, rip)
					return false, nil
				}
			}
			if ok, _ := match.HaveAddressOn("kube-ipvs0", f.ClusterIP).Match(st.Links); !ok {
				missing = fmt.Sprintf("node %s: kube-ipvs0 does not hold %s yet", n.Name(), f.ClusterIP)
				return false, nil
			}
			if ok, _ := match.HaveIPSetMember("KUBE-NODE-PORT-TCP", fmt.Sprint(seedNodePort)).Match(st.IPSets); !ok {
				missing = fmt.Sprintf("node %s: KUBE-NODE-PORT-TCP does not hold %d yet", n.Name(), seedNodePort)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return "", fmt.Errorf("the seed's Service did not reach every node within %s: %s", timeout, missing)
	}
	return fmt.Sprintf("Pod %s Running at %s; every node (%d) forwards %s:%d and its own address's port %d to it, with the ClusterIP on kube-ipvs0 and %d in KUBE-NODE-PORT-TCP",
		seedPodName, f.PodIP, len(nodes), f.ClusterIP, seedServicePort, seedNodePort, seedNodePort), nil
}

// onInspector runs a typed node line through the node's inspector: the pipeline's first
// command on the node (it must be on the inspector's read-only list), the rest of the
// pipeline on the host, fed what the node printed, as if typed on the node.
func onInspector(ctx context.Context, n *inspector.Node, line, dir string) Result {
	head, filter, piped := strings.Cut(line, " | ")
	words := strings.Fields(head)
	var stdout, stderr bytes.Buffer
	err := n.Command(ctx, words[0], words[1:]...).SetStdout(&stdout).SetStderr(&stderr).Run()
	var exit *inspector.ExitError
	r := Result{}
	switch {
	case errors.As(err, &exit):
		r.ExitCode = exit.Code
	case err != nil:
		return Result{Output: stderr.String(), ExitCode: -1, Err: err.Error()}
	}
	if !piped {
		r.Output = stdout.String() + stderr.String()
		return r
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", filter)
	cmd.Dir, cmd.Stdin = dir, &stdout
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, ferr := cmd.CombinedOutput()
	r.Output = stderr.String() + string(out)
	var ee *exec.ExitError
	switch {
	case errors.As(ferr, &ee):
		r.ExitCode = ee.ExitCode() // a pipeline's status is its last command's
	case ferr != nil:
		r.ExitCode, r.Err = -1, ferr.Error()
	default:
		r.ExitCode = 0
	}
	slog.Debug("walk: through the inspector", "node", n.Name(), "line", line, "exit", r.ExitCode)
	return r
}
