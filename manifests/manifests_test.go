package manifests

import (
	"strings"
	"testing"

	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	"sigs.k8s.io/yaml"
)

func TestKubeProxyIPVSDecodesStrictly(t *testing.T) {
	raw, err := FS.ReadFile(KubeProxyIPVS)
	if err != nil {
		t.Fatal(err)
	}
	var kp kubeproxyv1alpha1.KubeProxyConfiguration
	if err := yaml.UnmarshalStrict(raw, &kp); err != nil {
		t.Fatalf("%s: %v", KubeProxyIPVS, err)
	}
	if kp.Kind != "KubeProxyConfiguration" || kp.APIVersion != "kubeproxy.config.k8s.io/v1alpha1" || kp.Mode != "ipvs" {
		t.Errorf("decoded %+v", kp.TypeMeta)
	}
	if len(kp.FeatureGates) != 0 {
		t.Errorf("featureGates set: %v (SupportIPVSProxyMode is gone; KubeProxyIPVS is version-specific)", kp.FeatureGates)
	}
	if !strings.Contains(string(raw), "SupportIPVSProxyMode") {
		t.Error("the comment about the seed's SupportIPVSProxyMode gate is missing")
	}
}

func TestEveryManifestIsEmbedded(t *testing.T) {
	for _, name := range []string{ServiceIPVS, KindIPVS, KindIPTables, KubeProxyIPVS, InspectorDaemonSetFile} {
		if _, err := FS.ReadFile(name); err != nil {
			t.Error(err)
		}
	}
}
