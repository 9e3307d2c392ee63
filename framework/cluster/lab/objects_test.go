package lab

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
	referenceproxier "github.com/ipvs-e2e/ipvs-e2e/manifests/reference-proxier"
)

// A reference lab cluster runs what a user gets by swapping kubeadm's kube-proxy with
// manifests/reference-proxier/swap: the upstream cluster's DaemonSet with the swap applied.
func TestReferenceDaemonSetIsTheSwappedUpstreamOne(t *testing.T) {
	o := cluster.Options{}.WithDefaults()
	_, _, upstreamDS := kubeProxyObjects(o, "registry.k8s.io/kube-proxy:"+DefaultVersion, guestKubeProxy, "10.244.0.0/16", true)
	_, _, referenceDS := kubeProxyObjects(o, manifests.ProxierImage, manifests.ProxierBinary, "10.244.0.0/16", true)
	got, err := referenceproxier.Swap(upstreamDS)
	if err != nil {
		t.Fatal(err)
	}
	got.APIVersion, got.Kind = "", ""
	if !equality.Semantic.DeepEqual(got, referenceDS) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(referenceDS)
		t.Errorf("the swapped upstream DaemonSet:\n%s\nthe reference cluster's:\n%s", g, w)
	}
}
