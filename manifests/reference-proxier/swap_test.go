package referenceproxier

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

func kubeadmDaemonSet(t *testing.T) *appsv1.DaemonSet {
	t.Helper()
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict([]byte(fixture.Read(t, "kubeadm-v1.37.2-daemonset.yaml")), &ds); err != nil {
		t.Fatal(err)
	}
	return &ds
}

// swapped is ds with the reference proxier's image and command, what the swap must give.
func swapped(t *testing.T, ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	t.Helper()
	ref, err := manifests.ReferenceProxierDaemonSet()
	if err != nil {
		t.Fatal(err)
	}
	want := ds.DeepCopy()
	c := &want.Spec.Template.Spec.Containers[0]
	c.Image, c.Command = ref.Spec.Template.Spec.Containers[0].Image, ref.Spec.Template.Spec.Containers[0].Command
	return want
}

// Over kubeadm's DaemonSet as it runs (server fields and status included), the
// kustomization changes the image and command and nothing else, and leaves the object it
// was given alone.
func TestSwapChangesOnlyImageAndCommand(t *testing.T) {
	live := kubeadmDaemonSet(t)
	live.ResourceVersion, live.UID, live.Generation = "4711", "0b6c4a4e-0000-4000-8000-000000000001", 3
	live.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubeadm", Operation: metav1.ManagedFieldsOperationUpdate}}
	live.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 1, NumberReady: 1}
	before := live.DeepCopy()

	got, err := Swap(live)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(live, before) {
		t.Error("Swap modified the DaemonSet it was given")
	}
	want := swapped(t, live)
	want.ManagedFields, want.Status = nil, appsv1.DaemonSetStatus{}
	want.APIVersion, want.Kind = "apps/v1", "DaemonSet"
	if !equality.Semantic.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Errorf("kustomize build gave\n%s\nwant\n%s", g, w)
	}
	if got.ResourceVersion != live.ResourceVersion {
		t.Errorf("resourceVersion %q, want the export's %q (an update must not overwrite a newer DaemonSet)", got.ResourceVersion, live.ResourceVersion)
	}
}

// `kubectl patch --patch-file patch.yaml` (a strategic merge patch) gives what the
// kustomization gives.
func TestPatchAloneEqualsKustomization(t *testing.T) {
	live := kubeadmDaemonSet(t)
	viaKustomize, err := Swap(live)
	if err != nil {
		t.Fatal(err)
	}
	patchYAML, err := manifests.FS.ReadFile(manifests.ReferenceProxierSwapPatch)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := yaml.YAMLToJSON(patchYAML)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := json.Marshal(live)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := strategicpatch.StrategicMergePatch(orig, patch, appsv1.DaemonSet{})
	if err != nil {
		t.Fatal(err)
	}
	var viaPatch appsv1.DaemonSet
	if err := json.Unmarshal(merged, &viaPatch); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(viaPatch.Spec, viaKustomize.Spec) {
		a, _ := yaml.Marshal(viaPatch.Spec)
		b, _ := yaml.Marshal(viaKustomize.Spec)
		t.Errorf("kubectl patch gives\n%s\nkustomize gives\n%s", a, b)
	}
}

// The whole DaemonSet is kubeadm's after the swap, plus the probes and the port they
// name: one drop-in, two ways to apply it.
func TestDaemonSetIsKubeadmsSwappedPlusProbes(t *testing.T) {
	ref, err := manifests.ReferenceProxierDaemonSet()
	if err != nil {
		t.Fatal(err)
	}
	c := &ref.Spec.Template.Spec.Containers[0]
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Fatal("the DaemonSet has no liveness or readiness probe")
	}
	c.LivenessProbe, c.ReadinessProbe, c.Ports = nil, nil, nil
	want := swapped(t, kubeadmDaemonSet(t))
	if !equality.Semantic.DeepEqual(ref, want) {
		g, _ := yaml.Marshal(ref)
		w, _ := yaml.Marshal(want)
		t.Errorf("%s without probes and ports:\n%s\nkubeadm's swapped:\n%s", manifests.ReferenceProxierDaemonSetFile, g, w)
	}
}
