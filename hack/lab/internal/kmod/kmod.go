// Package kmod reads a kernel's module index (modules.dep, modules.alias, modules.builtin as
// depmod writes them) and picks the subset of modules an initramfs needs: named modules plus
// everything they depend on, and the index files rewritten for that subset so that modprobe and
// the kernel's on-demand loading find exactly what was packed.
package kmod

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// Name gives a module's name from its path in modules.dep ("kernel/net/foo/xt_SET.ko" ->
// "xt_SET"). Dashes become underscores, as the kernel and modprobe treat them alike.
func Name(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if before, ok := strings.CutSuffix(base, ext); ok {
			base = before
			break
		}
	}
	return strings.ReplaceAll(base, "-", "_")
}

// Index is a parsed modules.dep: for each module path (relative to /lib/modules/<version>),
// the paths it depends on, in depmod's order.
type Index struct {
	order  []string            // module paths as they appear in modules.dep
	deps   map[string][]string // path -> dependency paths
	byName map[string]string   // module name -> path
	// Builtin holds the names of modules compiled into the kernel (modules.builtin).
	Builtin map[string]bool
}

// ParseDep reads modules.dep ("path: dep dep ..." per line).
func ParseDep(r io.Reader) (*Index, error) {
	idx := &Index{deps: map[string][]string{}, byName: map[string]string{}, Builtin: map[string]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(text, ":")
		mod = strings.TrimSpace(mod)
		if !ok || mod == "" || strings.ContainsAny(mod, " \t") {
			return nil, fmt.Errorf("modules.dep line %d: %q: expected \"path.ko: dependency.ko ...\"", line, text)
		}
		if _, dup := idx.deps[mod]; dup {
			return nil, fmt.Errorf("modules.dep line %d: module %s listed twice", line, mod)
		}
		idx.order = append(idx.order, mod)
		idx.deps[mod] = strings.Fields(rest)
		idx.byName[Name(mod)] = mod
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading modules.dep: %w", err)
	}
	return idx, nil
}

// ParseBuiltin records the modules of modules.builtin (one path per line) in idx.Builtin.
func (idx *Index) ParseBuiltin(r io.Reader) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if p := strings.TrimSpace(sc.Text()); p != "" {
			idx.Builtin[Name(p)] = true
		}
	}
	return sc.Err()
}

// Len is the number of loadable modules in the index.
func (idx *Index) Len() int { return len(idx.order) }

// Path gives the path of the module called name ("" when there is none).
func (idx *Index) Path(name string) string { return idx.byName[strings.ReplaceAll(name, "-", "_")] }

// Under lists the modules whose path starts with one of the prefixes ("kernel/net/netfilter/").
func (idx *Index) Under(prefixes ...string) []string {
	var names []string
	for _, p := range idx.order {
		for _, pre := range prefixes {
			if strings.HasPrefix(p, pre) {
				names = append(names, Name(p))
				break
			}
		}
	}
	return names
}

// Closure returns the paths of the named modules and of everything they depend on, in
// modules.dep order. A name that is built into the kernel is satisfied without a path; a name
// that is neither loadable nor built in is an error, because a missing module (ip_vs needs
// libcrc32c, for one) makes the lab fail in confusing ways later.
func (idx *Index) Closure(names []string) ([]string, error) {
	want := map[string]bool{}
	var missing []string
	var visit func(p string)
	visit = func(p string) {
		if want[p] {
			return
		}
		want[p] = true
		for _, d := range idx.deps[p] {
			if _, known := idx.deps[d]; !known {
				missing = append(missing, d+" (needed by "+p+")")
				continue
			}
			visit(d)
		}
	}
	for _, n := range names {
		p := idx.Path(n)
		switch {
		case p != "":
			visit(p)
		case idx.Builtin[strings.ReplaceAll(n, "-", "_")]:
		default:
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("kernel modules not found in modules.dep nor modules.builtin: %s; "+
			"expected a kernel built with them (Debian's cloud kernel has them as modules)", strings.Join(missing, ", "))
	}
	var out []string
	for _, p := range idx.order {
		if want[p] {
			out = append(out, p)
		}
	}
	return out, nil
}

// DepFor renders modules.dep for the given subset of paths (a Closure result): the lines of
// the full index for those modules, so modprobe resolves dependencies inside the subset.
func (idx *Index) DepFor(paths []string) ([]byte, error) {
	var b strings.Builder
	in := map[string]bool{}
	for _, p := range paths {
		in[p] = true
	}
	for _, p := range idx.order {
		if !in[p] {
			continue
		}
		for _, d := range idx.deps[p] {
			if !in[d] {
				return nil, fmt.Errorf("module %s depends on %s, which is not in the subset; expected a closed set (use Closure)", p, d)
			}
		}
		b.WriteString(p)
		b.WriteByte(':')
		for _, d := range idx.deps[p] {
			b.WriteByte(' ')
			b.WriteString(d)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// FilterByModule keeps the lines of an index file whose last field names a module of the
// subset. It suits modules.alias ("alias PATTERN module") and modules.symbols
// ("alias symbol:NAME module"); comments are kept.
func FilterByModule(r io.Reader, paths []string) ([]byte, error) {
	names := map[string]bool{}
	for _, p := range paths {
		names[Name(p)] = true
	}
	var b strings.Builder
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.HasPrefix(f[0], "#") || names[strings.ReplaceAll(f[len(f)-1], "-", "_")] {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// FilterPaths keeps the lines of a path list (modules.order) that are in the subset.
func FilterPaths(r io.Reader, paths []string) ([]byte, error) {
	in := map[string]bool{}
	for _, p := range paths {
		in[p] = true
	}
	var b strings.Builder
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if p := strings.TrimSpace(sc.Text()); in[p] {
			b.WriteString(p)
			b.WriteByte('\n')
		}
	}
	return []byte(b.String()), sc.Err()
}

// Names maps paths to module names, sorted.
func Names(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		out = append(out, Name(p))
	}
	slices.Sort(out)
	return out
}
