package lab

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
)

// Guest paths of what the provider puts into the lab guest.
const (
	guestKubeProxy           = "/usr/local/bin/kube-proxy"
	guestProxier             = "/usr/local/bin/ipvs-proxier"
	guestAgent               = "/usr/local/bin/ipvs-nodeagent"
	guestKubeProxyConfigDir  = "/var/lib/kube-proxy"
	guestKubeProxyKubeconfig = "/etc/kubernetes/kube-proxy.kubeconfig"
	guestAgentKubeconfig     = "/etc/kubernetes/agent.kubeconfig"
	guestAgentDir            = "/etc/ipvs-nodeagent"
	guestAgentStateDir       = "/var/lib/ipvs-nodeagent"
	guestIPVSDump            = "/usr/local/bin/ipvsdump"
	agentGuestPort           = 10250
	// proxyGuestPort is the first node's forward proxy for the host's kube-apiserver.
	proxyGuestPort  = 3128
	agentServerName = "ipvs-nodeagent"
)

// KubeProxyConfig renders config.conf as kubeadm writes it for kube-proxy, with the mode
// and ipvs block from the cluster options. The kubeconfig path is a guest file shipped with
// the node (kubeadm's points at the pod's service-account token instead).
func KubeProxyConfig(o cluster.Options, clusterCIDR string) string {
	return KubeProxyConfigGated(o, clusterCIDR, false)
}

// KubeProxyConfigGated is KubeProxyConfig that, when ipvsGated (Kubernetes 1.37 and later),
// also enables the KubeProxyIPVS feature gate explicitly, as kind's configuration does: it
// is on by default until 1.40, and a spec that turns it off needs it in the file.
func KubeProxyConfigGated(o cluster.Options, clusterCIDR string, ipvsGated bool) string {
	var b strings.Builder
	b.WriteString("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n")
	b.WriteString("bindAddress: 0.0.0.0\nclientConnection:\n  kubeconfig: " + guestKubeProxyKubeconfig + "\n")
	b.WriteString("clusterCIDR: " + clusterCIDR + "\n")
	if ipvsGated {
		b.WriteString("featureGates:\n  KubeProxyIPVS: true\n")
	}
	b.WriteString("healthzBindAddress: 0.0.0.0:10256\n")
	b.WriteString("ipvs:\n")
	fmt.Fprintf(&b, "  scheduler: %q\n", o.IPVS.Scheduler)
	fmt.Fprintf(&b, "  strictARP: %v\n", o.IPVS.StrictARP)
	if o.IPVS.TCPTimeout > 0 {
		fmt.Fprintf(&b, "  tcpTimeout: %s\n", o.IPVS.TCPTimeout)
	}
	if o.IPVS.TCPFinTimeout > 0 {
		fmt.Fprintf(&b, "  tcpFinTimeout: %s\n", o.IPVS.TCPFinTimeout)
	}
	if o.IPVS.UDPTimeout > 0 {
		fmt.Fprintf(&b, "  udpTimeout: %s\n", o.IPVS.UDPTimeout)
	}
	mode := o.ProxyMode
	if mode == "" {
		mode = cluster.ModeIPVS
	}
	fmt.Fprintf(&b, "mode: %q\n", mode)
	return b.String()
}

// kubeProxyObjects are the ServiceAccount, ConfigMap and DaemonSet kubeadm installs for
// kube-proxy, so framework/kubeproxy drives the lab exactly as it drives kind. The image
// names the program only: the node agent runs the guest's build of upstream kube-proxy for
// kube-proxy's image, of the reference proxier for manifests.ProxierImage (hostProcess).
// binary is the command's first word, the program's path in its image.
func kubeProxyObjects(o cluster.Options, image, binary, clusterCIDR string, ipvsGated bool) (*corev1.ServiceAccount, *corev1.ConfigMap, *appsv1.DaemonSet) {
	ns := kubeproxy.Namespace
	labels := map[string]string{"k8s-app": "kube-proxy"}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Namespace: ns}}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: kubeproxy.ConfigMapName, Namespace: ns, Labels: map[string]string{"app": "kube-proxy"}},
		Data:       map[string]string{kubeproxy.ConfigKey: KubeProxyConfigGated(o, clusterCIDR, ipvsGated)},
	}
	privileged := true
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: kubeproxy.DaemonSetName, Namespace: ns, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector:       &metav1.LabelSelector{MatchLabels: labels},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: "kube-proxy",
					HostNetwork:        true,
					PriorityClassName:  "system-node-critical",
					NodeSelector:       map[string]string{"kubernetes.io/os": "linux"},
					Tolerations:        []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{
						Name:    kubeproxy.ContainerName,
						Image:   image,
						Command: []string{binary, "--config=" + guestKubeProxyConfigDir + "/" + kubeproxy.ConfigKey, "--hostname-override=$(NODE_NAME)"},
						Env: []corev1.EnvVar{{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}},
						SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
						VolumeMounts:    []corev1.VolumeMount{{Name: "kube-proxy", MountPath: guestKubeProxyConfigDir}},
					}},
					Volumes: []corev1.Volume{{Name: "kube-proxy", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: kubeproxy.ConfigMapName}}}}},
				},
			},
		},
	}
	return sa, cm, ds
}
