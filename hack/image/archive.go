package image

import (
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ArchiveRef is the image reference a docker-loadable tarball carries (its first repo
// tag): what a node that imported it knows the image as.
func ArchiveRef(path string) (string, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return "", fmt.Errorf("image tarball %s: %w", path, err)
	}
	if len(m) == 0 || len(m[0].RepoTags) == 0 {
		return "", fmt.Errorf("image tarball %s: expected an image with a tag, found none (write it with make inspector-image)", path)
	}
	return m[0].RepoTags[0], nil
}
