package image

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
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

// WriteInspector builds the node inspector's image from o (ipvsdump built when o.Binary is
// empty, its output to stderr), writes it under o.Out and prints where it is and how to push
// it, name it to the suites and load it into kind.
func WriteInspector(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	data, err := program(ctx, "github.com/ipvs-e2e/ipvs-e2e/cmd/ipvsdump", o, stderr)
	if err != nil {
		return err
	}
	commit := sourceCommit(ctx)
	img, err := Build(Inspector(data, o.Arch, commit))
	if err != nil {
		return err
	}
	w, tag, err := writeTagged(img, o.Out, InspectorName, InspectorArchive(o.Out, o.Arch), commit, stdout)
	if err != nil {
		return err
	}
	printUse(stdout, w, tag)
	return nil
}

// printUse prints the three lines README.md shows: how to push the inspector's image, how
// to name it to the suites, and kind.
func printUse(w io.Writer, img Written, tag string) {
	repo := "REGISTRY/" + InspectorName + ":" + tag
	fmt.Fprintf(w, "push: crane push %s %s   (or skopeo copy oci:%s:%s docker://%s)\n", img.Tarball, repo, img.Layout, tag, repo)
	fmt.Fprintf(w, "name: %s=%s@%s\n", inspector.ImageEnv, repo, img.Digest)
	fmt.Fprintf(w, "kind: a kind cluster needs no registry: with %s empty, provider existing loads %s into its nodes through kind's API\n", inspector.ImageEnv, img.Tarball)
}
