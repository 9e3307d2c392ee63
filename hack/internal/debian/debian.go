// Package debian fetches Debian packages for the kernel lab and the container images without
// installing them on the host: it resolves names with apt-cache, downloads with `apt-get
// download` and unpacks with `dpkg-deb -x`. Only host tools (QEMU, busybox-static) are
// installed, and only when missing.
package debian

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Dep is one line of `apt-cache depends` output.
type Dep struct {
	// Kind is the relation: Depends, PreDepends, Recommends, Suggests, Conflicts, Breaks, ...
	Kind string
	// Name is the package named by the relation; Virtual is set when apt wrote it as <name>.
	Name    string
	Virtual bool
	// OrNext is set when this dependency may be replaced by the next one ("|Depends:").
	OrNext bool
	// Providers are the real packages apt listed under a virtual package.
	Providers []string
}

// ParseDepends reads the output of `apt-cache depends PKG...` into the dependencies of each
// package, keyed by package name. It reads the format apt 2.x prints:
//
//	pkg
//	  Depends: libc6
//	 |Depends: a
//	  Depends: b
//	  Depends: <virtual>
//	    provider
func ParseDepends(out []byte) (map[string][]Dep, error) {
	deps := map[string][]Dep{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			continue
		case !strings.HasPrefix(line, " "):
			// apt --recurse may print a package twice; its block is the same each time.
			cur = trimmed
			deps[cur] = nil
		case strings.HasPrefix(line, "    "):
			// A provider of the virtual package on the line above.
			list := deps[cur]
			if cur == "" || len(list) == 0 {
				return nil, fmt.Errorf("apt-cache depends line %d: %q: provider line without a dependency above it", n, line)
			}
			list[len(list)-1].Providers = append(list[len(list)-1].Providers, trimmed)
		default:
			if cur == "" {
				return nil, fmt.Errorf("apt-cache depends line %d: %q: dependency line before any package name", n, line)
			}
			d := Dep{}
			rel := trimmed
			if after, ok := strings.CutPrefix(rel, "|"); ok {
				d.OrNext, rel = true, after
			}
			kind, name, ok := strings.Cut(rel, ":")
			name = strings.TrimSpace(name)
			if !ok || kind == "" || name == "" || strings.ContainsAny(kind, " \t") {
				return nil, fmt.Errorf("apt-cache depends line %d: %q: expected \"  Kind: package\"", n, line)
			}
			d.Kind = kind
			if strings.HasPrefix(name, "<") && strings.HasSuffix(name, ">") {
				d.Virtual, name = true, strings.TrimSpace(name[1:len(name)-1])
			}
			if name == "" {
				return nil, fmt.Errorf("apt-cache depends line %d: %q: empty package name", n, line)
			}
			d.Name = name
			deps[cur] = append(deps[cur], d)
		}
	}
	return deps, sc.Err()
}

// Runner runs a command in dir and returns its combined output. Tests replace it.
type Runner func(ctx context.Context, dir, name string, args ...string) ([]byte, error)

// Exec is the Runner that runs real commands; a failure's error carries the command's output.
func Exec(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out, 2000))
	}
	return out, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// Apt resolves, downloads and unpacks packages, and installs host tools.
type Apt struct {
	Run Runner
	// updated records that `apt-get update` ran in this process, so it runs at most once.
	updated bool
}

// lockTimeout lets apt wait for another apt (another helper, unattended upgrades) instead of
// failing at once.
var lockTimeout = []string{"-o", "DPkg::Lock::Timeout=600"}

// Update runs `apt-get update` once per Apt.
func (a *Apt) Update(ctx context.Context) error {
	if a.updated {
		return nil
	}
	if _, err := a.Run(ctx, "", "apt-get", append(lockTimeout, "update", "-qq")...); err != nil {
		return fmt.Errorf("apt-get update failed; the lab needs Debian's package lists: %w", err)
	}
	a.updated = true
	return nil
}

// Install installs packages on the host (apt-get update first).
func (a *Apt) Install(ctx context.Context, pkgs ...string) error {
	if err := a.Update(ctx); err != nil {
		return err
	}
	args := append(slices.Clone(lockTimeout), "install", "-y", "-qq", "--no-install-recommends")
	if _, err := a.Run(ctx, "", "apt-get", append(args, pkgs...)...); err != nil {
		return fmt.Errorf("installing %s on the host: %w", strings.Join(pkgs, " "), err)
	}
	return nil
}

// Depends runs `apt-cache depends` for pkgs, updating the package lists once if apt knows
// none of them (a fresh machine has no lists).
func (a *Apt) Depends(ctx context.Context, pkgs ...string) (map[string][]Dep, error) {
	return a.depends(ctx, false, pkgs)
}

func (a *Apt) depends(ctx context.Context, recurse bool, pkgs []string) (map[string][]Dep, error) {
	args := []string{"depends", "--no-recommends", "--no-suggests", "--no-conflicts",
		"--no-breaks", "--no-replaces", "--no-enhances"}
	if recurse {
		args = append(args, "--recurse")
	}
	args = append(args, pkgs...)
	out, err := a.Run(ctx, "", "apt-cache", args...)
	if err != nil && !a.updated {
		if uerr := a.Update(ctx); uerr != nil {
			return nil, errors.Join(err, uerr)
		}
		out, err = a.Run(ctx, "", "apt-cache", args...)
	}
	if err != nil {
		return nil, fmt.Errorf("apt-cache depends %s: %w", strings.Join(pkgs, " "), err)
	}
	return ParseDepends(out)
}

// ResolveMeta gives the versioned package a metapackage depends on whose name starts with
// prefix: linux-image-cloud-amd64 -> linux-image-6.1.0-56-cloud-amd64.
func (a *Apt) ResolveMeta(ctx context.Context, meta, prefix string) (string, error) {
	deps, err := a.Depends(ctx, meta)
	if err != nil {
		return "", err
	}
	if pkg := PickDepends(deps[meta], prefix); pkg != "" {
		return pkg, nil
	}
	if !a.updated { // stale lists can name a package the mirror has dropped: refresh once
		if err := a.Update(ctx); err != nil {
			return "", err
		}
		if deps, err = a.Depends(ctx, meta); err != nil {
			return "", err
		}
		if pkg := PickDepends(deps[meta], prefix); pkg != "" {
			return pkg, nil
		}
	}
	return "", fmt.Errorf("apt-cache depends %s names no %s* package; expected Debian's metapackage "+
		"(is the host a Debian bookworm with main in its sources?)", meta, prefix)
}

// PickDepends gives the first Depends/PreDepends relation whose package name starts with prefix.
func PickDepends(deps []Dep, prefix string) string {
	for _, d := range deps {
		if (d.Kind == "Depends" || d.Kind == "PreDepends") && !d.Virtual && strings.HasPrefix(d.Name, prefix) {
			return d.Name
		}
	}
	return ""
}

// LibraryClosure gives pkgs plus every shared-library package they need, recursively.
// Library packages are the Depends whose names start with "lib"; skip names the packages the
// host provides (glibc: libc6), which are taken from the host instead. One recursive
// apt-cache call gives the whole graph; the walk keeps to library packages.
func (a *Apt) LibraryClosure(ctx context.Context, pkgs []string, skip map[string]bool) ([]string, error) {
	deps, err := a.depends(ctx, true, pkgs)
	if err != nil {
		return nil, err
	}
	return libraryClosure(deps, pkgs, skip)
}

func libraryClosure(deps map[string][]Dep, pkgs []string, skip map[string]bool) ([]string, error) {
	all := slices.Clone(pkgs)
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p] = true
	}
	for todo := slices.Clone(pkgs); len(todo) > 0; {
		p := todo[0]
		todo = todo[1:]
		list, ok := deps[p]
		if !ok {
			return nil, fmt.Errorf("apt-cache depends printed nothing for %s; expected a package in Debian's lists", p)
		}
		for _, d := range LibraryDepends(list) {
			if !seen[d] && !skip[d] {
				seen[d] = true
				todo = append(todo, d)
				all = append(all, d)
			}
		}
	}
	slices.Sort(all)
	return all, nil
}

// LibraryDepends picks the library packages of a dependency list: hard dependencies (Depends,
// PreDepends) whose names start with "lib". For an alternative (a | b) the first is taken.
func LibraryDepends(deps []Dep) []string {
	var out []string
	skipNext := false
	for _, d := range deps {
		if skipNext {
			skipNext = d.OrNext
			continue
		}
		if d.Kind != "Depends" && d.Kind != "PreDepends" {
			continue
		}
		skipNext = d.OrNext
		name := d.Name
		if d.Virtual {
			if len(d.Providers) == 0 {
				continue
			}
			name = d.Providers[0]
		}
		if strings.HasPrefix(name, "lib") {
			out = append(out, name)
		}
	}
	return out
}

// Download fetches the .deb files of pkgs into dir with `apt-get download` (nothing is
// installed) and returns their paths, keyed by package name. Files already in dir are reused.
func (a *Apt) Download(ctx context.Context, dir string, pkgs ...string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	found := map[string]string{}
	var missing []string
	for _, p := range pkgs {
		if f := findDeb(dir, p); f != "" {
			found[p] = f
		} else {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return found, nil
	}
	// The _apt sandbox user cannot write to a cache under /root; download as the caller.
	args := append(slices.Clone(lockTimeout), "-o", "APT::Sandbox::User=root", "download")
	if _, err := a.Run(ctx, dir, "apt-get", append(args, missing...)...); err != nil {
		if a.updated {
			return nil, err
		}
		// A 404 after a security update means stale lists: refresh once and retry.
		if uerr := a.Update(ctx); uerr != nil {
			return nil, errors.Join(err, uerr)
		}
		if _, err := a.Run(ctx, dir, "apt-get", append(args, missing...)...); err != nil {
			return nil, err
		}
	}
	for _, p := range missing {
		f := findDeb(dir, p)
		if f == "" {
			return nil, fmt.Errorf("apt-get download %s left no %s_*.deb in %s", p, p, dir)
		}
		found[p] = f
	}
	return found, nil
}

// findDeb gives the newest-named .deb of package p in dir ("" if none).
func findDeb(dir, p string) string {
	m, _ := filepath.Glob(filepath.Join(dir, p+"_*.deb"))
	if len(m) == 0 {
		return ""
	}
	slices.Sort(m)
	return m[len(m)-1]
}

// Unpack extracts a .deb's files into dir with `dpkg-deb -x` (no maintainer scripts run).
func (a *Apt) Unpack(ctx context.Context, deb, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := a.Run(ctx, "", "dpkg-deb", "-x", deb, dir); err != nil {
		return fmt.Errorf("unpacking %s: %w", filepath.Base(deb), err)
	}
	return nil
}

// Tree is a folder of unpacked packages.
type Tree struct {
	// Root is the folder; Packages the packages unpacked into it, sorted, from Debs (file
	// names such as iptables_1.8.9-2_amd64.deb).
	Root     string
	Packages []string
	Debs     []string
	// Cached is set when Root already held these packages and nothing was fetched.
	Cached bool
}

// treeStamp is the file in a tree's root that names what it holds: the requested package
// names on its first line, then the .deb files unpacked.
const treeStamp = ".ready"

// UnpackTree gives root holding pkgs and every library package they need (LibraryClosure,
// less skip), downloaded into debs and unpacked with `dpkg-deb -x`. A root whose stamp
// names the same requested packages is kept as it is; otherwise it is rebuilt beside and
// swapped in whole, so a failed run leaves no half tree.
func (a *Apt) UnpackTree(ctx context.Context, debs, root string, pkgs []string, skip map[string]bool) (Tree, error) {
	names := slices.Clone(pkgs)
	slices.Sort(names)
	names = slices.Compact(names)
	stamp := strings.Join(names, " ") + "\n"
	if b, err := os.ReadFile(filepath.Join(root, treeStamp)); err == nil && strings.HasPrefix(string(b), stamp) {
		debs := strings.Fields(strings.TrimPrefix(string(b), stamp))
		return Tree{Root: root, Packages: debPackages(debs), Debs: debs, Cached: true}, nil
	}
	all, err := a.LibraryClosure(ctx, names, skip)
	if err != nil {
		return Tree{}, err
	}
	files, err := a.Download(ctx, debs, all...)
	if err != nil {
		return Tree{}, err
	}
	// A folder of its own, so that two runs at once (make -j) never unpack into one.
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return Tree{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), filepath.Base(root)+".tmp-")
	if err != nil {
		return Tree{}, err
	}
	defer os.RemoveAll(tmp) // nothing left to remove once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Tree{}, err
	}
	var unpacked []string
	for _, p := range all {
		if err := a.Unpack(ctx, files[p], tmp); err != nil {
			return Tree{}, err
		}
		unpacked = append(unpacked, filepath.Base(files[p]))
	}
	if err := os.WriteFile(filepath.Join(tmp, treeStamp), []byte(stamp+strings.Join(unpacked, "\n")+"\n"), 0o644); err != nil {
		return Tree{}, err
	}
	if err := os.RemoveAll(root); err != nil {
		return Tree{}, err
	}
	if err := os.Rename(tmp, root); err != nil {
		return Tree{}, err
	}
	return Tree{Root: root, Packages: all, Debs: unpacked}, nil
}

// debPackages gives the package names of .deb file names, sorted.
func debPackages(debs []string) []string {
	out := make([]string, 0, len(debs))
	for _, d := range debs {
		name, _, _ := strings.Cut(d, "_")
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
