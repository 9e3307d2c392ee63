package labrun

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/e2e-framework/klient/decoder"

	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
	diffmanifests "github.com/ipvs-e2e/ipvs-e2e/manifests/diff"
)

// Every manifest in manifests/diff belongs to exactly one scenario, and the baseline and the
// seed come first.
func TestScenariosUseEveryManifest(t *testing.T) {
	files, err := fs.Glob(diffmanifests.FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ss := Scenarios()
	if ss[0].Name != Baseline || ss[1].Name != "seed" {
		t.Errorf("scenarios start with %s, %s; want %s, seed", ss[0].Name, ss[1].Name, Baseline)
	}
	for _, f := range files {
		name := strings.TrimSuffix(f, ".yaml")
		if !slices.Contains(Names(ss), name) {
			t.Errorf("manifests/diff/%s has no scenario %q", f, name)
		}
	}
	seen := map[string]bool{}
	for _, s := range ss {
		if seen[s.Name] {
			t.Errorf("scenario %q twice", s.Name)
		}
		seen[s.Name] = true
		if s.Description == "" {
			t.Errorf("scenario %q has no description", s.Name)
		}
		if s.Name != Baseline && s.Name != "seed" && !slices.Contains(files, s.Name+".yaml") {
			t.Errorf("scenario %q has no manifests/diff/%s.yaml", s.Name, s.Name)
		}
	}
}

func TestSelect(t *testing.T) {
	all := Scenarios()
	got, err := Select(all, []string{"udp", "seed"})
	if err != nil || strings.Join(Names(got), ",") != "seed,udp" {
		t.Errorf("Select(udp, seed) = %v, %v; want seed,udp in run order", Names(got), err)
	}
	if got, err := Select(all, nil); err != nil || len(got) != len(all) {
		t.Errorf("Select() = %d scenarios, %v; want all %d", len(got), err, len(all))
	}
	_, err = Select(all, []string{"sed"})
	wanterr.Check(t, err, `scenario "sed"`)
}

// The seed's manifest goes through the suites' decoder options plus the pin.
func TestSeedPinned(t *testing.T) {
	opts := append(fixtures.SeedOptions("diff-seed", ""), PinClusterIP(fixtures.SeedServiceName, SeedClusterIP))
	objs, err := decoder.DecodeAllFiles(context.Background(), manifests.FS, manifests.ServiceIPVS, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var svc *corev1.Service
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok {
			svc = s
		}
		if o.GetNamespace() != "diff-seed" {
			t.Errorf("%s in namespace %q, want diff-seed", o.GetName(), o.GetNamespace())
		}
	}
	if svc == nil || svc.Spec.ClusterIP != SeedClusterIP || !slices.Equal(svc.Spec.ClusterIPs, []string{SeedClusterIP}) || svc.Spec.Ports[0].NodePort != fixtures.SeedNodePort {
		t.Errorf("seed service %+v: want clusterIP %s and nodePort %d", svc, SeedClusterIP, fixtures.SeedNodePort)
	}
}

func TestPodIPsMatching(t *testing.T) {
	p := func(name, ip string, labels map[string]string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Status: corev1.PodStatus{PodIP: ip}}
	}
	pods := []corev1.Pod{
		p("a", "10.244.0.9", map[string]string{"app": "web", "x": "1"}),
		p("b", "10.244.0.3", map[string]string{"app": "web"}),
		p("c", "10.244.0.4", map[string]string{"app": "db"}),
	}
	if got := podIPsMatching(pods, map[string]string{"app": "web"}); !slices.Equal(got, []string{"10.244.0.3", "10.244.0.9"}) {
		t.Errorf("app=web: %v", got)
	}
	if got := podIPsMatching(pods, map[string]string{"app": "nothing-matches"}); len(got) != 0 {
		t.Errorf("app=nothing-matches: %v", got)
	}
}

// waitRolledOut returns at once for a rolled-out Deployment; for one that is not, the error
// after the timeout says what was still missing.
func TestWaitRolledOut(t *testing.T) {
	deployment := func(name string, available int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Status:     appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: available},
		}
	}
	ready := &env{o: Options{Timeout: time.Minute}, client: fake.NewClientset(deployment("web", 1))}
	if err := ready.waitRolledOut(context.Background(), "ns"); err != nil {
		t.Errorf("rolled out: %v", err)
	}
	stuck := &env{o: Options{Timeout: 10 * time.Millisecond}, client: fake.NewClientset(deployment("web", 0))}
	err := stuck.waitRolledOut(context.Background(), "ns")
	want := "deployments of namespace ns not rolled out within 10ms (last: deployment web: 1 replicas, 1 updated, 0 available (generation 0 observed 0), expected 1)"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("not rolled out: error %v, want one starting %q", err, want)
	}
}

// A pod that cannot start ends the wait for the namespace at once, quoting why.
func TestWaitReadyFailsOnAPodThatCannotStart(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-0"},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}},
	}
	e := &env{o: Options{Timeout: time.Hour}, client: fake.NewClientset(pod)}
	start := time.Now()
	_, err := e.waitReady(context.Background(), "ns")
	want := "namespace ns not ready: pod ns/web-0 cannot become Ready: CrashLoopBackOff"
	if err == nil || err.Error() != want {
		t.Fatalf("waitReady = %v; expected %q", err, want)
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("waitReady took %s; expected it to stop at the first poll", d)
	}
}

// A proxy that crash-loops gives no metrics; the settle wait says so at once.
func TestSettleFailsOnAProxyThatCannotRun(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: kubeproxy.Namespace, Name: "kube-proxy-a", Labels: map[string]string{"k8s-app": "kube-proxy"}},
		Spec:       corev1.PodSpec{NodeName: "lab-node"},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 5,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}},
	}
	// The fake node answers nothing it was not told to: the metrics read fails.
	e := &env{o: Options{Timeout: time.Hour}, client: fake.NewClientset(pod), node: node.NewFake("lab-node")}
	applied := make(chan struct{})
	close(applied)
	_, _, err := e.settle(context.Background(), nil, applied, nil)
	if err == nil || !strings.Contains(err.Error(), "the proxy did not settle") || !strings.Contains(err.Error(), "CrashLoopBackOff") {
		t.Fatalf("settle = %v; expected it to stop at once naming the crash loop", err)
	}
}
