// Package elflibs finds what dynamically linked programs need to run in a root of their
// own (the kernel lab's initramfs, a container image): the shared libraries they name,
// recursively, and their program interpreter. The programs and libraries come from unpacked
// Debian packages of the same release, so sonames are enough to place them.
package elflibs

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Info is what a root needs to know about one ELF file: the shared libraries it names
// (DT_NEEDED) and its program interpreter ("" for a static binary or a library).
type Info struct {
	Needed []string
	Interp string
}

// Read reads the dynamic dependencies of an ELF file. ok is false when the file is not ELF
// (a shell script such as iptables-apply), which the caller may copy as it is.
func Read(path string) (info Info, ok bool, err error) {
	file, err := os.Open(path)
	if err != nil {
		return Info{}, false, err
	}
	defer file.Close()
	magic := make([]byte, 4)
	if n, _ := io.ReadFull(file, magic); n < 4 || string(magic) != elf.ELFMAG {
		return Info{}, false, nil
	}
	f, err := elf.NewFile(file)
	if err != nil {
		return Info{}, false, fmt.Errorf("%s: starts like ELF but does not parse: %w", path, err)
	}
	if f.Machine != elf.EM_X86_64 {
		return Info{}, false, fmt.Errorf("%s: ELF for %s; expected x86-64 (the lab boots an amd64 kernel, the images are amd64)", path, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return Info{}, false, fmt.Errorf("%s: reading PT_INTERP: %w", path, err)
			}
			info.Interp = strings.TrimRight(string(b), "\x00")
		}
	}
	needed, err := f.ImportedLibraries()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return Info{}, false, fmt.Errorf("%s: reading DT_NEEDED: %w", path, err)
	}
	info.Needed = needed
	return info, true, nil
}

// Set is the closure of shared libraries a set of ELF files needs.
type Set struct {
	// Libs maps each soname to the host file that provides it.
	Libs map[string]string
	// Interps are the program interpreters named (normally only /lib64/ld-linux-x86-64.so.2).
	Interps []string
}

// Resolve walks DT_NEEDED from roots: every soname is looked up with find (the unpacked
// packages first, then the host's glibc), and the library found is walked in turn. A soname
// that find cannot place is an error that names it and who needs it.
func Resolve(roots []string, read func(string) (Info, bool, error), find func(soname string) (string, bool)) (Set, error) {
	set := Set{Libs: map[string]string{}}
	type item struct{ path, by string }
	todo := make([]item, 0, len(roots))
	for _, r := range roots {
		todo = append(todo, item{r, ""})
	}
	walked := map[string]bool{}
	var missing []string
	for len(todo) > 0 {
		it := todo[0]
		todo = todo[1:]
		if walked[it.path] {
			continue
		}
		walked[it.path] = true
		info, ok, err := read(it.path)
		if err != nil {
			return Set{}, err
		}
		if !ok {
			continue
		}
		if info.Interp != "" && !slices.Contains(set.Interps, info.Interp) {
			set.Interps = append(set.Interps, info.Interp)
		}
		for _, so := range info.Needed {
			if _, done := set.Libs[so]; done {
				continue
			}
			p, ok := find(so)
			if !ok {
				missing = append(missing, fmt.Sprintf("%s (needed by %s)", so, filepath.Base(it.path)))
				continue
			}
			set.Libs[so] = p
			todo = append(todo, item{p, it.path})
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return Set{}, fmt.Errorf("shared libraries not found in the downloaded packages nor on the host: %s; "+
			"add the Debian package that ships them to the tool list (the lab's, or the image's)", strings.Join(slices.Compact(missing), ", "))
	}
	slices.Sort(set.Interps)
	return set, nil
}

// Finder looks a soname up in dirs, in order, and gives the real file (symlinks resolved).
func Finder(dirs []string) func(string) (string, bool) {
	return func(so string) (string, bool) {
		for _, d := range dirs {
			p := filepath.Join(d, so)
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				continue
			}
			if st, err := os.Stat(real); err == nil && st.Mode().IsRegular() {
				return real, true
			}
		}
		return "", false
	}
}
