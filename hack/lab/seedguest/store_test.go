package main

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// fakeRuntime records the Pods it was asked to start; failing makes Start fail.
type fakeRuntime struct {
	started []string
	failing bool
}

func (f *fakeRuntime) Start(pod *corev1.Pod, ip netip.Addr) error {
	if f.failing {
		return errFake
	}
	f.started = append(f.started, pod.Name+"@"+ip.String())
	return nil
}

var errFake = fakeError("netns: operation not permitted")

type fakeError string

func (e fakeError) Error() string { return string(e) }

var testNow = time.Date(2026, 3, 23, 3, 24, 40, 0, time.UTC)

func newTestStore(t *testing.T) (*Store, *fake.Clientset, *fakeRuntime) {
	t.Helper()
	nodeIP := netip.MustParseAddr("10.0.2.15")
	podCIDR := netip.MustParsePrefix(SeedPodCIDR)
	client := fake.NewClientset(NodeObject(SeedNode, nodeIP, podCIDR))
	rt := &fakeRuntime{}
	s, err := NewStore(client, SeedNode, nodeIP, podCIDR, netip.MustParsePrefix(SeedServiceCIDR), rt)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return testNow }
	return s, client, rt
}

func seedManifest(t *testing.T) []byte {
	t.Helper()
	b, err := manifests.FS.ReadFile(manifests.ServiceIPVS)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The seed's manifest gives the seed's cluster: what its `kubectl get` output shows and what
// the proxier needs to program its `ipvsadm -Ln`.
func TestApplySeedManifest(t *testing.T) {
	ctx := context.Background()
	s, client, rt := newTestStore(t)
	lines, err := s.Apply(ctx, seedManifest(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pod/nginx-test created", "service/service-test1 created"}; !slices.Equal(lines, want) {
		t.Errorf("apply printed %q, want %q", lines, want)
	}
	if want := []string{"nginx-test@10.244.3.214"}; !slices.Equal(rt.started, want) {
		t.Errorf("runtime started %q, want %q", rt.started, want)
	}
	svc, err := client.CoreV1().Services("default").Get(ctx, "service-test1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != SeedClusterIP || svc.Spec.Ports[0].NodePort != 30089 || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
		t.Errorf("service spec = %+v; want the seed's ClusterIP, NodePort 30089, externalTrafficPolicy Cluster", svc.Spec)
	}
	pod, err := client.CoreV1().Pods("default").Get(ctx, "nginx-test", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Status.PodIP != SeedPodIP || pod.Spec.NodeName != SeedNode || !podReady(pod) {
		t.Errorf("pod: ip %s node %s ready %v; want %s on %s, ready", pod.Status.PodIP, pod.Spec.NodeName, podReady(pod), SeedPodIP, SeedNode)
	}
	list, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d EndpointSlices, want 1", len(list.Items))
	}
	es := list.Items[0]
	if es.Labels[discoveryv1.LabelServiceName] != "service-test1" || len(es.Endpoints) != 1 ||
		es.Endpoints[0].Addresses[0] != SeedPodIP || *es.Endpoints[0].NodeName != SeedNode || *es.Ports[0].Port != 80 {
		t.Errorf("slice = %+v; want service-test1's, with 10.244.3.214 on node1, port 80", es)
	}
	if _, err := time.Parse(time.RFC3339Nano, es.Annotations[corev1.EndpointsLastChangeTriggerTime]); err != nil {
		t.Errorf("slice has no usable %s annotation: %v", corev1.EndpointsLastChangeTriggerTime, err)
	}

	// Applying again changes nothing, as kubectl apply of an unchanged file.
	lines, err = s.Apply(ctx, seedManifest(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"pod/nginx-test unchanged", "service/service-test1 unchanged"}; !slices.Equal(lines, want) {
		t.Errorf("second apply printed %q, want %q", lines, want)
	}
	if len(rt.started) != 1 {
		t.Errorf("the pod was started %d times, want once", len(rt.started))
	}
}

func TestApplyService(t *testing.T) {
	svcYAML := func(name, typ, extra string) string {
		return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  type: " + typ +
			"\n  selector:\n    app: x\n  ports:\n  - port: 8080\n" + extra
	}
	tests := []struct {
		name     string
		before   []string
		manifest string
		want     string
		wantErr  string
		check    func(t *testing.T, svc *corev1.Service)
	}{{
		name:     "ClusterIP gets the seed's address first, TCP and targetPort defaulted",
		manifest: svcYAML("a", "ClusterIP", ""),
		want:     "service/a created",
		check: func(t *testing.T, svc *corev1.Service) {
			p := svc.Spec.Ports[0]
			if svc.Spec.ClusterIP != SeedClusterIP || p.Protocol != corev1.ProtocolTCP || p.TargetPort != intstr.FromInt32(8080) || p.NodePort != 0 {
				t.Errorf("spec = %+v", svc.Spec)
			}
		},
	}, {
		name:     "a second Service gets the range's first free address",
		before:   []string{svcYAML("a", "ClusterIP", "")},
		manifest: svcYAML("b", "ClusterIP", ""),
		want:     "service/b created",
		check: func(t *testing.T, svc *corev1.Service) {
			if svc.Spec.ClusterIP != "10.96.0.1" {
				t.Errorf("clusterIP %s, want 10.96.0.1", svc.Spec.ClusterIP)
			}
		},
	}, {
		name:     "a NodePort Service without nodePort gets one from 30000",
		manifest: svcYAML("a", "NodePort", ""),
		want:     "service/a created",
		check: func(t *testing.T, svc *corev1.Service) {
			if svc.Spec.Ports[0].NodePort != 30000 {
				t.Errorf("nodePort %d, want 30000", svc.Spec.Ports[0].NodePort)
			}
		},
	}, {
		name:     "a taken NodePort is refused",
		before:   []string{svcYAML("a", "NodePort", "    nodePort: 30089\n")},
		manifest: svcYAML("b", "NodePort", "    nodePort: 30089\n"),
		wantErr:  "30089: provided port is already allocated",
	}, {
		name:     "a NodePort out of range is refused",
		manifest: svcYAML("a", "NodePort", "    nodePort: 80\n"),
		wantErr:  "not in the valid range",
	}, {
		name:     "a nodePort on a ClusterIP Service is refused",
		manifest: svcYAML("a", "ClusterIP", "    nodePort: 30089\n"),
		wantErr:  "may not be used when `type` is 'ClusterIP'",
	}, {
		name:     "a changed Service is configured and keeps its ClusterIP and NodePort",
		before:   []string{svcYAML("a", "NodePort", "")},
		manifest: svcYAML("a", "NodePort", "  - port: 9090\n    name: two\n"),
		want:     "service/a configured",
		check: func(t *testing.T, svc *corev1.Service) {
			if svc.Spec.ClusterIP != SeedClusterIP || svc.Spec.Ports[0].NodePort != 30000 || svc.Spec.Ports[1].NodePort != 30001 {
				t.Errorf("spec = %+v", svc.Spec)
			}
		},
	}, {
		name:     "ExternalName is not taken",
		manifest: "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  type: ExternalName\n  externalName: example.com\n",
		wantErr:  "does not take ExternalName",
	}, {
		name:     "a kind the store does not keep",
		manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		wantErr:  "takes Pods and Services; got a *v1.ConfigMap",
	}, {
		name:     "nothing to apply",
		manifest: "# only a comment\n---\n",
		wantErr:  "no objects passed to apply",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, client, _ := newTestStore(t)
			for _, b := range tt.before {
				if _, err := s.Apply(ctx, []byte(b)); err != nil {
					t.Fatal(err)
				}
			}
			lines, err := s.Apply(ctx, []byte(tt.manifest))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != 1 || lines[0] != tt.want {
				t.Errorf("apply printed %q, want %q", lines, tt.want)
			}
			if tt.check != nil {
				svc, err := client.CoreV1().Services("default").Get(ctx, "a", metav1.GetOptions{})
				if strings.HasPrefix(tt.want, "service/b") {
					svc, err = client.CoreV1().Services("default").Get(ctx, "b", metav1.GetOptions{})
				}
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, svc)
			}
		})
	}
}

func TestApplyPodFailsWhenItCannotStart(t *testing.T) {
	ctx := context.Background()
	s, client, rt := newTestStore(t)
	rt.failing = true
	_, err := s.Apply(ctx, seedManifest(t))
	if err == nil || !strings.Contains(err.Error(), "starting pod nginx-test: netns: operation not permitted") {
		t.Fatalf("err = %v, want the runtime's error", err)
	}
	if pods, _ := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); len(pods.Items) != 0 {
		t.Errorf("a pod that did not start was stored: %v", pods.Items)
	}
	// Its address goes back: the next start gets the seed's address again.
	rt.failing = false
	if _, err := s.Apply(ctx, seedManifest(t)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"nginx-test@10.244.3.214"}; !slices.Equal(rt.started, want) {
		t.Errorf("runtime started %q, want %q", rt.started, want)
	}
}

func TestSliceFor(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("web")},
			{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromInt32(9100)},
		}},
	}
	pod := func(name, ns, ip string, ready bool, lbl string) corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": lbl}},
			Spec:       corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}}}}},
			Status:     corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
		}
	}
	pods := []corev1.Pod{
		pod("b", "default", "10.244.3.20", true, "web"),
		pod("a", "default", "10.244.3.3", false, "web"),
		pod("other-label", "default", "10.244.3.4", true, "db"),
		pod("other-ns", "kube-system", "10.244.3.5", true, "web"),
		pod("no-ip", "default", "", true, "web"),
	}
	es := SliceFor(svc, pods, testNow)
	var got []string
	for _, e := range es.Endpoints {
		got = append(got, e.Addresses[0]+" ready="+map[bool]string{true: "yes", false: "no"}[*e.Conditions.Ready])
	}
	if want := []string{"10.244.3.3 ready=no", "10.244.3.20 ready=yes"}; !slices.Equal(got, want) {
		t.Errorf("endpoints %q, want %q (numeric address order, only this namespace's selected pods with an IP)", got, want)
	}
	if *es.Ports[0].Port != 8080 || *es.Ports[1].Port != 9100 || *es.Ports[0].Name != "http" {
		t.Errorf("ports %v/%v, want the named targetPort resolved to 8080 and 9100", *es.Ports[0].Port, *es.Ports[1].Port)
	}
	if es.Name != "web-"+suffix("default/web") || len(es.Name) != len("web-")+5 {
		t.Errorf("slice name %q", es.Name)
	}
}

func TestIPAllocator(t *testing.T) {
	a, err := newIPAllocator(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParseAddr("10.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		ip, err := a.allocate()
		if err != nil {
			if !strings.Contains(err.Error(), "10.0.0.0/30 is full") {
				t.Errorf("err = %v", err)
			}
			break
		}
		got = append(got, ip.String())
	}
	// .0 is the network and .3 the broadcast address; .2 was preferred.
	if want := []string{"10.0.0.2", "10.0.0.1"}; !slices.Equal(got, want) {
		t.Errorf("allocated %q, want %q", got, want)
	}
	if err := a.claim(netip.MustParseAddr("10.0.0.1")); err == nil || !strings.Contains(err.Error(), "already allocated") {
		t.Errorf("claiming a taken address: %v", err)
	}
	if err := a.claim(netip.MustParseAddr("10.9.0.1")); err == nil || !strings.Contains(err.Error(), "not in the valid range") {
		t.Errorf("claiming an address outside: %v", err)
	}
	if _, err := newIPAllocator(netip.MustParsePrefix("10.0.0.0/30"), netip.MustParseAddr("10.1.0.2")); err == nil {
		t.Error("a preferred address outside the prefix was accepted")
	}
}
