package manifests

import (
	"path"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
)

// The reference proxier's image as its manifests name it (`make proxier-image` builds it,
// hack/image) and the binary's path in it. The lab's node agent runs the reference
// proxier for any image of ProxierRepository, whatever the registry and tag.
const (
	ProxierRepository = "ipvs-e2e-proxier"
	ProxierImage      = ProxierRepository + ":dev"
	ProxierBinary     = "/ipvs-proxier"
)

// Files of reference-proxier/.
const (
	// ReferenceProxierDaemonSetFile is the whole DaemonSet that replaces kube-proxy's.
	ReferenceProxierDaemonSetFile = "reference-proxier/daemonset.yaml"
	// ReferenceProxierSwapDir is the kustomization that swaps only the image and command
	// of kubeadm's kube-proxy DaemonSet (its resource, kube-proxy.yaml, is the user's
	// export of that DaemonSet); ReferenceProxierSwapPatch is its patch.
	ReferenceProxierSwapDir   = "reference-proxier/swap"
	ReferenceProxierSwapPatch = ReferenceProxierSwapDir + "/patch.yaml"
	// ReferenceProxierSwapResource is the resource the kustomization names.
	ReferenceProxierSwapResource = "kube-proxy.yaml"
)

// ReferenceProxierDaemonSet is reference-proxier/daemonset.yaml.
func ReferenceProxierDaemonSet() (*appsv1.DaemonSet, error) {
	return loadDaemonSet(ReferenceProxierDaemonSetFile)
}

// IsProxierImage tells whether image is the reference proxier's: a repository whose last
// path element is ProxierRepository, with any registry, tag or digest
// (registry.example:5000/ipvs-e2e-proxier:v1, ipvs-e2e-proxier@sha256:...).
func IsProxierImage(image string) bool { return ImageRepository(image) == ProxierRepository }

// ImageRepository is the last path element of an image reference's repository, without
// registry, tag or digest: kube-proxy for registry.k8s.io/kube-proxy:v1.37.2.
func ImageRepository(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	repo := path.Base(ref)
	if i := strings.LastIndexByte(repo, ':'); i >= 0 {
		repo = repo[:i]
	}
	return repo
}
