package kubeproxy

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestParseImage(t *testing.T) {
	for _, tc := range []struct {
		image string
		minor int
	}{
		{"registry.k8s.io/kube-proxy:v1.37.2", 37},             // kubeadm, kind node images
		{"registry.k8s.io/kube-proxy:v1.35.0-rc.1", 35},        // a pre-release
		{"localhost:5000/kube-proxy:v1.36.4+abc", 36},          // a registry with a port
		{"k8s.gcr.io/kube-proxy-amd64:v1.10.3", 10},            // the old per-arch name
		{"registry.k8s.io/kube-proxy:v1.37.2@sha256:0123", 37}, // tag and digest
		{"registry.k8s.io/kube-proxy@sha256:0123", 0},          // digest only: version unknown
		{"ipvs-e2e-proxier:dev", 0},                            // the reference proxier (manifests.ProxierImage)
		{"registry.k8s.io/kube-proxy", 0},
		{"registry.k8s.io/kube-proxy:latest", 0},
		{"registry.k8s.io/kube-proxy:v2.1.0", 0},
		{"registry.k8s.io/kube-proxy:v1.x", 0},
		{"registry.k8s.io/kube-proxyx:v1.37.2", 0},
		{"localhost:5000/kube-proxy", 0},
		{"", 0},
	} {
		r := parseImage(tc.image)
		if r.Minor != tc.minor || r.Image != tc.image || r.Upstream() != (tc.minor > 0) {
			t.Errorf("ParseImage(%q) = %+v (upstream %v), want minor %d", tc.image, r, r.Upstream(), tc.minor)
		}
	}
}

func FuzzParseImage(f *testing.F) {
	for _, s := range []string{"registry.k8s.io/kube-proxy:v1.37.2", "localhost:5000/kube-proxy:v1.36.4+abc",
		"ipvs-e2e-proxier:dev", "k8s.gcr.io/kube-proxy-amd64:v1.10.3@sha256:00", ":", "/:v1."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, image string) {
		r := parseImage(image)
		if r.Image != image || r.Minor < 0 || r.Minor > 9999 {
			t.Fatalf("ParseImage(%q) = %+v", image, r)
		}
		if r.Upstream() && !strings.Contains(image, "kube-proxy") {
			t.Fatalf("ParseImage(%q): upstream without kube-proxy in the name", image)
		}
	})
}

func TestDaemonSetRelease(t *testing.T) {
	ds := func(container, image string) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: DaemonSetName, Namespace: Namespace},
			Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: container, Image: image}}}}},
		}
	}
	r, err := DaemonSetRelease(context.Background(), Cluster{Client: fake.NewSimpleClientset(ds(ContainerName, "registry.k8s.io/kube-proxy:v1.37.2"))})
	if err != nil || r.Minor != 37 {
		t.Errorf("upstream DaemonSet: %+v, %v", r, err)
	}
	if _, err := DaemonSetRelease(context.Background(), Cluster{Client: fake.NewSimpleClientset(ds("proxy", "x"))}); err == nil || !strings.Contains(err.Error(), "expected a container named kube-proxy") {
		t.Errorf("DaemonSet without the kube-proxy container: err = %v", err)
	}
	if _, err := DaemonSetRelease(context.Background(), Cluster{Client: fake.NewSimpleClientset()}); err == nil {
		t.Error("no DaemonSet: expected an error")
	}
}

func TestCheckReleaseDeprecation(t *testing.T) {
	msg := "The ipvs proxier has been deprecated and will be disabled by default in Kubernetes 1.40 and removed in Kubernetes 1.43. Migrate to the 'nftables' proxier instead."
	upstream := parseImage("registry.k8s.io/kube-proxy:v1.37.2")
	reference := parseImage("ipvs-e2e-proxier:dev")
	nodes := []string{cpNode}
	for _, tc := range []struct {
		name    string
		release Release
		events  []Deprecation
		logged  map[string]string
		note    string
		wantErr string
	}{
		{name: "upstream logged", release: upstream, logged: map[string]string{cpNode: msg}, note: "expected deprecation reported (Kubernetes 1.37"},
		{name: "upstream silent", release: upstream, logged: map[string]string{cpNode: ""}, wantErr: "neither logged it nor recorded"},
		{name: "reference silent", release: reference, logged: map[string]string{cpNode: ""}, note: "not an upstream kube-proxy: its ipvs mode is not deprecated"},
		{name: "reference logged", release: reference, logged: map[string]string{cpNode: msg}, wantErr: "should not log the ipvs deprecation, node " + cpNode},
		{name: "reference event", release: reference, events: []Deprecation{{Node: cpNode, Message: msg}}, wantErr: "should not emit IPVSDeprecation events"},
	} {
		note, err := CheckReleaseDeprecation(tc.release, tc.events, tc.logged, nodes)
		checkVerdict(t, tc.name, note, err, tc.note, tc.wantErr)
	}
}

// checkVerdict checks what a deprecation check returned: an error holding wantErr when
// that is set, else no error and a note holding wantNote.
func checkVerdict(t *testing.T, what, note string, err error, wantNote, wantErr string) {
	t.Helper()
	checkErrorSays(t, what, err, wantErr)
	if wantErr == "" && !strings.Contains(note, wantNote) {
		t.Errorf("%s: note %q, want %q", what, note, wantNote)
	}
}
