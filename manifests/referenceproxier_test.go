package manifests

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// healthzPort is kube-proxy's default healthzBindAddress port, which both probes use.
const healthzPort = 10256

// The reference proxier's DaemonSet is a drop-in for kubeadm's: its name, namespace,
// labels, service account, ConfigMap, host network, privileges and mounts, with the
// reference image and command and the probes kubeadm has none of.
func TestReferenceProxierDaemonSet(t *testing.T) {
	ds, err := ReferenceProxierDaemonSet()
	if err != nil {
		t.Fatal(err)
	}
	if ds.Name != "kube-proxy" || ds.Namespace != "kube-system" {
		t.Errorf("DaemonSet %s/%s, want kube-system/kube-proxy (it replaces kubeadm's)", ds.Namespace, ds.Name)
	}
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork {
		t.Error("hostNetwork is false: IPVS, kube-ipvs0, ipsets and iptables are the node's network namespace's")
	}
	if pod.ServiceAccountName != "kube-proxy" {
		t.Errorf("serviceAccountName %q, want kube-proxy (kubeadm's RBAC binds system:node-proxier to it)", pod.ServiceAccountName)
	}
	if pod.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q, want system-node-critical", pod.PriorityClassName)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Name != "kube-proxy" || c.Image != ProxierImage {
		t.Errorf("container %s image %s, want kube-proxy image %s", c.Name, c.Image, ProxierImage)
	}
	wantCommand := []string{ProxierBinary, "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"}
	if !slices.Equal(c.Command, wantCommand) {
		t.Errorf("command %q, want %q", c.Command, wantCommand)
	}
	if sc := c.SecurityContext; sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Error("the container is not privileged: netlink writes and iptables-restore need it")
	}
	if len(c.Env) != 1 || c.Env[0].Name != "NODE_NAME" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.FieldRef == nil ||
		c.Env[0].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("env %+v, want NODE_NAME from spec.nodeName", c.Env)
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/livez"}, {"readiness", c.ReadinessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no %s httpGet probe", p.kind)
			continue
		}
		if g := p.probe.HTTPGet; g.Path != p.path || g.Port != intstr.FromInt32(healthzPort) {
			t.Errorf("%s probe GET %s on port %s, want %s on %d", p.kind, g.Path, g.Port.String(), p.path, healthzPort)
		}
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	volumes := map[string]corev1.VolumeSource{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v.VolumeSource
	}
	fileOrCreate := corev1.HostPathFileOrCreate
	for _, want := range []struct {
		mount  corev1.VolumeMount
		source corev1.VolumeSource
	}{
		{corev1.VolumeMount{Name: "kube-proxy", MountPath: "/var/lib/kube-proxy"},
			corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-proxy"}}}},
		{corev1.VolumeMount{Name: "xtables-lock", MountPath: "/run/xtables.lock"},
			corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/xtables.lock", Type: &fileOrCreate}}},
		{corev1.VolumeMount{Name: "lib-modules", MountPath: "/lib/modules", ReadOnly: true},
			corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/lib/modules"}}},
	} {
		name := want.mount.Name
		if got, ok := mounts[name]; !ok || !equality.Semantic.DeepEqual(got, want.mount) {
			t.Errorf("mount %s = %+v, want %+v", name, got, want.mount)
		}
		if got := volumes[name]; !equality.Semantic.DeepEqual(got, want.source) {
			t.Errorf("volume %s = %+v, want %+v", name, got, want.source)
		}
	}
	if len(mounts) != 3 || len(volumes) != 3 {
		t.Errorf("mounts %v and volumes %v, want exactly kube-proxy, xtables-lock and lib-modules", mounts, volumes)
	}
}

// The swap patch names the same image and command as the DaemonSet, and touches nothing
// else of the container.
func TestReferenceProxierSwapPatch(t *testing.T) {
	raw, err := FS.ReadFile(ReferenceProxierSwapPatch)
	if err != nil {
		t.Fatal(err)
	}
	var patch appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(raw, &patch); err != nil {
		t.Fatal(err)
	}
	ds, err := ReferenceProxierDaemonSet()
	if err != nil {
		t.Fatal(err)
	}
	if patch.Name != ds.Name || patch.Namespace != ds.Namespace {
		t.Errorf("the patch is for %s/%s, want %s/%s", patch.Namespace, patch.Name, ds.Namespace, ds.Name)
	}
	cs := patch.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("the patch has %d containers, want kube-proxy alone", len(cs))
	}
	want := corev1.Container{Name: "kube-proxy", Image: ds.Spec.Template.Spec.Containers[0].Image, Command: ds.Spec.Template.Spec.Containers[0].Command}
	if !equality.Semantic.DeepEqual(cs[0], want) {
		t.Errorf("the patch's container %+v, want only the DaemonSet's name, image and command: %+v", cs[0], want)
	}
}

func TestIsProxierImage(t *testing.T) {
	for image, want := range map[string]bool{
		ProxierImage:                             true,
		"ipvs-e2e-proxier":                       true,
		"registry.example:5000/ipvs-e2e-proxier": true,
		"registry.example:5000/a/ipvs-e2e-proxier:v1@sha256:00": true,
		"ipvs-e2e-proxier@sha256:00":                            true,
		"registry.k8s.io/kube-proxy:v1.37.2":                    false,
		"ipvs-e2e/ipvs-proxier:reference":                       false,
		"ipvs-e2e-proxier-debug:dev":                            false,
		"ipvs-e2e-proxier.example/x:dev":                        false,
		"":                                                      false,
	} {
		if got := IsProxierImage(image); got != want {
			t.Errorf("IsProxierImage(%q) = %v, want %v", image, got, want)
		}
	}
}
