package existing

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
)

// Proxy is the service proxy a cluster runs: kubeadm's kube-proxy DaemonSet, or another
// DaemonSet running kube-proxy or the reference proxier, and the mode its configuration
// asks for.
type Proxy struct {
	DaemonSet string // namespace/name
	Image     string
	Ready     int32
	Desired   int32
	// Mode is config.conf's mode in the kube-proxy ConfigMap ("" when it has none, which
	// kube-proxy reads as iptables); ModeSource says where it was read.
	Mode, ModeSource string
}

func (p Proxy) String() string {
	mode := p.Mode
	if mode == "" {
		mode = "unknown"
	}
	return fmt.Sprintf("kube-proxy: DaemonSet %s, image %s, %d/%d pods ready; mode %s (%s)", p.DaemonSet, p.Image, p.Ready, p.Desired, mode, p.ModeSource)
}

// proxyBinaries are the commands a DaemonSet runs when it is a cluster's service proxy.
var proxyBinaries = []string{"kube-proxy", "ipvs-proxier"}

// FindKubeProxy finds the cluster's service proxy: kube-system/kube-proxy, as kubeadm
// installs it, or else any DaemonSet whose container runs kube-proxy or ipvs-proxier.
func FindKubeProxy(ctx context.Context, c kubernetes.Interface) (Proxy, error) {
	ds, err := c.AppsV1().DaemonSets(kubeproxy.Namespace).Get(ctx, kubeproxy.DaemonSetName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		all, lerr := c.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
		if lerr != nil {
			return Proxy{}, fmt.Errorf("no DaemonSet %s/%s, and listing DaemonSets failed: %w", kubeproxy.Namespace, kubeproxy.DaemonSetName, lerr)
		}
		for i := range all.Items {
			if runsProxy(&all.Items[i]) {
				ds, err = &all.Items[i], nil
				break
			}
		}
		if err != nil {
			return Proxy{}, fmt.Errorf("no kube-proxy on this cluster: no DaemonSet %s/%s, and none of its %d DaemonSets runs %s (a kube-proxy replacement, such as Cilium's, is not what these suites check)", kubeproxy.Namespace, kubeproxy.DaemonSetName, len(all.Items), strings.Join(proxyBinaries, " or "))
		}
	}
	if err != nil {
		return Proxy{}, fmt.Errorf("DaemonSet %s/%s: %w", kubeproxy.Namespace, kubeproxy.DaemonSetName, err)
	}
	p := Proxy{DaemonSet: ds.Namespace + "/" + ds.Name, Ready: ds.Status.NumberReady, Desired: ds.Status.DesiredNumberScheduled}
	if cs := ds.Spec.Template.Spec.Containers; len(cs) > 0 {
		p.Image = cs[0].Image
	}
	cm, err := c.CoreV1().ConfigMaps(ds.Namespace).Get(ctx, kubeproxy.ConfigMapName, metav1.GetOptions{})
	switch {
	case err != nil:
		p.ModeSource = fmt.Sprintf("no ConfigMap %s/%s: %v", ds.Namespace, kubeproxy.ConfigMapName, err)
	default:
		mode, found := kubeproxy.Config(cm.Data[kubeproxy.ConfigKey]).Get("mode")
		p.Mode = strings.Trim(mode, `"'`)
		p.ModeSource = fmt.Sprintf("ConfigMap %s/%s %s", ds.Namespace, kubeproxy.ConfigMapName, kubeproxy.ConfigKey)
		if !found || p.Mode == "" {
			p.Mode = "iptables"
			p.ModeSource += ` has no mode: kube-proxy's default`
		}
	}
	return p, nil
}

// runsProxy tells a DaemonSet whose container's command or first argument is a proxy.
func runsProxy(ds *appsv1.DaemonSet) bool {
	for _, c := range ds.Spec.Template.Spec.Containers {
		for _, word := range slices.Concat(c.Command, c.Args[:min(1, len(c.Args))]) {
			if slices.Contains(proxyBinaries, path.Base(word)) {
				return true
			}
		}
	}
	return false
}
