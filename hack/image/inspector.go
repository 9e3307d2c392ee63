package image

import (
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// InspectorName is the node inspector's image repository (cmd/ipvsdump serve).
const InspectorName = "ipvs-e2e-inspector"

// Inspector is the node inspector's image: the static ipvsdump binary at /ipvsdump and
// nothing else (the host binaries it runs come from the node's root, chrooted into; a
// chroot needs nothing from the image), run as `ipvsdump serve` as root, which netlink
// and chroot need. commit, when known, is recorded as the source revision.
func Inspector(ipvsdump []byte, arch, commit string) Spec {
	labels := map[string]string{"org.opencontainers.image.title": InspectorName}
	if commit != "" {
		labels["org.opencontainers.image.revision"] = commit
	}
	return Spec{
		Layers: []Layer{{Comment: "ipvsdump", Files: []File{{Path: "/ipvsdump", Mode: 0o755, Data: ipvsdump}}}},
		Config: Config{
			Entrypoint: []string{"/ipvsdump", "serve"},
			User:       "0",
			Labels:     labels,
		},
		Platform: v1.Platform{OS: "linux", Architecture: arch},
	}
}

// InspectorArchive is where the inspector's docker-loadable tarball for arch lies under dir
// (make inspector-image: $CACHE_DIR/images).
func InspectorArchive(dir, arch string) string {
	return filepath.Join(dir, InspectorName+"-"+arch+".tar")
}
