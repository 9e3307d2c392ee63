package image

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// binary stands for the static ipvsdump: any bytes do.
var binary = []byte("\x7fELF not really ipvsdump")

func build(t *testing.T, spec Spec) v1.Image {
	t.Helper()
	img, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// digest is the digest of the image spec builds.
func digest(t *testing.T, spec Spec) v1.Hash {
	t.Helper()
	d, err := build(t, spec).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// layerFiles lists the image's layers and, for each, its tar entries with types, modes,
// bytes and link targets, in the tar's order.
func layerFiles(t *testing.T, img v1.Image) [][]File {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]File
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var files []File
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			if hdr.Uid != 0 || hdr.Gid != 0 || !hdr.ModTime.Equal(Epoch) {
				t.Errorf("%s: owner %d:%d, time %v; want root's at %v", hdr.Name, hdr.Uid, hdr.Gid, hdr.ModTime, Epoch)
			}
			f := File{Path: "/" + strings.TrimSuffix(hdr.Name, "/"), Mode: os.FileMode(hdr.Mode), Data: data, Link: hdr.Linkname}
			switch hdr.Typeflag {
			case tar.TypeReg:
			case tar.TypeDir:
				f.Mode |= fs.ModeDir
			case tar.TypeSymlink:
				f.Mode |= fs.ModeSymlink
			default:
				t.Errorf("%s: type %c; want a file, a directory or a symlink", hdr.Name, hdr.Typeflag)
			}
			files = append(files, f)
		}
		rc.Close()
		out = append(out, files)
	}
	return out
}

func TestInspectorImage(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			img := build(t, Inspector(binary, arch, "3b4bbf2"))
			layers := layerFiles(t, img)
			want := [][]File{{{Path: "/ipvsdump", Mode: 0o755, Data: binary}}}
			if !slices.EqualFunc(layers, want, func(a, b []File) bool {
				return slices.EqualFunc(a, b, func(x, y File) bool { return x.Path == y.Path && x.Mode == y.Mode && bytes.Equal(x.Data, y.Data) })
			}) {
				t.Errorf("layers %+v, want one layer with /ipvsdump 0755 holding the binary", layers)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Config.Entrypoint, []string{"/ipvsdump", "serve"}) || cfg.Config.User != "0" ||
				cfg.OS != "linux" || cfg.Architecture != arch || !cfg.Created.Time.Equal(Epoch) ||
				cfg.Config.Labels["org.opencontainers.image.revision"] != "3b4bbf2" {
				t.Errorf("config: entrypoint %q, user %q, platform %s/%s, created %v, labels %v", cfg.Config.Entrypoint, cfg.Config.User,
					cfg.OS, cfg.Architecture, cfg.Created, cfg.Config.Labels)
			}
		})
	}
}

// The same binary gives the same digest; another binary or platform another one.
func TestDeterministic(t *testing.T) {
	a, b := digest(t, Inspector(binary, "amd64", "")), digest(t, Inspector(binary, "amd64", ""))
	if a != b {
		t.Errorf("two builds of the same binary: %s and %s", a, b)
	}
	if c := digest(t, Inspector(append(slices.Clone(binary), 0), "amd64", "")); c == a {
		t.Error("another binary gave the same digest")
	}
	if c := digest(t, Inspector(binary, "arm64", "")); c == a {
		t.Error("another architecture gave the same digest")
	}
}

// The layout loads back as the same image, and the tarball names it.
func TestWrite(t *testing.T) {
	img := build(t, Inspector(binary, "amd64", ""))
	dir := t.TempDir()
	for range 2 { // a second write replaces the first
		w, err := Write(img, dir, "ipvs-e2e-inspector-amd64", "ipvs-e2e-inspector:dev")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := img.Digest()
		if w.Digest != want || w.Layout != filepath.Join(dir, "ipvs-e2e-inspector-amd64.oci") || w.Tarball != filepath.Join(dir, "ipvs-e2e-inspector-amd64.tar") {
			t.Errorf("Write: %+v", w)
		}
		idx, err := layout.ImageIndexFromPath(w.Layout)
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 || m.Manifests[0].Digest != want || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "dev" {
			t.Fatalf("layout index %+v, want one manifest %s named dev", m.Manifests, want)
		}
		back, err := idx.Image(want)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := back.Digest(); d != want {
			t.Errorf("the layout's image has digest %s, want %s", d, want)
		}
		fromTar, err := tarball.ImageFromPath(w.Tarball, nil)
		if err != nil {
			t.Fatal(err)
		}
		if files := layerFiles(t, fromTar); len(files) != 1 || !bytes.Equal(files[0][0].Data, binary) {
			t.Errorf("the tarball's layers: %+v", files)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	one := func(files ...File) Spec {
		return Spec{Layers: []Layer{{Files: files}}, Platform: v1.Platform{OS: "linux", Architecture: "amd64"}}
	}
	for _, tc := range []struct {
		name string
		spec Spec
		err  string
	}{
		{"relative path", one(File{Path: "ipvsdump"}), "expected a clean absolute path"},
		{"path twice", one(File{Path: "/a"}, File{Path: "/a"}), "listed twice"},
		{"link target without symlink mode", one(File{Path: "/a", Link: "b"}), "expected fs.ModeSymlink"},
		{"symlink without target", one(File{Path: "/a", Mode: fs.ModeSymlink | 0o777}), "expected a link target"},
		{"directory with data", one(File{Path: "/a", Mode: fs.ModeDir | 0o755, Data: []byte("x")}), "expected no data"},
		{"named pipe", one(File{Path: "/a", Mode: fs.ModeNamedPipe | 0o644}), "expected a regular file, a directory or a symlink"},
		{"file under a file", one(File{Path: "/a"}, File{Path: "/a/b"}), "/a above it is not a directory"},
		{"no layer", Spec{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}}, "expected at least one layer"},
		{"no platform", Spec{Layers: []Layer{{Files: []File{{Path: "/a"}}}}}, "expected an OS and an architecture"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.spec)
			wanterr.Check(t, err, tc.err)
		})
	}
}

func TestArchiveRef(t *testing.T) {
	dir := t.TempDir()
	img, err := Build(Inspector([]byte("\x7fELF"), "amd64", "abc"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := Write(img, dir, "ipvs-e2e-inspector-amd64", "ipvs-e2e-inspector:abc")
	if err != nil {
		t.Fatal(err)
	}
	if w.Tarball != InspectorArchive(dir, "amd64") {
		t.Errorf("tarball %s, InspectorArchive says %s", w.Tarball, InspectorArchive(dir, "amd64"))
	}
	ref, err := ArchiveRef(w.Tarball)
	if err != nil || ref != "ipvs-e2e-inspector:abc" {
		t.Errorf("ArchiveRef = %q, %v; want ipvs-e2e-inspector:abc", ref, err)
	}
	if _, err := ArchiveRef(filepath.Join(dir, "none.tar")); err == nil {
		t.Error("ArchiveRef of a missing file: no error")
	}
}
