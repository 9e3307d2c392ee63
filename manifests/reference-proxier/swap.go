// Package referenceproxier renders reference-proxier/swap, the kustomization that swaps the
// image and command of kube-proxy's DaemonSet for the reference proxier's, over a
// DaemonSet as it runs: what `kubectl apply -k` applies after the export its
// kustomization.yaml describes. The lab's swap suite (suites/swap) applies it this way.
package referenceproxier

import (
	"fmt"
	"path"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// Swap is live with the swap kustomization applied: the kube-proxy container's image and
// command replaced, nothing else changed. live is not modified; its status and managed
// fields are dropped, as an export for `kubectl apply` should.
func Swap(live *appsv1.DaemonSet) (*appsv1.DaemonSet, error) {
	export := live.DeepCopy()
	export.Status = appsv1.DaemonSetStatus{}
	export.ManagedFields = nil
	export.APIVersion, export.Kind = "apps/v1", "DaemonSet"
	raw, err := yaml.Marshal(export)
	if err != nil {
		return nil, err
	}
	fs := filesys.MakeFsInMemory()
	dir := "/" + manifests.ReferenceProxierSwapDir
	for _, name := range []string{"kustomization.yaml", "patch.yaml"} {
		b, err := manifests.FS.ReadFile(path.Join(manifests.ReferenceProxierSwapDir, name))
		if err != nil {
			return nil, err
		}
		if err := fs.WriteFile(path.Join(dir, name), b); err != nil {
			return nil, err
		}
	}
	if err := fs.WriteFile(path.Join(dir, manifests.ReferenceProxierSwapResource), raw); err != nil {
		return nil, err
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s over DaemonSet %s/%s: %w", manifests.ReferenceProxierSwapDir, live.Namespace, live.Name, err)
	}
	if n := res.Size(); n != 1 {
		return nil, fmt.Errorf("kustomize build %s: expected one DaemonSet, found %d objects", manifests.ReferenceProxierSwapDir, n)
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	var ds appsv1.DaemonSet
	if err := yaml.UnmarshalStrict(out, &ds); err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", manifests.ReferenceProxierSwapDir, err)
	}
	return &ds, nil
}
