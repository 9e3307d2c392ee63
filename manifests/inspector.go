package manifests

import (
	_ "embed"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

//go:embed inspector/daemonset.yaml
var inspectorDaemonSet []byte

// InspectorSelector selects the node inspector's pods.
const InspectorSelector = "app.kubernetes.io/name=ipvs-e2e-inspector"

// InspectorDaemonSet is inspector/daemonset.yaml in namespace with image.
func InspectorDaemonSet(namespace, image string) (*appsv1.DaemonSet, error) {
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(inspectorDaemonSet, &ds); err != nil {
		return nil, fmt.Errorf("manifests/inspector/daemonset.yaml: %w", err)
	}
	if len(ds.Spec.Template.Spec.Containers) != 1 {
		return nil, fmt.Errorf("manifests/inspector/daemonset.yaml: expected one container, found %d", len(ds.Spec.Template.Spec.Containers))
	}
	ds.Namespace = namespace
	ds.Spec.Template.Spec.Containers[0].Image = image
	return &ds, nil
}
