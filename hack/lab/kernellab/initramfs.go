package kernellab

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/internal/elflibs"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/internal/cpio"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/internal/kmod"
)

// guestLibDir is where shared libraries go in the guest: a directory Debian's ld.so searches
// without an ld.so.cache.
const guestLibDir = "lib/x86_64-linux-gnu"

// hostLibDirs are searched after the unpacked packages, for glibc.
var hostLibDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"}

type baseInputs struct {
	kver, kroot, troot, busybox string
	modules, trees              []string
	tools                       []Tool
	log                         *slog.Logger
}

// baseFiles is the plan of the base initramfs, computed before any byte is written.
type baseFiles struct {
	modules  []string          // module paths relative to lib/modules/<kver>
	index    map[string][]byte // index file name -> content
	tools    []string          // tool files relative to the tools tree (files and symlinks)
	libs     elflibs.Set
	binaries int // ELF executables among the tools, busybox included
	applets  []string
}

func buildBaseFile(ctx context.Context, dst string, in baseInputs) (baseStats, error) {
	t := time.Now()
	plan, err := planBase(ctx, in)
	if err != nil {
		return baseStats{}, err
	}
	in.log.Info(fmt.Sprintf("lab: building initramfs (%d modules, %d binaries)", len(plan.modules), plan.binaries),
		"libraries", len(plan.libs.Libs), "kernel", in.kver)
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return baseStats{}, err
	}
	defer os.Remove(tmp)
	zw, err := gzip.NewWriterLevel(f, gzip.DefaultCompression)
	if err != nil {
		f.Close()
		return baseStats{}, err
	}
	if err := writeBase(zw, in, plan); err != nil {
		f.Close()
		return baseStats{}, err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return baseStats{}, err
	}
	if err := f.Close(); err != nil {
		return baseStats{}, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return baseStats{}, err
	}
	st, _ := os.Stat(dst)
	in.log.Info("lab: initramfs built", "path", dst, "bytes", st.Size(), "elapsed", since(t))
	return baseStats{Modules: len(plan.modules), Binaries: plan.binaries}, nil
}

// planBase picks the modules, tool files and libraries of the base initramfs.
func planBase(ctx context.Context, in baseInputs) (*baseFiles, error) {
	moddir := filepath.Join(in.kroot, "lib", "modules", in.kver)
	open := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(moddir, name))
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w (was the tree indexed with depmod?)", in.kver, err)
		}
		return b, nil
	}
	dep, err := open("modules.dep")
	if err != nil {
		return nil, err
	}
	idx, err := kmod.ParseDep(bytes.NewReader(dep))
	if err != nil {
		return nil, err
	}
	builtin, err := open("modules.builtin")
	if err != nil {
		return nil, err
	}
	if err := idx.ParseBuiltin(bytes.NewReader(builtin)); err != nil {
		return nil, err
	}
	names := append(slices.Clone(in.modules), idx.Under(in.trees...)...)
	mods, err := idx.Closure(names)
	if err != nil {
		return nil, err
	}
	p := &baseFiles{modules: mods, index: map[string][]byte{"modules.builtin": builtin}}
	if p.index["modules.dep"], err = idx.DepFor(mods); err != nil {
		return nil, err
	}
	for _, name := range []string{"modules.alias", "modules.symbols"} {
		b, err := open(name)
		if err != nil {
			return nil, err
		}
		if p.index[name], err = kmod.FilterByModule(bytes.NewReader(b), mods); err != nil {
			return nil, err
		}
	}
	if order, err := open("modules.order"); err == nil {
		if p.index["modules.order"], err = kmod.FilterPaths(bytes.NewReader(order), mods); err != nil {
			return nil, err
		}
	}

	var elfs []string
	for _, t := range in.tools {
		for _, rel := range t.Paths {
			files, err := toolFiles(in.troot, rel)
			if err != nil {
				return nil, fmt.Errorf("tool package %s: %w", t.Package, err)
			}
			for _, f := range files {
				p.tools = append(p.tools, f)
				full := filepath.Join(in.troot, f)
				st, err := os.Lstat(full)
				if err != nil || !st.Mode().IsRegular() {
					continue
				}
				_, isELF, err := elflibs.Read(full)
				if err != nil {
					return nil, err
				}
				if isELF {
					elfs = append(elfs, full)
					if st.Mode()&0o111 != 0 && !strings.HasSuffix(f, ".so") {
						p.binaries++
					}
				}
			}
		}
	}
	dirs := []string{filepath.Join(in.troot, "lib/x86_64-linux-gnu"), filepath.Join(in.troot, "usr/lib/x86_64-linux-gnu")}
	if p.libs, err = elflibs.Resolve(elfs, elflibs.Read, elflibs.Finder(append(dirs, hostLibDirs...))); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, in.busybox, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", in.busybox, err)
	}
	p.applets = strings.Fields(string(out))
	p.binaries++ // busybox
	return p, nil
}

// toolFiles lists the files (and symlinks) at rel in the unpacked tools tree; a rel ending in
// "/" lists the folder's entries.
func toolFiles(troot, rel string) ([]string, error) {
	if !strings.HasSuffix(rel, "/") {
		if _, err := os.Lstat(filepath.Join(troot, rel)); err != nil {
			return nil, fmt.Errorf("expected %s in the unpacked package: %w", rel, err)
		}
		return []string{rel}, nil
	}
	entries, err := os.ReadDir(filepath.Join(troot, rel))
	if err != nil {
		return nil, fmt.Errorf("expected folder %s in the unpacked package: %w", rel, err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, path.Join(rel, e.Name()))
		}
	}
	return out, nil
}

// writeBase writes the base archive: skeleton, /init, tools and libraries, busybox and its
// applet links (tools win over applets of the same name: iproute2's ip, not busybox's), and
// the modules with their index.
func writeBase(w io.Writer, in baseInputs, p *baseFiles) error {
	cw := cpio.NewWriter(w)
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "root", "etc", "lab", "var", "usr/sbin", "usr/bin", "sbin", "bin"} {
		if err := cw.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	// The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
	if err := cw.CharDevice("dev/console", 0o600, 5, 1); err != nil {
		return err
	}
	if err := cw.Symlink("var/run", "/run"); err != nil {
		return err
	}
	skeleton := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
		"etc/hosts":  "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
	}
	for _, name := range slices.Sorted(maps.Keys(skeleton)) {
		if err := cw.WriteFile(name, 0o644, []byte(skeleton[name])); err != nil {
			return err
		}
	}
	if err := cw.WriteFile("init", 0o755, []byte(guestInit)); err != nil {
		return err
	}
	for _, f := range p.tools {
		if err := addHostPath(cw, filepath.Join(in.troot, f), f); err != nil {
			return err
		}
	}
	if err := cw.Symlink("bin/sh", "dash"); err != nil {
		return err
	}
	// The names Debian's postinst makes with update-alternatives; /init re-points them to
	// the back end a job asks for.
	for _, t := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		if err := cw.Symlink("usr/sbin/"+t, "xtables-nft-multi"); err != nil {
			return err
		}
	}
	for _, so := range slices.Sorted(maps.Keys(p.libs.Libs)) {
		if err := addHostFile(cw, p.libs.Libs[so], path.Join(guestLibDir, so), 0); err != nil {
			return err
		}
	}
	for _, interp := range p.libs.Interps {
		real, err := filepath.EvalSymlinks(interp)
		if err != nil {
			return fmt.Errorf("program interpreter %s not on the host: %w", interp, err)
		}
		if err := addHostFile(cw, real, interp, 0); err != nil {
			return err
		}
	}
	if err := addHostFile(cw, in.busybox, "bin/busybox", 0o755); err != nil {
		return err
	}
	for _, a := range p.applets {
		if a == "bin/busybox" || cw.Has(a) || a == "init" || a == "linuxrc" {
			continue
		}
		if err := cw.Symlink(a, "/bin/busybox"); err != nil {
			return err
		}
	}
	moddir := path.Join("lib/modules", in.kver)
	for _, m := range p.modules {
		if err := addHostFile(cw, filepath.Join(in.kroot, moddir, m), path.Join(moddir, m), 0o644); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.index)) {
		if err := cw.WriteFile(path.Join(moddir, name), 0o644, p.index[name]); err != nil {
			return err
		}
	}
	return cw.Close()
}

// addHostPath copies a host file or symlink into the archive at name.
func addHostPath(cw *cpio.Writer, host, name string) error {
	st, err := os.Lstat(host)
	if err != nil {
		return err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(host)
		if err != nil {
			return err
		}
		return cw.Symlink(name, target)
	}
	return addHostFile(cw, host, name, 0)
}

// addHostFile copies a regular host file into the archive; perm 0 keeps the host's mode.
func addHostFile(cw *cpio.Writer, host, name string, perm fs.FileMode) error {
	f, err := os.Open(host)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: expected a regular file, found %s", host, st.Mode().Type())
	}
	if perm == 0 {
		perm = st.Mode().Perm()
	}
	return cw.CopyFile(name, perm, st.Size(), f)
}
