package upstream

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Component names Build accepts. All but Etcd are commands of k8s.io/kubernetes.
const (
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	KubeProxy             = "kube-proxy"
	Kubelet               = "kubelet"
	Kubectl               = "kubectl"
	Kubeadm               = "kubeadm"
	Etcd                  = "etcd"
)

// DefaultComponents are what the lab cluster runs: the control plane, kubectl and kube-proxy.
var DefaultComponents = []string{KubeAPIServer, KubeControllerManager, Kubectl, KubeProxy, Etcd}

// kubernetesCommands maps the components built from k8s.io/kubernetes to their packages.
var kubernetesCommands = map[string]string{
	KubeAPIServer:         "k8s.io/kubernetes/cmd/kube-apiserver",
	KubeControllerManager: "k8s.io/kubernetes/cmd/kube-controller-manager",
	KubeScheduler:         "k8s.io/kubernetes/cmd/kube-scheduler",
	KubeProxy:             "k8s.io/kubernetes/cmd/kube-proxy",
	Kubelet:               "k8s.io/kubernetes/cmd/kubelet",
	Kubectl:               "k8s.io/kubernetes/cmd/kubectl",
	Kubeadm:               "k8s.io/kubernetes/cmd/kubeadm",
}

// coldBuildTime is roughly what a component takes with an empty build cache on 2 idle cores
// (measured: kube-apiserver 8m11s of CPU time, kube-controller-manager 2m21s after it), for
// the progress line. Components built after kube-apiserver share most of its packages and
// take a fraction of this.
var coldBuildTime = map[string]string{
	KubeAPIServer:         "~5 min",
	KubeControllerManager: "~2 min",
	KubeScheduler:         "~1 min",
	KubeProxy:             "~2 min",
	Kubelet:               "~1 min",
	Kubectl:               "~1 min",
	Kubeadm:               "~1 min",
	Etcd:                  "~1 min",
}

// KnownComponents lists the component names Build accepts, sorted.
func KnownComponents() []string {
	names := []string{Etcd}
	for n := range kubernetesCommands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkComponents refuses unknown names and drops duplicates, keeping the order given.
func checkComponents(cs []string) ([]string, error) {
	var out []string
	for _, c := range cs {
		if _, ok := kubernetesCommands[c]; !ok && c != Etcd {
			return nil, fmt.Errorf("unknown component %q: want some of %s", c, strings.Join(KnownComponents(), ", "))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no components to build: want some of %s", strings.Join(KnownComponents(), ", "))
	}
	return out, nil
}
