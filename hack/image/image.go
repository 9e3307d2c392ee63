// Package image builds container images from files, offline and without Docker: layers of
// files, directories and symlinks with their modes, a config and a platform make one
// v1.Image, written as an OCI image layout (for skopeo or crane) and as a tarball that
// `docker load` and `kind load image-archive` read. Every timestamp is fixed, so the same
// files give the same digest. WriteInspector and WriteProxier build and write the project's
// two images from their program, built with go build when not given.
package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Epoch is the time stamped on every file, the layer's history and the image: fixed, so
// that the digest depends on the files and config only.
var Epoch = time.Unix(0, 0).UTC()

// File is one entry of a layer: a regular file, a directory (Mode has fs.ModeDir) or a
// symbolic link (Mode has fs.ModeSymlink).
type File struct {
	// Path is absolute in the image ("/ipvsdump").
	Path string
	// Mode is the permission bits and, for a directory or a link, its type bit.
	Mode fs.FileMode
	// Data is a regular file's content.
	Data []byte
	// Link is a symbolic link's target ("xtables-nft-multi", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").
	Link string
}

// Layer is one layer of the image.
type Layer struct {
	// Comment says what the layer holds; it is the layer's history entry.
	Comment string
	Files   []File
}

// Config is what the image runs and how.
type Config struct {
	Entrypoint []string
	Cmd        []string
	// User is a user name or id ("0": root, which netlink writes need; "65532").
	User   string
	Env    []string
	Labels map[string]string
}

// Spec is an image: its layers, bottom first, config and platform.
type Spec struct {
	Layers   []Layer
	Config   Config
	Platform v1.Platform
}

// Build makes the image of spec, with OCI media types.
func Build(spec Spec) (v1.Image, error) {
	if spec.Platform.OS == "" || spec.Platform.Architecture == "" {
		return nil, fmt.Errorf("image platform %q: expected an OS and an architecture such as linux/amd64", spec.Platform.String())
	}
	if len(spec.Layers) == 0 {
		return nil, fmt.Errorf("image: expected at least one layer, found none")
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(base, &v1.ConfigFile{
		Created:      v1.Time{Time: Epoch},
		OS:           spec.Platform.OS,
		Architecture: spec.Platform.Architecture,
		Variant:      spec.Platform.Variant,
		Config: v1.Config{
			Entrypoint: spec.Config.Entrypoint,
			Cmd:        spec.Config.Cmd,
			User:       spec.Config.User,
			Env:        spec.Config.Env,
			Labels:     spec.Config.Labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	for i, l := range spec.Layers {
		data, err := layerTar(l.Files)
		if err != nil {
			return nil, fmt.Errorf("image layer %d (%s): %w", i+1, l.Comment, err)
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, fmt.Errorf("image layer %d (%s): %w", i+1, l.Comment, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
			History: v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: "ipvs-e2e hack/image", Comment: l.Comment}})
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}

// layerTar is a layer's uncompressed tar: the files in path order, each after the
// directories above it (listed or, when not, 0755), owned by root, stamped with Epoch.
func layerTar(files []File) ([]byte, error) {
	entries := map[string]File{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("image file %q: expected a clean absolute path such as /ipvsdump", f.Path)
		}
		if _, dup := entries[f.Path]; dup {
			return nil, fmt.Errorf("image file %s is listed twice", f.Path)
		}
		switch f.Mode.Type() {
		case 0:
			if f.Link != "" {
				return nil, fmt.Errorf("image file %s: a regular file with a link target %q; expected fs.ModeSymlink in its mode", f.Path, f.Link)
			}
		case fs.ModeDir:
			if len(f.Data) > 0 || f.Link != "" {
				return nil, fmt.Errorf("image directory %s: expected no data and no link target", f.Path)
			}
		case fs.ModeSymlink:
			if f.Link == "" || len(f.Data) > 0 {
				return nil, fmt.Errorf("image symlink %s: expected a link target and no data", f.Path)
			}
		default:
			return nil, fmt.Errorf("image file %s: type %v; expected a regular file, a directory or a symlink", f.Path, f.Mode.Type())
		}
		entries[f.Path] = f
	}
	for p, f := range entries {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			d, ok := entries[dir]
			if !ok {
				entries[dir] = File{Path: dir, Mode: fs.ModeDir | 0o755}
				continue
			}
			if !d.Mode.IsDir() {
				return nil, fmt.Errorf("image file %s: %s above it is not a directory", f.Path, dir)
			}
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range slices.Sorted(maps.Keys(entries)) {
		f := entries[p]
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Mode: int64(f.Mode.Perm()),
			Size: int64(len(f.Data)), ModTime: Epoch, Format: tar.FormatPAX}
		switch {
		case f.Mode.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case f.Mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.Link
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Written is where Write put an image.
type Written struct {
	// Ref is the image's name in the tarball and in the layout's ref.name annotation.
	Ref string
	// Layout is the OCI image layout directory, Tarball the docker-loadable tarball.
	Layout, Tarball string
	Digest          v1.Hash
}

// Write writes img under dir as base.oci/ (an OCI image layout, replaced whole) and
// base.tar (a docker-loadable tarball naming ref).
func Write(img v1.Image, dir, base, ref string) (Written, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return Written{}, fmt.Errorf("image name %q: expected REPOSITORY:TAG: %w", ref, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return Written{}, err
	}
	w := Written{Ref: ref, Layout: filepath.Join(dir, base+".oci"), Tarball: filepath.Join(dir, base+".tar"), Digest: digest}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Written{}, err
	}
	// A layout appends to its index: start afresh so it holds this image only.
	if err := os.RemoveAll(w.Layout); err != nil {
		return Written{}, err
	}
	p, err := layout.Write(w.Layout, empty.Index)
	if err != nil {
		return Written{}, fmt.Errorf("writing the OCI layout %s: %w", w.Layout, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag.TagStr()})); err != nil {
		return Written{}, fmt.Errorf("writing the OCI layout %s: %w", w.Layout, err)
	}
	if err := tarball.WriteToFile(w.Tarball, tag, img); err != nil {
		return Written{}, fmt.Errorf("writing the tarball %s: %w", w.Tarball, err)
	}
	return w, nil
}

// writeTagged writes img under dir as Write does, its base the archive's name, named
// repo:TAG where TAG is the commit's first 12 digits (dev outside git), and prints where.
func writeTagged(img v1.Image, dir, repo, archive, commit string, stdout io.Writer) (Written, string, error) {
	tag := "dev"
	if commit != "" {
		tag = commit[:min(12, len(commit))]
		if strings.HasSuffix(commit, "-dirty") {
			tag += "-dirty"
		}
	}
	w, err := Write(img, dir, strings.TrimSuffix(filepath.Base(archive), ".tar"), repo+":"+tag)
	if err != nil {
		return Written{}, "", err
	}
	fmt.Fprintf(stdout, "layout:  %s\ntarball: %s\ndigest:  %s\nimage:   %s\n\n", w.Layout, w.Tarball, w.Digest, w.Ref)
	return w, tag, nil
}
