package existing

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/hack/image"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// writeKubeconfig writes a kubeconfig with a context per server, named after its key, and
// current the current-context.
func writeKubeconfig(t *testing.T, current string, servers map[string]string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\ncurrent-context: %q\nclusters:\n", current)
	for name, server := range servers {
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %s\n", name, server)
	}
	b.WriteString("contexts:\n")
	for name := range servers {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: %s\n", name, name, name)
	}
	b.WriteString("users:\n")
	for name := range servers {
		fmt.Fprintf(&b, "- name: %s\n  user:\n    token: token-of-%s\n", name, name)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newTest is New with a fake clientset in place of the real one.
func newTest(t *testing.T, o cluster.Options, objects ...runtime.Object) (*Provider, *fake.Clientset) {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	cs := fake.NewClientset(objects...)
	p.newClient = func(*rest.Config) (kubernetes.Interface, error) { return cs, nil }
	return p, cs
}

func TestKubeconfigAndContext(t *testing.T) {
	two := map[string]string{"staging": "https://10.0.0.1:6443", "classroom": "https://10.0.0.2:6443"}
	file := writeKubeconfig(t, "staging", two)
	noCurrent := writeKubeconfig(t, "", two)
	empty := writeKubeconfig(t, "", nil)
	for _, tc := range []struct {
		name       string
		env        string // KUBECONFIG
		opts       cluster.Options
		wantServer string
		wantErr    string
	}{
		{name: "explicit file, current-context", opts: cluster.Options{Kubeconfig: file}, wantServer: "https://10.0.0.1:6443"},
		{name: "explicit file, -context", opts: cluster.Options{Kubeconfig: file, Context: "classroom"}, wantServer: "https://10.0.0.2:6443"},
		{name: "KUBECONFIG list, a missing file in it", env: filepath.Join(t.TempDir(), "gone") + string(os.PathListSeparator) + file, wantServer: "https://10.0.0.1:6443"},
		{name: "KUBECONFIG, -context", env: file, opts: cluster.Options{Context: "classroom"}, wantServer: "https://10.0.0.2:6443"},
		{name: "explicit file missing", opts: cluster.Options{Kubeconfig: "/nonexistent/kubeconfig"},
			wantErr: "kubeconfig /nonexistent/kubeconfig: stat /nonexistent/kubeconfig: no such file or directory; give the file of your cluster's kubeconfig"},
		{name: "KUBECONFIG names no file", env: "/nonexistent/a" + string(os.PathListSeparator) + "/nonexistent/b", wantErr: "kubeconfig /nonexistent/a:/nonexistent/b: no such file; point -kubeconfig or KUBECONFIG at your cluster's kubeconfig"},
		{name: "no context in the file", env: empty, wantErr: "kubeconfig " + empty + ": no context in it (is KUBECONFIG or -kubeconfig pointing at your cluster's kubeconfig?)"},
		{name: "context not found", opts: cluster.Options{Kubeconfig: file, Context: "production"},
			wantErr: `context "production" is not in kubeconfig ` + file + ` (contexts: classroom, staging)`},
		{name: "no current-context", opts: cluster.Options{Kubeconfig: noCurrent},
			wantErr: "has no current-context: choose one with -context (contexts: classroom, staging)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(clientcmd.RecommendedConfigPathEnvVar, tc.env)
			t.Setenv("HOME", t.TempDir()) // no ~/.kube/config of the machine running the test
			p, _ := newTest(t, tc.opts)
			err := p.load()
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if p.server != tc.wantServer {
				t.Fatalf("load(): server %q; want %q", p.server, tc.wantServer)
			}
			// The kubeconfig handed to the suites holds the chosen context alone.
			raw, err := p.Kubeconfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := clientcmd.Load(raw)
			if err != nil || len(cfg.Contexts) != 1 || cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster].Server != tc.wantServer {
				t.Errorf("kubeconfig for the suites: %v\n%s", err, raw)
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	// A server that accepts and never answers, like a firewall that drops the reply.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, tc := range []struct{ addr, want string }{
		{refused, "connection refused"},
		{silent.Addr().String(), "no answer within 300ms"},
	} {
		file := writeKubeconfig(t, "c", map[string]string{"c": "https://" + tc.addr})
		p, err := New(cluster.Options{Kubeconfig: file, InspectorImage: "i"})
		if err != nil {
			t.Fatal(err)
		}
		p.reach = 300 * time.Millisecond
		start := time.Now()
		err = p.Preflight(context.Background())
		if err == nil || !strings.Contains(err.Error(), "API server https://"+tc.addr+` (context "c") did not answer GET /version`) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Preflight against %s = %v, want it to name the server and say %q", tc.addr, err, tc.want)
		}
		// Generous against a noisy machine; what matters is that client-go's retries and
		// default timeouts do not apply.
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Preflight against %s took %s, want it bounded by the reach timeout", tc.addr, d)
		}
	}
}

// allowAllBut answers SelfSubjectAccessReviews, denying the resources given.
func allowAllBut(cs *fake.Clientset, denied ...string) {
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		attr := r.Spec.ResourceAttributes
		key := attr.Verb + " " + attr.Resource
		if attr.Subresource != "" {
			key += "/" + attr.Subresource
		}
		r.Status.Allowed = true
		for _, d := range denied {
			if d == key {
				r.Status.Allowed, r.Status.Reason = false, "RBAC: no rule allows it"
			}
		}
		return true, r, nil
	})
}

func kubeProxyObjects(mode string) []runtime.Object {
	return []runtime.Object{
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: kubeproxy.Namespace, Name: kubeproxy.DaemonSetName},
			Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.37.2", Command: []string{"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf"}}}}}},
			Status: appsv1.DaemonSetStatus{NumberReady: 2, DesiredNumberScheduled: 2}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: kubeproxy.Namespace, Name: kubeproxy.ConfigMapName},
			Data: map[string]string{kubeproxy.ConfigKey: "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: " + mode + "\n"}},
	}
}

// serveVersion is an API server that answers /version, for Preflight's reachability.
func serveVersion(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httpVersion{l: l}
	go srv.serve()
	t.Cleanup(func() { l.Close() })
	return "http://" + l.Addr().String()
}

func TestPreflight(t *testing.T) {
	server := serveVersion(t)
	file := writeKubeconfig(t, "c", map[string]string{"c": server})
	for _, tc := range []struct {
		name       string
		opts       cluster.Options
		objects    []runtime.Object
		denied     []string
		wantErr    []string
		wantNoErr  bool
		wantChecks int
	}{
		{name: "kubeadm cluster in ipvs mode", opts: cluster.Options{InspectorImage: "r/i:1"}, objects: kubeProxyObjects("ipvs"), wantNoErr: true},
		{name: "RBAC denied", opts: cluster.Options{InspectorImage: "r/i:1"}, objects: kubeProxyObjects("ipvs"),
			denied: []string{"create namespaces", "get pods/proxy"},
			wantErr: []string{"the user may not do 2 of the 15 things the suites do:",
				"create namespaces in every namespace (a namespace per suite and one for the node inspector): RBAC: no rule allows it",
				"get pods/proxy in every namespace (reading a node's state through its inspector)", "ask the cluster's admin"}},
		{name: "RBAC denied, disruptive", opts: cluster.Options{InspectorImage: "r/i:1", AllowDisruptive: true}, objects: kubeProxyObjects("ipvs"),
			denied:  []string{"update configmaps"},
			wantErr: []string{"1 of the 19 things", "update configmaps in kube-system (the ConfigMap switch and its restore (-allow-disruptive))"}},
		{name: "no inspector image", objects: kubeProxyObjects("ipvs"), wantErr: []string{"no node inspector image", "make inspector-image", "IPVS_E2E_INSPECTOR_IMAGE"}},
		{name: "no kube-proxy", opts: cluster.Options{InspectorImage: "r/i:1"},
			wantErr: []string{"no kube-proxy on this cluster: no DaemonSet kube-system/kube-proxy, and none of its 0 DaemonSets runs kube-proxy or ipvs-proxier"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Kubeconfig = file
			p, cs := newTest(t, tc.opts, tc.objects...)
			allowAllBut(cs, tc.denied...)
			err := p.Preflight(context.Background())
			if tc.wantNoErr {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil {
				t.Fatalf("Preflight passed, want %q", tc.wantErr)
			} else {
				fixture.Contains(t, "Preflight error", err.Error(), tc.wantErr...)
			}
			// Preflight only reads: nothing is created in the cluster but the access reviews.
			for _, a := range cs.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetResource().Resource != "selfsubjectaccessreviews" {
					t.Errorf("Preflight did %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
}

func TestFindKubeProxy(t *testing.T) {
	other := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ipvs", Name: "reference-proxier"},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Image: "r/ipvs-proxier:dev", Command: []string{"/ipvs-proxier"}, Args: []string{"--config=/c"}}}}}}}
	unrelated := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "cilium"},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Image: "cilium", Command: []string{"cilium-agent"}}}}}}}
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		want    string
	}{
		{"kubeadm, ipvs", kubeProxyObjects("ipvs"), "kube-proxy: DaemonSet kube-system/kube-proxy, image registry.k8s.io/kube-proxy:v1.37.2, 2/2 pods ready; mode ipvs (ConfigMap kube-system/kube-proxy config.conf)"},
		{"kubeadm, no mode", kubeProxyObjects(`""`), `mode iptables (ConfigMap kube-system/kube-proxy config.conf has no mode: kube-proxy's default)`},
		{"another DaemonSet runs the proxy", []runtime.Object{unrelated, other}, "DaemonSet ipvs/reference-proxier, image r/ipvs-proxier:dev"},
		{"a kube-proxy replacement", []runtime.Object{unrelated}, "error: no kube-proxy on this cluster: no DaemonSet kube-system/kube-proxy, and none of its 1 DaemonSets runs kube-proxy or ipvs-proxier (a kube-proxy replacement, such as Cilium's, is not what these suites check)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindKubeProxy(context.Background(), fake.NewClientset(tc.objects...))
			s := got.String()
			if err != nil {
				s = "error: " + err.Error()
			}
			if !strings.Contains(s, tc.want) {
				t.Errorf("FindKubeProxy = %s\nwant it to contain %s", s, tc.want)
			}
		})
	}
}

func readyPod(name, nodeName string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ipvs-e2e-inspector-x", Name: name, Labels: map[string]string{"app.kubernetes.io/name": "ipvs-e2e-inspector"}},
		Spec:   corev1.PodSpec{NodeName: nodeName},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
}

func TestCreateDeploysTheInspectorAndReleaseRemovesIt(t *testing.T) {
	nodes := []runtime.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node2"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}},
	}
	for _, tc := range []struct {
		name    string
		pods    []runtime.Object
		wantErr string
	}{
		{name: "ready on every node", pods: []runtime.Object{readyPod("i-a", "node1"), readyPod("i-b", "node2")}},
		{name: "image not pulled", pods: []runtime.Object{readyPod("i-a", "node1"), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ipvs-e2e-inspector-x", Name: "i-b", Labels: map[string]string{"app.kubernetes.io/name": "ipvs-e2e-inspector"}},
			Spec:       corev1.PodSpec{NodeName: "node2"},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}}}}}},
			wantErr: "the node inspector (image r/i:1) is not ready on 1 of 2 nodes within 1s:\n  node2: pod i-b waiting: ErrImagePull not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, cs := newTest(t, cluster.Options{InspectorImage: "r/i:1"}, append(nodes, tc.pods...)...)
			p.wait = time.Second
			// The fake clientset does not generate names.
			cs.PrependReactor("create", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
				ns := a.(k8stesting.CreateAction).GetObject().(*corev1.Namespace)
				if ns.GenerateName != "ipvs-e2e-inspector-" || ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
					return true, nil, errors.New("namespace without the inspector's name or Pod Security label")
				}
				ns.Name = "ipvs-e2e-inspector-x"
				return false, nil, nil
			})
			p.client = cs
			created, err := p.Create(context.Background())
			if created {
				t.Error("Create says it created the cluster")
			}
			if wanterr.Check(t, err, tc.wantErr) {
				ns, err := p.Nodes(context.Background())
				if err != nil || len(ns) != 2 || ns[0].Name() != "node1" || ns[1].Name() != "node2" {
					t.Fatalf("Nodes = %v, %v", ns, err)
				}
			}
			ds, err := cs.AppsV1().DaemonSets("ipvs-e2e-inspector-x").Get(context.Background(), "ipvs-e2e-inspector", metav1.GetOptions{})
			if err != nil || ds.Spec.Template.Spec.Containers[0].Image != "r/i:1" {
				t.Fatalf("inspector DaemonSet: %v", err)
			}
			if err := p.Release(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "ipvs-e2e-inspector-x", metav1.GetOptions{}); err == nil {
				t.Error("the inspector's namespace is still there after Release")
			}
			// Never the cluster: Delete refuses and touches nothing.
			before := len(cs.Actions())
			if err := p.Delete(context.Background()); !errors.Is(err, ErrNeverDeleted) || len(cs.Actions()) != before {
				t.Errorf("Delete = %v after %d calls, want ErrNeverDeleted and no call", err, len(cs.Actions())-before)
			}
		})
	}
}

func TestKindClusterOf(t *testing.T) {
	node := func(id string) corev1.Node { return corev1.Node{Spec: corev1.NodeSpec{ProviderID: id}} }
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{[]string{"kind://docker/ipvs/ipvs-control-plane", "kind://docker/ipvs/ipvs-worker"}, "ipvs"},
		{[]string{"kind://podman/kind/kind-control-plane"}, "kind"},
		{[]string{"kind://docker/ipvs/ipvs-control-plane", "aws:///eu-west-1a/i-0abc"}, ""},
		{[]string{"kind://docker/a/a-control-plane", "kind://docker/b/b-worker"}, ""},
		{[]string{""}, ""},
		{[]string{"kind://docker//x"}, ""},
		{nil, ""},
	} {
		var nodes []corev1.Node
		for _, id := range tc.ids {
			nodes = append(nodes, node(id))
		}
		if got := kindClusterOf(nodes); got != tc.want {
			t.Errorf("kindClusterOf(%q) = %q, want %q", tc.ids, got, tc.want)
		}
	}
}

// A kind cluster needs no registry: with no image named, the tarball make inspector-image
// wrote is loaded into its nodes through kind's API and the DaemonSet runs its tag.
func TestKindSideLoad(t *testing.T) {
	dir := t.TempDir()
	img, err := image.Build(image.Inspector([]byte("\x7fELF"), "amd64", "abc"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := image.Write(img, dir, "ipvs-e2e-inspector-amd64", "ipvs-e2e-inspector:abc")
	if err != nil {
		t.Fatal(err)
	}
	file := writeKubeconfig(t, "c", map[string]string{"c": serveVersion(t)})
	kindNode := func(name string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: "kind://docker/ipvs/" + name}}
	}
	p, cs := newTest(t, cluster.Options{Kubeconfig: file}, append(kubeProxyObjects("ipvs"), kindNode("ipvs-control-plane"), readyPod("i-a", "ipvs-control-plane"))...)
	allowAllBut(cs)
	var loaded []string
	p.archive = w.Tarball
	p.kindLoad = func(cluster, archive string) error { loaded = append(loaded, cluster+" "+archive); return nil }
	cs.PrependReactor("create", "namespaces", func(a k8stesting.Action) (bool, runtime.Object, error) {
		a.(k8stesting.CreateAction).GetObject().(*corev1.Namespace).Name = "ipvs-e2e-inspector-x"
		return false, nil, nil
	})
	if err := p.Preflight(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Create(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0] != "ipvs "+w.Tarball {
		t.Errorf("kind loads %q, want the tarball into cluster ipvs once", loaded)
	}
	ds, err := cs.AppsV1().DaemonSets("ipvs-e2e-inspector-x").Get(context.Background(), "ipvs-e2e-inspector", metav1.GetOptions{})
	if err != nil || ds.Spec.Template.Spec.Containers[0].Image != "ipvs-e2e-inspector:abc" {
		t.Errorf("inspector DaemonSet: %v %v", ds, err)
	}
	// Without the tarball, Preflight says how to get one.
	p2, cs2 := newTest(t, cluster.Options{Kubeconfig: file}, append(kubeProxyObjects("ipvs"), kindNode("ipvs-control-plane"))...)
	allowAllBut(cs2)
	p2.archive = filepath.Join(dir, "none.tar")
	wanterr.Check(t, p2.Preflight(context.Background()), "kind cluster ipvs without a node inspector image named: image tarball "+p2.archive)
}
