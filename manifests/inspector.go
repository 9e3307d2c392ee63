package manifests

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// InspectorContainer is the name of the inspector's container in its DaemonSet.
const InspectorContainer = "inspector"

// InspectorDaemonSet is the node inspector's DaemonSet (inspector/daemonset.yaml) in
// namespace, running image: the template with the two things a suite chooses filled in.
func InspectorDaemonSet(namespace, image string) (*appsv1.DaemonSet, error) {
	if namespace == "" || image == "" {
		return nil, fmt.Errorf("the inspector's DaemonSet needs a namespace and an image (IPVS_E2E_INSPECTOR_IMAGE), found namespace %q and image %q", namespace, image)
	}
	ds, err := loadDaemonSet(InspectorDaemonSetFile)
	if err != nil {
		return nil, err
	}
	ds.Namespace = namespace
	for i := range ds.Spec.Template.Spec.Containers {
		if c := &ds.Spec.Template.Spec.Containers[i]; c.Name == InspectorContainer {
			c.Image = image
			return ds, nil
		}
	}
	return nil, fmt.Errorf("%s: expected a container named %q", InspectorDaemonSetFile, InspectorContainer)
}

// loadDaemonSet decodes one of the DaemonSet files, strictly: a misspelt field is an error.
func loadDaemonSet(file string) (*appsv1.DaemonSet, error) {
	raw, err := FS.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(raw, &ds); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if ds.Kind != "DaemonSet" || ds.APIVersion != "apps/v1" {
		return nil, fmt.Errorf("%s: expected an apps/v1 DaemonSet, found %s %s", file, ds.APIVersion, ds.Kind)
	}
	return &ds, nil
}
