package image

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// userspace stands for what ProxierUserspace takes from Debian's packages.
var userspace = Userspace{
	Files: []File{
		{Path: "/usr/sbin/xtables-nft-multi", Mode: 0o755, Data: []byte("\x7fELF nft")},
		{Path: "/usr/sbin/xtables-legacy-multi", Mode: 0o755, Data: []byte("\x7fELF legacy")},
		{Path: "/usr/sbin/iptables-nft-save", Mode: fs.ModeSymlink | 0o777, Link: "xtables-nft-multi"},
		{Path: "/usr/lib/x86_64-linux-gnu/xtables/libxt_comment.so", Mode: 0o644, Data: []byte("\x7fELF comment")},
		{Path: "/lib64/ld-linux-x86-64.so.2", Mode: fs.ModeSymlink | 0o777, Link: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
	},
	Debs: []string{"iptables_1.8.9-2_amd64.deb", "conntrack_1%3a1.4.7-1+b2_amd64.deb"},
}

// entry finds the file at p in a layer.
func entry(files []File, p string) (File, bool) {
	i := slices.IndexFunc(files, func(f File) bool { return f.Path == p })
	if i < 0 {
		return File{}, false
	}
	return files[i], true
}

func TestProxierImage(t *testing.T) {
	proxier := []byte("\x7fELF not really ipvs-proxier")
	img := build(t, Proxier(proxier, userspace, "amd64", "3b4bbf2"))
	layers := layerFiles(t, img)
	if len(layers) != 2 {
		t.Fatalf("%d layers, want 2 (userspace, proxier)", len(layers))
	}
	base, top := layers[0], layers[1]

	// Every userspace file is in the bottom layer as given.
	for _, want := range userspace.Files {
		got, ok := entry(base, want.Path)
		if !ok || got.Mode != want.Mode || !bytes.Equal(got.Data, want.Data) || got.Link != want.Link {
			t.Errorf("userspace layer: %s is %+v (found %v), want %+v", want.Path, got, ok, want)
		}
	}
	// iptables names the nf_tables back end through Debian's alternatives links, and the
	// legacy folder the legacy one.
	for _, want := range []File{
		{Path: "/usr/sbin/iptables", Link: "/etc/alternatives/iptables"},
		{Path: "/etc/alternatives/iptables", Link: "/usr/sbin/iptables-nft"},
		{Path: "/usr/sbin/iptables-save", Link: "/etc/alternatives/iptables-save"},
		{Path: "/etc/alternatives/iptables-save", Link: "/usr/sbin/iptables-nft-save"},
		{Path: "/etc/alternatives/iptables-restore", Link: "/usr/sbin/iptables-nft-restore"},
		{Path: "/etc/alternatives/ip6tables-save", Link: "/usr/sbin/ip6tables-nft-save"},
		{Path: "/etc/alternatives/ip6tables-restore", Link: "/usr/sbin/ip6tables-nft-restore"},
		{Path: "/etc/alternatives/ip6tables", Link: "/usr/sbin/ip6tables-nft"},
		{Path: LegacyPath + "/iptables", Link: "/usr/sbin/iptables-legacy"},
		{Path: LegacyPath + "/iptables-save", Link: "/usr/sbin/iptables-legacy-save"},
		{Path: LegacyPath + "/iptables-restore", Link: "/usr/sbin/iptables-legacy-restore"},
		{Path: LegacyPath + "/ip6tables-restore", Link: "/usr/sbin/ip6tables-legacy-restore"},
	} {
		if got, ok := entry(base, want.Path); !ok || got.Mode != fs.ModeSymlink|0o777 || got.Link != want.Link {
			t.Errorf("%s is %+v (found %v), want a symlink to %s", want.Path, got, ok, want.Link)
		}
	}
	// The folders above the files are in the layer, and /run for the xtables lock.
	for _, dir := range []string{"/usr", "/usr/sbin", "/usr/lib/x86_64-linux-gnu/xtables", "/etc/alternatives", "/lib64", "/run", LegacyPath} {
		if got, ok := entry(base, dir); !ok || got.Mode != fs.ModeDir|0o755 {
			t.Errorf("%s is %+v (found %v), want a 0755 directory", dir, got, ok)
		}
	}
	if _, ok := entry(base, ProxierBinary); ok {
		t.Errorf("the userspace layer holds %s", ProxierBinary)
	}
	wantTop := []File{
		{Path: ProxierBinary, Mode: 0o755, Data: proxier},
		{Path: "/usr", Mode: fs.ModeDir | 0o755},
		{Path: "/usr/local", Mode: fs.ModeDir | 0o755},
		{Path: "/usr/local/bin", Mode: fs.ModeDir | 0o755},
		{Path: "/usr/local/bin/kube-proxy", Mode: fs.ModeSymlink | 0o777, Link: ProxierBinary},
	}
	if !slices.EqualFunc(top, wantTop, func(a, b File) bool {
		return a.Path == b.Path && a.Mode == b.Mode && bytes.Equal(a.Data, b.Data) && a.Link == b.Link
	}) {
		t.Errorf("proxier layer %+v, want %+v", top, wantTop)
	}

	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if !slices.Equal(c.Entrypoint, []string{"/ipvs-proxier"}) || len(c.Cmd) != 0 || c.User != "0" ||
		!slices.Equal(c.Env, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}) ||
		cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("config: entrypoint %q, cmd %q, user %q, env %q, platform %s/%s", c.Entrypoint, c.Cmd, c.User, c.Env, cfg.OS, cfg.Architecture)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.title":    "ipvs-e2e-proxier",
		"org.opencontainers.image.revision": "3b4bbf2",
		"io.ipvs-e2e.debian-packages":       "iptables_1.8.9-2_amd64.deb conntrack_1%3a1.4.7-1+b2_amd64.deb",
	} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	if len(cfg.History) != 2 || !strings.Contains(cfg.History[0].Comment, "iptables") || cfg.History[1].Comment != "ipvs-proxier" {
		t.Errorf("history %+v, want the userspace layer then the proxier's", cfg.History)
	}
	noRev, err := build(t, Proxier(proxier, userspace, "amd64", "")).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := noRev.Config.Labels["org.opencontainers.image.revision"]; ok {
		t.Error("an unknown commit is recorded as a revision")
	}
}

// The same proxier and userspace give the same digest, whatever order the files come in;
// another proxier, another package or another commit another one.
func TestProxierDeterministic(t *testing.T) {
	proxier := []byte("\x7fELF proxier")
	a := digest(t, Proxier(proxier, userspace, "amd64", "abc"))
	reversed := userspace
	reversed.Files = slices.Clone(userspace.Files)
	slices.Reverse(reversed.Files)
	if b := digest(t, Proxier(proxier, reversed, "amd64", "abc")); b != a {
		t.Errorf("the same files in another order: %s and %s", a, b)
	}
	other := userspace
	other.Files = append(slices.Clone(userspace.Files), File{Path: "/usr/sbin/conntrack", Mode: 0o755, Data: []byte("\x7fELF")})
	for name, spec := range map[string]Spec{
		"another proxier":   Proxier(append(slices.Clone(proxier), 0), userspace, "amd64", "abc"),
		"another userspace": Proxier(proxier, other, "amd64", "abc"),
		"another commit":    Proxier(proxier, userspace, "amd64", "abd"),
	} {
		if d := digest(t, spec); d == a {
			t.Errorf("%s gave the same digest", name)
		}
	}
}

func TestVariant(t *testing.T) {
	for cmd, want := range map[string]string{
		"iptables": "iptables-nft", "iptables-save": "iptables-nft-save", "ip6tables-restore": "ip6tables-nft-restore",
	} {
		if got := variant(cmd, "nft"); got != want {
			t.Errorf("variant(%s, nft) = %s, want %s", cmd, got, want)
		}
	}
}

// A tree laid out like unpacked packages: symlinks relative and absolute (resolved inside
// the tree, never on the host), a folder taken whole, a missing path refused.
func TestUserspaceFiles(t *testing.T) {
	root := t.TempDir()
	write := func(p string, mode fs.FileMode, data string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	write("usr/sbin/xtables-nft-multi", 0o755, "#!/bin/sh\n")
	link("usr/sbin/iptables-nft", "xtables-nft-multi")
	link("usr/sbin/iptables-nft-save", "/usr/sbin/iptables-nft") // absolute: inside the tree
	write("usr/lib/x86_64-linux-gnu/xtables/libxt_comment.so", 0o644, "ext")
	link("usr/lib/x86_64-linux-gnu/xtables/libxt_NOTRACK.so", "libxt_CT.so")
	write("usr/lib/x86_64-linux-gnu/xtables/libxt_CT.so", 0o644, "ct")
	write("etc/protocols", 0o644, "tcp 6 TCP\n")
	write("usr/share/doc/iptables/changelog", 0o644, "not taken")

	files, err := userspaceFiles(root, []string{"/usr/sbin/iptables-nft-save", "/usr/lib/x86_64-linux-gnu/xtables/", "/etc/protocols"})
	if err != nil {
		t.Fatal(err)
	}
	want := []File{
		{Path: "/etc/protocols", Mode: 0o644, Data: []byte("tcp 6 TCP\n")},
		{Path: "/usr/lib/x86_64-linux-gnu/xtables/libxt_CT.so", Mode: 0o644, Data: []byte("ct")},
		{Path: "/usr/lib/x86_64-linux-gnu/xtables/libxt_NOTRACK.so", Mode: fs.ModeSymlink | 0o777, Link: "libxt_CT.so"},
		{Path: "/usr/lib/x86_64-linux-gnu/xtables/libxt_comment.so", Mode: 0o644, Data: []byte("ext")},
		{Path: "/usr/sbin/iptables-nft", Mode: fs.ModeSymlink | 0o777, Link: "xtables-nft-multi"},
		{Path: "/usr/sbin/iptables-nft-save", Mode: fs.ModeSymlink | 0o777, Link: "/usr/sbin/iptables-nft"},
		{Path: "/usr/sbin/xtables-nft-multi", Mode: 0o755, Data: []byte("#!/bin/sh\n")},
	}
	if !slices.EqualFunc(files, want, func(a, b File) bool {
		return a.Path == b.Path && a.Mode == b.Mode && bytes.Equal(a.Data, b.Data) && a.Link == b.Link
	}) {
		t.Errorf("userspaceFiles:\n got %+v\nwant %+v", files, want)
	}

	link("usr/sbin/loop", "loop")
	link("usr/sbin/escape", "/nowhere")
	for _, tc := range []struct{ path, err string }{
		{"/usr/sbin/conntrack", "expected /usr/sbin/conntrack in the unpacked Debian packages"},
		{"/usr/sbin/escape", "expected /nowhere in the unpacked Debian packages"},
		{"/usr/sbin/loop", "more than 40 symlinks"},
		{"/etc/protocols/", "expected a folder"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, err := userspaceFiles(root, []string{tc.path})
			wanterr.Check(t, err, tc.err)
		})
	}
}

// An ELF program brings its shared libraries, at their sonames in the folder their package
// put them in, and its program interpreter through the tree's own link. The program is
// this host's /usr/bin/true with glibc copied beside it, as a package tree would hold them.
func TestUserspaceFilesLibraries(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("needs a linux/amd64 host's dynamically linked /usr/bin/true, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	root := t.TempDir()
	copyHost := func(host, p string) {
		t.Helper()
		data, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyHost("/usr/bin/true", "usr/bin/true")
	_, err := userspaceFiles(root, []string{"/usr/bin/true"})
	wanterr.Check(t, err, "libc.so.6 (needed by true)")
	copyHost("/lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libc.so.6.real")
	if err := os.Symlink("libc.so.6.real", filepath.Join(root, "lib/x86_64-linux-gnu/libc.so.6")); err != nil {
		t.Fatal(err)
	}
	copyHost("/lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
	if err := os.MkdirAll(filepath.Join(root, "lib64"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", filepath.Join(root, "lib64/ld-linux-x86-64.so.2")); err != nil {
		t.Fatal(err)
	}
	files, err := userspaceFiles(root, []string{"/usr/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	want := []string{"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2", "/usr/bin/true"}
	if !slices.Equal(paths, want) {
		t.Fatalf("files %q, want %q", paths, want)
	}
	if libc, _ := entry(files, "/lib/x86_64-linux-gnu/libc.so.6"); !libc.Mode.IsRegular() || len(libc.Data) == 0 {
		t.Errorf("libc.so.6 is %v with %d bytes, want the library's file at its soname", libc.Mode, len(libc.Data))
	}
	if ld, _ := entry(files, "/lib64/ld-linux-x86-64.so.2"); ld.Link != "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" {
		t.Errorf("the interpreter is %+v, want the tree's link", ld)
	}
}
