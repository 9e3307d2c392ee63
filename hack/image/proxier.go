package image

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ipvs-e2e/ipvs-e2e/hack/internal/debian"
	"github.com/ipvs-e2e/ipvs-e2e/hack/internal/elflibs"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/cachedir"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// ProxierName is the reference proxier's image repository, the one its manifests name and
// the lab's node agent recognises.
const ProxierName = manifests.ProxierRepository

// ProxierBinary is where the proxier is in the image; KubeProxyPath links to it, so a
// kube-proxy DaemonSet (kubeadm's runs /usr/local/bin/kube-proxy --config=...) needs only
// its image changed.
const (
	ProxierBinary = "/ipvs-proxier"
	KubeProxyPath = "/usr/local/bin/kube-proxy"
)

// LegacyPath is a folder of iptables, iptables-save, iptables-restore and their ip6tables
// twins that run the legacy (x_tables) back end. The image's own names run nf_tables, as
// Debian's and kube-proxy's images do on a node without legacy rules; on a node whose
// kubelet writes legacy rules, put LegacyPath first in PATH:
// PATH=/usr/libexec/iptables-legacy:/usr/sbin:/usr/bin:/sbin:/bin. The proxier runs the
// commands by name from PATH.
const LegacyPath = "/usr/libexec/iptables-legacy"

// ProxierPath is the image's PATH.
const ProxierPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ProxierPackages are the Debian packages whose programs the image carries, with the
// library packages they need (glibc included: the image has nothing else).
var ProxierPackages = []string{"iptables", "conntrack", "netbase"}

// iptablesCommands are the names the proxier runs (proxy/kernel/iptables: iptables-save,
// iptables-restore and ip6tables-*) and the iptables a person runs in the container.
var iptablesCommands = []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"}

// proxierTools are the paths taken from the unpacked packages: both xtables multi-call
// binaries with their per-back-end names, the extensions they dlopen, conntrack (the
// proxier deletes stale UDP entries through netlink; the command is for a person in the
// container, as in kube-proxy's image) and the protocol and service names iptables
// prints. Shared libraries and the dynamic loader follow from the ELF files.
func proxierTools() []string {
	paths := []string{"/usr/sbin/xtables-legacy-multi", "/usr/sbin/xtables-nft-multi",
		"/usr/lib/x86_64-linux-gnu/xtables/", "/usr/sbin/conntrack", "/etc/protocols", "/etc/services"}
	for _, backend := range []string{"legacy", "nft"} {
		for _, c := range iptablesCommands {
			paths = append(paths, "/usr/sbin/"+variant(c, backend))
		}
	}
	return paths
}

// variant is a command's name for one back end: iptables-save, nft -> iptables-nft-save.
func variant(cmd, backend string) string {
	base, suffix, _ := strings.Cut(cmd, "-")
	if suffix != "" {
		suffix = "-" + suffix
	}
	return base + "-" + backend + suffix
}

// Userspace is the proxier image's bottom layer: files taken from Debian packages.
type Userspace struct {
	Files []File
	// Debs are the .deb files it was taken from ("iptables_1.8.9-2_amd64.deb").
	Debs []string
}

// ProxierUserspace downloads ProxierPackages and their libraries from Debian's mirror (apt
// on this Debian host; nothing is installed) into dir/debs, unpacks them once into
// dir/proxier-userspace, and takes from there what the proxier runs.
func ProxierUserspace(ctx context.Context, dir string) (Userspace, error) {
	return proxierUserspace(ctx, &debian.Apt{Run: debian.Exec}, dir)
}

func proxierUserspace(ctx context.Context, apt *debian.Apt, dir string) (Userspace, error) {
	tree, err := apt.UnpackTree(ctx, filepath.Join(dir, "debs"), filepath.Join(dir, "proxier-userspace"), ProxierPackages, nil)
	if err != nil {
		return Userspace{}, fmt.Errorf("the proxier image's Debian packages: %w", err)
	}
	files, err := userspaceFiles(tree.Root, proxierTools())
	if err != nil {
		return Userspace{}, err
	}
	return Userspace{Files: files, Debs: tree.Debs}, nil
}

// userspaceFiles takes paths (a folder when ending in "/") from the unpacked root: regular
// files, symlinks and what they point to, then the shared libraries the ELF files among
// them need and their program interpreter, each library at its soname in the folder its
// package put it in.
func userspaceFiles(root string, paths []string) ([]File, error) {
	t := &taker{root: root, files: map[string]File{}}
	for _, p := range paths {
		if err := t.take(p, 0); err != nil {
			return nil, err
		}
	}
	libDirs := []string{filepath.Join(root, "lib/x86_64-linux-gnu"), filepath.Join(root, "usr/lib/x86_64-linux-gnu")}
	libs, err := elflibs.Resolve(t.elfs, elflibs.Read, elflibs.Finder(libDirs))
	if err != nil {
		return nil, err
	}
	for _, so := range slices.Sorted(maps.Keys(libs.Libs)) {
		real := libs.Libs[so]
		rel, err := filepath.Rel(root, real)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("library %s resolves to %s, outside the unpacked packages %s", so, real, root)
		}
		dst := path.Join("/", filepath.ToSlash(filepath.Dir(rel)), so)
		if err := t.copy(real, dst); err != nil {
			return nil, err
		}
	}
	for _, interp := range libs.Interps {
		if err := t.take(interp, 0); err != nil {
			return nil, fmt.Errorf("program interpreter: %w", err)
		}
	}
	out := make([]File, 0, len(t.files))
	for _, p := range slices.Sorted(maps.Keys(t.files)) {
		out = append(out, t.files[p])
	}
	return out, nil
}

// taker copies files out of an unpacked root, following symlinks inside it.
type taker struct {
	root  string
	files map[string]File
	elfs  []string // host paths of the ELF files taken
}

// maxLinks bounds a chain of symlinks, as the kernel's ELOOP does.
const maxLinks = 40

func (t *taker) take(p string, depth int) error {
	if depth > maxLinks {
		return fmt.Errorf("%s: more than %d symlinks in a row", p, maxLinks)
	}
	dirOnly := strings.HasSuffix(p, "/")
	p = path.Clean(p)
	// A link taken before is followed again, so that a loop ends in the error above.
	if f, done := t.files[p]; done && f.Mode&fs.ModeSymlink == 0 {
		return nil
	}
	host := filepath.Join(t.root, filepath.FromSlash(p))
	st, err := os.Lstat(host)
	if err != nil {
		return fmt.Errorf("expected %s in the unpacked Debian packages: %w", p, err)
	}
	switch {
	case dirOnly || st.IsDir():
		if !st.IsDir() {
			return fmt.Errorf("%s in the unpacked Debian packages is a %v, expected a folder", p, st.Mode().Type())
		}
		entries, err := os.ReadDir(host)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.IsDir() {
				if err := t.take(path.Join(p, e.Name()), depth); err != nil {
					return err
				}
			}
		}
		return nil
	case st.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(host)
		if err != nil {
			return err
		}
		t.files[p] = File{Path: p, Mode: fs.ModeSymlink | 0o777, Link: target}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		return t.take(target, depth+1)
	case st.Mode().IsRegular():
		return t.copy(host, p)
	}
	return fmt.Errorf("%s in the unpacked Debian packages is a %v, expected a file, a folder or a symlink", p, st.Mode().Type())
}

// copy adds the regular host file at dst, noting it when it is ELF.
func (t *taker) copy(host, dst string) error {
	if f, done := t.files[dst]; done && f.Mode.IsRegular() {
		return nil
	}
	st, err := os.Stat(host)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(host)
	if err != nil {
		return err
	}
	t.files[dst] = File{Path: dst, Mode: st.Mode().Perm(), Data: data}
	if _, isELF, err := elflibs.Read(host); err != nil {
		return err
	} else if isELF {
		t.elfs = append(t.elfs, host)
	}
	return nil
}

// Proxier is the reference proxier's image: userspace (ProxierUserspace) on the bottom
// layer with the alternatives that make iptables the nf_tables back end and LegacyPath the
// legacy one, the static proxier at /ipvs-proxier on the top layer, linked from
// /usr/local/bin/kube-proxy; entrypoint the proxier, user 0 (netlink and iptables need
// root). commit, when known, is recorded as the source revision; debs as the packages the
// userspace came from.
func Proxier(proxier []byte, userspace Userspace, arch, commit string) Spec {
	labels := map[string]string{
		"org.opencontainers.image.title": ProxierName,
		"io.ipvs-e2e.debian-packages":    strings.Join(userspace.Debs, " "),
	}
	if commit != "" {
		labels["org.opencontainers.image.revision"] = commit
	}
	base := slices.Clone(userspace.Files)
	// Debian's update-alternatives links: /usr/sbin/iptables -> /etc/alternatives/iptables
	// -> /usr/sbin/iptables-nft; the multi-call binary picks the back end from its name.
	for _, c := range iptablesCommands {
		base = append(base,
			File{Path: "/usr/sbin/" + c, Mode: fs.ModeSymlink | 0o777, Link: "/etc/alternatives/" + c},
			File{Path: "/etc/alternatives/" + c, Mode: fs.ModeSymlink | 0o777, Link: "/usr/sbin/" + variant(c, "nft")},
			File{Path: LegacyPath + "/" + c, Mode: fs.ModeSymlink | 0o777, Link: "/usr/sbin/" + variant(c, "legacy")})
	}
	// iptables takes the xtables lock in /run (a node's /run/xtables.lock is mounted there).
	base = append(base, File{Path: "/run", Mode: fs.ModeDir | 0o755})
	return Spec{
		Layers: []Layer{
			{Comment: "iptables (legacy and nft), conntrack and their libraries from Debian packages", Files: base},
			{Comment: "ipvs-proxier", Files: []File{
				{Path: ProxierBinary, Mode: 0o755, Data: proxier},
				{Path: KubeProxyPath, Mode: fs.ModeSymlink | 0o777, Link: ProxierBinary},
			}},
		},
		Config: Config{
			Entrypoint: []string{ProxierBinary},
			User:       "0",
			Env:        []string{"PATH=" + ProxierPath},
			Labels:     labels,
		},
		Platform: v1.Platform{OS: "linux", Architecture: arch},
	}
}

// ProxierArchive is where the proxier's docker-loadable tarball for arch lies under dir
// (make proxier-image: $CACHE_DIR/images).
func ProxierArchive(dir, arch string) string {
	return filepath.Join(dir, "ipvs-proxier-"+arch+".tar")
}

// WriteProxier builds the reference proxier's image from o (ipvs-proxier built when
// o.Binary is empty, its output to stderr) and the Debian packages cached in
// $CACHE_DIR/images/debian, writes it under o.Out and prints where it is, its size and how
// to push it and load it into kind.
func WriteProxier(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	data, err := program(ctx, "github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-proxier", o, stderr)
	if err != nil {
		return err
	}
	userspace, err := ProxierUserspace(ctx, cachedir.Join("images", "debian"))
	if err != nil {
		return err
	}
	commit := sourceCommit(ctx)
	spec := Proxier(data, userspace, o.Arch, commit)
	img, err := Build(spec)
	if err != nil {
		return err
	}
	entries := 0
	for _, l := range spec.Layers {
		entries += len(l.Files)
	}
	w, tag, err := writeTagged(img, o.Out, ProxierName, ProxierArchive(o.Out, o.Arch), commit, stdout)
	if err != nil {
		return err
	}
	size, err := compressedSize(img)
	if err != nil {
		return err
	}
	repo := "REGISTRY/" + path.Base(ProxierName) + ":" + tag
	fmt.Fprintf(stdout, "size:    %.1f MB compressed in %d layers, %d files and links (the proxier: %.1f MB)\n",
		float64(size)/1e6, len(spec.Layers), entries, float64(len(data))/1e6)
	fmt.Fprintf(stdout, "push: crane push %s %s   (or skopeo copy oci:%s:%s docker://%s)\n", w.Tarball, repo, w.Layout, tag, repo)
	fmt.Fprintf(stdout, "kind: kind load image-archive %s\n", w.Tarball)
	return nil
}

// compressedSize is the sum of the image's layers as pushed.
func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
