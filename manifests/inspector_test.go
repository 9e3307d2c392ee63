package manifests

import (
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// inspectorPort is framework/node/inspector's Port, written out: that package's client may
// load this one's DaemonSet, and a test importing it here would be a cycle.
const inspectorPort = 10290

// The inspector's DaemonSet has what reading every node's dataplane needs, and nothing a
// namespace outside kube-system refuses.
func TestInspectorDaemonSet(t *testing.T) {
	ds, err := InspectorDaemonSet("ipvs-e2e-x1", "registry.example/ipvs-e2e-inspector:abc")
	if err != nil {
		t.Fatal(err)
	}
	pod := ds.Spec.Template.Spec
	var c corev1.Container
	if len(pod.Containers) == 1 {
		c = pod.Containers[0]
	}
	label := map[string]string{"app.kubernetes.io/name": "ipvs-e2e-inspector"}
	mount := corev1.VolumeMount{Name: "host", MountPath: "/host", ReadOnly: true}
	propagation := corev1.MountPropagationHostToContainer
	mount.MountPropagation = &propagation
	for _, check := range []struct {
		what string
		ok   bool
	}{
		{"name and namespace", ds.Name == "ipvs-e2e-inspector" && ds.Namespace == "ipvs-e2e-x1"},
		{"labels", maps.Equal(ds.Labels, label) && maps.Equal(ds.Spec.Selector.MatchLabels, label) && maps.Equal(ds.Spec.Template.Labels, label)},
		{"host network", pod.HostNetwork && pod.DNSPolicy == corev1.DNSClusterFirstWithHostNet},
		{"every node", slices.Equal(pod.Tolerations, []corev1.Toleration{{Operator: corev1.TolerationOpExists}})},
		{"no priority class (system-node-critical is kube-system's)", pod.PriorityClassName == ""},
		{"one container, inspector, with the image", len(pod.Containers) == 1 && c.Name == InspectorContainer && c.Image == "registry.example/ipvs-e2e-inspector:abc"},
		{"command", slices.Equal(c.Command, []string{"/ipvsdump", "serve", "--listen=:10290", "--host-root=/host"})},
		{"port", len(c.Ports) == 1 && c.Ports[0].ContainerPort == inspectorPort && c.Ports[0].Name == "inspector"},
		{"privileged", c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged},
		{"readiness on /healthz", c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil &&
			c.ReadinessProbe.HTTPGet.Path == "/healthz" && c.ReadinessProbe.HTTPGet.Port == intstr.FromInt32(inspectorPort)},
		{"the node's / read-only at /host", len(c.VolumeMounts) == 1 && equalMounts(c.VolumeMounts[0], mount) &&
			len(pod.Volumes) == 1 && pod.Volumes[0].Name == "host" && pod.Volumes[0].HostPath != nil && pod.Volumes[0].HostPath.Path == "/"},
		{"small requests", !c.Resources.Requests.Cpu().IsZero() && c.Resources.Requests.Cpu().MilliValue() <= 100 &&
			!c.Resources.Requests.Memory().IsZero() && c.Resources.Requests.Memory().Value() <= 64<<20},
	} {
		if !check.ok {
			t.Errorf("%s: not as expected in %+v", check.what, ds)
		}
	}
}

func TestInspectorDaemonSetNeedsNamespaceAndImage(t *testing.T) {
	for _, args := range [][2]string{{"", "img"}, {"ns", ""}} {
		if _, err := InspectorDaemonSet(args[0], args[1]); err == nil {
			t.Errorf("InspectorDaemonSet(%q, %q) succeeded", args[0], args[1])
		}
	}
}

func equalMounts(a, b corev1.VolumeMount) bool {
	return a.Name == b.Name && a.MountPath == b.MountPath && a.ReadOnly == b.ReadOnly &&
		a.MountPropagation != nil && b.MountPropagation != nil && *a.MountPropagation == *b.MountPropagation
}
