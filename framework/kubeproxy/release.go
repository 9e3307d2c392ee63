package kubeproxy

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Release is what the kube-proxy DaemonSet runs, as its image tells. What a cluster must
// show of the ipvs deprecation depends on it: an upstream kube-proxy of 1.35+ logs the
// deprecation, another implementation of ipvs mode (this project's reference proxier) is
// not deprecated and must not claim to be.
type Release struct {
	// Image is the kube-proxy container's image.
	Image string
	// Minor is the Kubernetes minor of an upstream kube-proxy image (37 for
	// registry.k8s.io/kube-proxy:v1.37.2), 0 for any other image.
	Minor int
}

// Upstream tells whether the image is an upstream kube-proxy release.
func (r Release) Upstream() bool { return r.Minor > 0 }

func (r Release) String() string {
	if r.Upstream() {
		return fmt.Sprintf("%s (upstream kube-proxy 1.%d)", r.Image, r.Minor)
	}
	return r.Image + " (not an upstream kube-proxy)"
}

// parseImage reads an image reference: an upstream kube-proxy is a repository whose last
// path element is kube-proxy (or the old kube-proxy-<arch>) with a v1.<minor> tag, as
// kubeadm and kind name it; builds of a release keep that prefix (v1.37.2-rc.0+abc).
func parseImage(image string) Release {
	r := Release{Image: image}
	ref, _, _ := strings.Cut(image, "@") // a digest says nothing about the version
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash {
		return r // no tag (a colon before the last slash is a registry port)
	}
	repo, tag := ref[slash+1:colon], ref[colon+1:]
	if repo != "kube-proxy" && !strings.HasPrefix(repo, "kube-proxy-") {
		return r
	}
	rest, ok := strings.CutPrefix(tag, "v1.")
	if !ok {
		return r
	}
	end := 0
	for end < len(rest) && end < 4 && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	if end == 0 || (end < len(rest) && rest[end] != '.') {
		return r
	}
	if minor, err := strconv.Atoi(rest[:end]); err == nil && minor > 0 {
		r.Minor = minor
	}
	return r
}

// DaemonSetRelease reads the release the kube-proxy DaemonSet runs.
func DaemonSetRelease(ctx context.Context, c Cluster) (Release, error) {
	ds, err := c.Client.AppsV1().DaemonSets(Namespace).Get(ctx, DaemonSetName, metav1.GetOptions{})
	if err != nil {
		return Release{}, fmt.Errorf("kube-proxy DaemonSet %s/%s: %w (expected kubeadm's kube-proxy DaemonSet)", Namespace, DaemonSetName, err)
	}
	for _, ctr := range ds.Spec.Template.Spec.Containers {
		if ctr.Name == ContainerName {
			return parseImage(ctr.Image), nil
		}
	}
	return Release{}, fmt.Errorf("kube-proxy DaemonSet %s/%s: expected a container named %s, found %d others", Namespace, DaemonSetName, ContainerName, len(ds.Spec.Template.Spec.Containers))
}
