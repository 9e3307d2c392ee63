package kubeproxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

const (
	cpNode     = "ipvs-e2e-control-plane"
	workerNode = "ipvs-e2e-worker"
	image      = "registry.k8s.io/kube-proxy:v1.37.0"
	curlMode   = "curl -sS --max-time 5 http://127.0.0.1:10249/proxyMode"
)

func kubeProxyPod(name, nodeName, uid string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, UID: types.UID(uid), Labels: map[string]string{"k8s-app": "kube-proxy"}},
		Spec:       corev1.PodSpec{NodeName: nodeName},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
}

// fakeLogs answers pod logs by pod name prefix.
type fakeLogs struct {
	mu     sync.Mutex
	byPod  map[string]string
	asked  []string
	always string
}

func (l *fakeLogs) PodLogs(_ context.Context, _, pod, container string, previous bool) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, fmt.Sprintf("%s/%s previous=%v", pod, container, previous))
	for prefix, log := range l.byPod {
		if strings.HasPrefix(pod, prefix) {
			return log, nil
		}
	}
	return l.always, nil
}

// testCluster is a kind-like cluster in iptables mode whose DaemonSet "controller" is a
// reactor: deleting a kube-proxy pod creates its replacement in the given state.
type testCluster struct {
	client     *fake.Clientset
	nodes      []*node.Fake
	logs       *fakeLogs
	generation int
	// replacement shapes the pods the DaemonSet creates.
	replacement func(p *corev1.Pod)
	created     []*corev1.Pod
	// failFirstCleanup makes the first cleanup pod fail.
	failFirstCleanup bool
	// patches are the DaemonSet pause and resume patches, in order.
	patches []string
}

func newTestCluster(t *testing.T) *testCluster {
	tc := &testCluster{logs: &fakeLogs{byPod: map[string]string{"kube-proxy-": fixture.Read(t, "kube-proxy-1.37-ipvs.log")}}}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: DaemonSetName, Namespace: Namespace},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:    ContainerName,
			Image:   image,
			Command: []string{"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"},
		}}}}},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2},
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: Namespace},
		Data:       map[string]string{ConfigKey: fixture.ReadRepo(t, "framework/kubeproxy/internal/configtext/testdata/kubeadm-1.37-kind-iptables.conf"), "kubeconfig.conf": "apiVersion: v1\nkind: Config\n"},
	}
	tc.client = fake.NewSimpleClientset(ds, cm,
		kubeProxyPod("kube-proxy-aaaaa", cpNode, "uid-a"),
		kubeProxyPod("kube-proxy-bbbbb", workerNode, "uid-b"))

	tc.client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.DeleteAction).GetName()
		if !strings.HasPrefix(name, "kube-proxy-") || strings.HasPrefix(name, "kube-proxy-cleanup-") {
			return false, nil, nil
		}
		old, err := tc.client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), Namespace, name)
		if err != nil {
			return false, nil, nil
		}
		tc.generation++
		p := kubeProxyPod(fmt.Sprintf("kube-proxy-g%d", tc.generation), old.(*corev1.Pod).Spec.NodeName, fmt.Sprintf("uid-g%d", tc.generation))
		if tc.replacement != nil {
			tc.replacement(p)
		}
		if err := tc.client.Tracker().Add(p); err != nil {
			return true, nil, err
		}
		return false, nil, nil
	})
	// Pausing the DaemonSet (a nodeSelector no node matches) removes its pods; resuming
	// it starts a new generation on every node.
	tc.client.PrependReactor("patch", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		patch := string(a.(k8stesting.PatchAction).GetPatch())
		if !strings.Contains(patch, pausedLabel) {
			return false, nil, nil
		}
		tc.patches = append(tc.patches, patch)
		pods := corev1.SchemeGroupVersion.WithResource("pods")
		if strings.Contains(patch, `"true"`) {
			// The tracker, not the client: the client's lock is held while reactors run.
			obj, err := tc.client.Tracker().List(pods, corev1.SchemeGroupVersion.WithKind("Pod"), Namespace)
			if err != nil {
				return true, nil, err
			}
			for _, p := range obj.(*corev1.PodList).Items {
				if p.Labels["k8s-app"] != "kube-proxy" {
					continue
				}
				if err := tc.client.Tracker().Delete(pods, Namespace, p.Name); err != nil {
					return true, nil, err
				}
			}
			return false, nil, nil
		}
		for _, n := range []string{cpNode, workerNode} {
			tc.generation++
			p := kubeProxyPod(fmt.Sprintf("kube-proxy-g%d", tc.generation), n, fmt.Sprintf("uid-g%d", tc.generation))
			if err := tc.client.Tracker().Add(p); err != nil {
				return true, nil, err
			}
		}
		return false, nil, nil
	})
	// The fake API does not generate names nor run pods: a cleanup pod gets a name and
	// completes at once.
	tc.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" && p.GenerateName != "" {
			p.Name = p.GenerateName + fmt.Sprint(len(tc.created))
			p.Status.Phase = corev1.PodSucceeded
			if tc.failFirstCleanup && len(tc.created) == 0 {
				p.Status.Phase = corev1.PodFailed
			}
			tc.created = append(tc.created, p.DeepCopy())
		}
		return false, nil, nil
	})

	after, clean := fixture.Read(t, "iptables-save-after-switch.txt"), fixture.Read(t, "iptables-save-ipvs.txt")
	for _, name := range []string{cpNode, workerNode} {
		n := node.NewFake(name).Stdout(curlMode, "ipvs").
			// The rest of the dataplane node.ReadState reads with the leftovers.
			Stdout("ipvsadm -Ln", "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n").
			Stdout("ip -j addr show", "[]").
			Stdout("ipset save", "")
		// First read: the switch left iptables-mode chains; after cleanup, a clean node.
		n.Script("iptables-save", node.Response{Stdout: after}, node.Response{Stdout: clean})
		tc.nodes = append(tc.nodes, n)
	}
	return tc
}

func (tc *testCluster) cluster() Cluster {
	var ns []node.Node
	for _, n := range tc.nodes {
		ns = append(ns, n)
	}
	return Cluster{Client: tc.client, Nodes: ns, Logs: tc.logs, Timeout: 2 * time.Second, Poll: 10 * time.Millisecond}
}

func (tc *testCluster) config(t *testing.T) string {
	cm, err := tc.client.CoreV1().ConfigMaps(Namespace).Get(context.Background(), ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data[ConfigKey]
}

// checkErrorSays checks the error of what: it must hold each piece of want (all the
// missing ones are reported), and be nil when there is none. Empty pieces ask for nothing,
// so a table's blank wantErr means no error.
func checkErrorSays(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	want = slices.DeleteFunc(slices.Clone(want), func(w string) bool { return w == "" })
	if len(want) == 0 {
		if err != nil {
			t.Errorf("%s = %v, want nil", what, err)
		}
		return
	}
	if err == nil {
		t.Errorf("%s = nil, want an error with %q", what, want)
		return
	}
	fixture.Contains(t, what+": error", err.Error(), want...)
}

func TestSwitchToIPVSTheSeedsSecondWay(t *testing.T) {
	tc := newTestCluster(t)
	before := tc.config(t)
	r, err := SwitchToIPVS(context.Background(), tc.cluster(), SwitchOptions{})
	if err != nil {
		t.Fatalf("SwitchToIPVS: %v", err)
	}
	if r.PreviousMode != "iptables" || !r.ConfigChanged {
		t.Errorf("previous mode %q, changed %v", r.PreviousMode, r.ConfigChanged)
	}

	// The ConfigMap: the mode line changed as Config.Set changes it, nothing else.
	after := tc.config(t)
	if want, err := Config(before).Set("mode", "ipvs"); err != nil || after != string(want) {
		t.Errorf("ConfigMap after the switch:\n%s\nwant only the mode line changed:\n%s (%v)", after, want, err)
	}
	if m, _ := Config(after).Get("mode"); m != "ipvs" {
		t.Errorf("ConfigMap mode = %q", m)
	}

	// The DaemonSet was paused for the cleanup, then resumed: no selector is left.
	if len(tc.patches) != 2 || !strings.Contains(tc.patches[0], `"true"`) || !strings.Contains(tc.patches[1], "null") {
		t.Errorf("DaemonSet patches = %q, want a pause then a resume", tc.patches)
	}
	ds, err := tc.client.AppsV1().DaemonSets(Namespace).Get(context.Background(), DaemonSetName, metav1.GetOptions{})
	if err != nil || len(ds.Spec.Template.Spec.NodeSelector) != 0 {
		t.Errorf("DaemonSet nodeSelector after the switch = %v, %v; want none", ds.Spec.Template.Spec.NodeSelector, err)
	}

	// Pods replaced twice (switch, then resumed after cleanup): generations 3 and 4 remain.
	if strings.Join(r.Pods, ",") != "kube-proxy-g3,kube-proxy-g4" {
		t.Errorf("pods after switch = %v", r.Pods)
	}
	for _, nm := range r.Nodes {
		if nm.ProxyMode != "ipvs" || nm.Log.Mode != "ipvs" || !nm.Log.SchedulerDefaulted {
			t.Errorf("node %s: %+v", nm.Node, nm)
		}
	}

	// Leftovers found on both nodes, cleaned with kube-proxy --cleanup in one-off pods.
	if len(r.Leftovers) != 2 || len(r.Leftovers[workerNode]) != 12 {
		t.Errorf("leftovers = %v", r.Leftovers)
	}
	if strings.Join(r.Cleaned, ",") != cpNode+","+workerNode {
		t.Errorf("cleaned = %v", r.Cleaned)
	}
	if len(tc.created) != 2 {
		t.Fatalf("cleanup pods created: %d", len(tc.created))
	}
	for i, p := range tc.created {
		ct := p.Spec.Containers[0]
		if p.Spec.NodeName != []string{cpNode, workerNode}[i] || !p.Spec.HostNetwork || ct.Image != image ||
			strings.Join(ct.Command, " ") != "/usr/local/bin/kube-proxy --cleanup --v=2" || !*ct.SecurityContext.Privileged {
			t.Errorf("cleanup pod %d = %+v", i, p.Spec)
		}
		if _, err := tc.client.CoreV1().Pods(Namespace).Get(context.Background(), p.Name, metav1.GetOptions{}); err == nil {
			t.Errorf("cleanup pod %s not deleted", p.Name)
		}
	}

	s := r.String()
	fixture.Contains(t, "report", s, "mode was iptables", "12 iptables-mode chains left by the switch", "nat/KUBE-SVC-VQGBWR5JWMUEAHT7",
		"cleaned with `kube-proxy --cleanup` on "+cpNode+", "+workerNode, `"IPVS scheduler not specified, use rr by default"`)
}

func TestSwitchToIPVSKeepingLeftovers(t *testing.T) {
	tc := newTestCluster(t)
	r, err := SwitchToIPVS(context.Background(), tc.cluster(), SwitchOptions{KeepLeftovers: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cleaned) != 0 || len(tc.created) != 0 || len(r.Leftovers) != 2 {
		t.Errorf("kept leftovers: cleaned %v, cleanup pods %d, leftovers %d", r.Cleaned, len(tc.created), len(r.Leftovers))
	}
	if !strings.Contains(r.String(), "leftovers kept (not cleaned)") {
		t.Errorf("report:\n%s", r)
	}
}

func TestSwitchStopsOnTheGateValidationFailure(t *testing.T) {
	tc := newTestCluster(t)
	tc.logs.byPod = map[string]string{"kube-proxy-g": fixture.Read(t, "kube-proxy-1.37-gate-off.log")}
	tc.replacement = func(p *corev1.Pod) {
		p.Status.Conditions = nil
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name:                 ContainerName,
			RestartCount:         3,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
		}}
	}
	start := time.Now()
	_, err := SwitchToIPVS(context.Background(), tc.cluster(), SwitchOptions{})
	checkErrorSays(t, "SwitchToIPVS with crashing pods", err,
		"is failing (CrashLoopBackOff, ", "must be iptables, nftables or blank", "KubeProxyIPVS feature gate", "featureGates: {KubeProxyIPVS: true}")
	if time.Since(start) > time.Second {
		t.Errorf("a crashing pod should stop the wait at once; took %s", time.Since(start))
	}
	if !strings.Contains(strings.Join(tc.logs.asked, " "), "previous=true") {
		t.Errorf("the previous container's log was not read: %v", tc.logs.asked)
	}
}

func TestSwitchDiagnosesAKernelWithoutIPVS(t *testing.T) {
	tc := newTestCluster(t)
	tc.logs.byPod = map[string]string{"kube-proxy-g": fixture.Read(t, "kube-proxy-no-ipvs.log")}
	tc.replacement = func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	}
	_, err := SwitchToIPVS(context.Background(), tc.cluster(), SwitchOptions{})
	checkErrorSays(t, "SwitchToIPVS", err, "ipvs not supported by the kernel", "modprobe -a ip_vs")
}

func TestWaitForPodsTimesOutWithStatus(t *testing.T) {
	tc := newTestCluster(t)
	tc.replacement = func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending; p.Status.Conditions = nil }
	c := tc.cluster()
	c.Timeout = time.Second // a budget a loaded machine meets; the pods never become ready
	_, err := RestartPods(context.Background(), c)
	checkErrorSays(t, "RestartPods", err, "0 of 2 new kube-proxy pods ready", "Pending")
}

func TestVerifyModeReportsEveryNode(t *testing.T) {
	tc := newTestCluster(t)
	tc.logs.byPod = map[string]string{"kube-proxy-": fixture.Read(t, "kube-proxy-1.34-iptables.log")}
	tc.nodes[1] = node.NewFake(workerNode).Stdout(curlMode, "iptables")
	c := tc.cluster()
	// Long enough that a loaded machine still reads every node once before the deadline
	// (a 50 ms budget let the deadline cut the fakes' reads and hide the messages).
	c.Timeout = time.Second
	_, err := VerifyMode(context.Background(), c, "ipvs")
	checkErrorSays(t, "VerifyMode on an iptables cluster", err,
		"node "+cpNode+`: pod kube-proxy-aaaaa's log says proxier "iptables", want "Using ipvs Proxier"`,
		"node "+workerNode+`: /proxyMode says "iptables", want "ipvs"`)
}

func TestReconfigureScheduler(t *testing.T) {
	tc := newTestCluster(t)
	c := tc.cluster()
	if err := Reconfigure(context.Background(), c, map[string]string{"ipvs.scheduler": "mh", "ipvs.strictARP": "true"}); err != nil {
		t.Fatal(err)
	}
	conf := tc.config(t)
	if v, _ := Config(conf).Get("ipvs.scheduler"); v != "mh" {
		t.Errorf("scheduler = %q", v)
	}
	if v, _ := Config(conf).Get("ipvs.strictARP"); v != "true" {
		t.Errorf("strictARP = %q", v)
	}
	if tc.generation != 2 {
		t.Errorf("kube-proxy restarted %d pods, want 2", tc.generation)
	}
	// Nothing to change: no restart.
	if err := Reconfigure(context.Background(), c, map[string]string{"ipvs.scheduler": "mh"}); err != nil || tc.generation != 2 {
		t.Errorf("unchanged config restarted pods (generation %d, err %v)", tc.generation, err)
	}
}

func TestDeprecationEvents(t *testing.T) {
	msg := "The ipvs proxier has been deprecated and will be disabled by default in Kubernetes 1.40 and removed in Kubernetes 1.43. Migrate to the 'nftables' proxier instead."
	ev := func(name, nodeName, reason string, at time.Time) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: nodeName},
			Reason:         reason, Message: msg, Type: corev1.EventTypeWarning,
			LastTimestamp: metav1.NewTime(at),
		}
	}
	now := time.Now()
	client := fake.NewSimpleClientset(
		ev("a.1", cpNode, deprecationReason, now.Add(-time.Minute)),
		ev("a.2", cpNode, deprecationReason, now),
		ev("b.1", workerNode, deprecationReason, now),
		ev("c.1", workerNode, "KubeProxyDefaultMode", now),
	)
	events, err := DeprecationEvents(context.Background(), Cluster{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Node != cpNode || events[1].Node != workerNode || events[0].Count != 1 {
		t.Fatalf("events = %+v", events)
	}

	logged := map[string]string{workerNode: msg}
	for _, tc := range []struct {
		minor   int
		events  []Deprecation
		logged  map[string]string
		nodes   []string
		note    string
		wantErr string
	}{
		{minor: 37, events: events, nodes: []string{cpNode, workerNode}, note: "expected deprecation reported (Kubernetes 1.37, 2 nodes): \"The ipvs proxier has been deprecated"},
		{minor: 35, events: events[:1], nodes: []string{cpNode, workerNode}, wantErr: "nodes [" + workerNode + "] neither logged it nor recorded"},
		{minor: 37, events: events[:1], logged: logged, nodes: []string{cpNode, workerNode}, note: "logged but no IPVSDeprecation event on nodes [" + workerNode + "]"},
		{minor: 37, logged: logged, nodes: []string{cpNode, workerNode}, wantErr: "nodes [" + cpNode + "] neither logged"},
		{minor: 34, nodes: []string{cpNode}, note: "not deprecated yet"},
		{minor: 34, events: events, wantErr: "should not emit"},
		{minor: 34, logged: logged, nodes: []string{workerNode}, wantErr: "should not log the ipvs deprecation"},
	} {
		note, err := checkDeprecation(tc.events, tc.logged, tc.minor, tc.nodes)
		checkVerdict(t, fmt.Sprintf("1.%d", tc.minor), note, err, tc.note, tc.wantErr)
	}
}

type fakeExec struct {
	calls  []string
	stdout string
	err    error
}

func (f *fakeExec) Exec(_ context.Context, ns, pod, container string, cmd []string) ([]byte, []byte, error) {
	f.calls = append(f.calls, fmt.Sprintf("%s/%s/%s: %s", ns, pod, container, strings.Join(cmd, " ")))
	if f.err != nil {
		return nil, []byte("ipset v7.17: Kernel error received: Operation not permitted\n"), f.err
	}
	return []byte(f.stdout), nil, nil
}

func TestPodIPSetAndLogArtifact(t *testing.T) {
	tc := newTestCluster(t)
	ex := &fakeExec{stdout: "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\nadd KUBE-NODE-PORT-TCP 30089\n"}
	c := tc.cluster()
	c.Exec = ex
	out, err := PodIPSet{Cluster: c}.IPSetSave(context.Background(), tc.nodes[1])
	if err != nil || !strings.Contains(string(out), "30089") {
		t.Fatalf("IPSetSave: %q %v", out, err)
	}
	if ex.calls[0] != "kube-system/kube-proxy-bbbbb/kube-proxy: ipset save" {
		t.Errorf("exec = %v", ex.calls)
	}
	ex.err = errors.New("command terminated with exit code 1")
	if _, err := (PodIPSet{Cluster: c}).IPSetSave(context.Background(), tc.nodes[1]); err == nil || !strings.Contains(err.Error(), "Operation not permitted") {
		t.Errorf("failing exec: %v", err)
	}
	if _, err := (PodIPSet{Cluster: tc.cluster()}).IPSetSave(context.Background(), tc.nodes[1]); err == nil {
		t.Error("no execer accepted")
	}

	log, err := KubeProxyLogArtifact(c).Read(context.Background(), tc.nodes[0])
	if err != nil || !strings.Contains(string(log), MsgUsingIPVS) {
		t.Errorf("log artifact: %v", err)
	}
	_, err = KubeProxyLogArtifact(c).Read(context.Background(), node.NewFake("elsewhere"))
	wanterr.Check(t, err, "no kube-proxy pod on node elsewhere")
}

// kube-proxy v1.37.2 --cleanup after ipvs mode, seen in the lab: iptables mode's part
// fails on a chain ipvs mode still jumps to.
const busyCleanupLog = `E1126 09:11:03.009829     260 cleanup.go:116] "Failed to execute iptables-restore" err=<
	exit status 4: iptables-restore v1.8.9 (nf_tables): 
	line 12: CHAIN_DEL failed (Device or resource busy): chain KUBE-PROXY-FIREWALL
 > table="filter"
E1126 09:11:06.916088     260 server.go:137] "Error running ProxyServer" err="encountered an error while tearing down rules"
`

func TestCleanupRunsOnceMoreWhenAChainIsBusy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		log      string
		wantRuns int
		wantErr  string
	}{
		{name: "a busy chain: the second run succeeds", log: busyCleanupLog, wantRuns: 2},
		{name: "another failure: no second run", log: "F1126 09:11:03.0 260 server.go:1] \"can't open kernel modules\"\n", wantRuns: 1, wantErr: "kube-proxy --cleanup failed on node " + cpNode},
	} {
		tcl := newTestCluster(t)
		tcl.failFirstCleanup = true
		c := tcl.cluster()
		c.Logs = &fakeLogs{byPod: map[string]string{"kube-proxy-cleanup-0": tc.log}}
		err := cleanupLeftovers(context.Background(), c, []string{cpNode})
		checkErrorSays(t, tc.name, err, tc.wantErr)
		if len(tcl.created) != tc.wantRuns {
			t.Errorf("%s: %d cleanup pods, want %d", tc.name, len(tcl.created), tc.wantRuns)
		}
	}
}
