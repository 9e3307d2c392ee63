package elflibs

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestResolve(t *testing.T) {
	// A miniature of the tools tree: which ELF file needs which sonames.
	elfs := map[string]Info{
		"/t/usr/sbin/ipset":          {Needed: []string{"libipset.so.13", "libc.so.6"}, Interp: "/lib64/ld-linux-x86-64.so.2"},
		"/t/sbin/ipvsadm":            {Needed: []string{"libnl-genl-3.so.200", "libnl-3.so.200", "libpopt.so.0", "libc.so.6"}, Interp: "/lib64/ld-linux-x86-64.so.2"},
		"/t/lib/libipset.so.13.1.0":  {Needed: []string{"libmnl.so.0", "libc.so.6"}},
		"/t/lib/libnl-genl-3.so.200": {Needed: []string{"libnl-3.so.200", "libc.so.6"}},
		"/t/lib/libnl-3.so.200":      {Needed: []string{"libc.so.6"}},
		"/t/lib/libpopt.so.0":        {Needed: []string{"libc.so.6"}},
		"/t/lib/libmnl.so.0":         {Needed: []string{"libc.so.6"}},
		"/host/libc.so.6":            {Needed: []string{"ld-linux-x86-64.so.2"}},
		"/host/ld-linux-x86-64.so.2": {},
	}
	files := map[string]string{
		"libipset.so.13": "/t/lib/libipset.so.13.1.0", "libnl-genl-3.so.200": "/t/lib/libnl-genl-3.so.200",
		"libnl-3.so.200": "/t/lib/libnl-3.so.200", "libpopt.so.0": "/t/lib/libpopt.so.0", "libmnl.so.0": "/t/lib/libmnl.so.0",
		"libc.so.6": "/host/libc.so.6", "ld-linux-x86-64.so.2": "/host/ld-linux-x86-64.so.2",
	}
	reads := 0
	read := func(p string) (Info, bool, error) {
		reads++
		info, ok := elfs[p]
		return info, ok, nil
	}
	find := func(so string) (string, bool) { p, ok := files[so]; return p, ok }

	set, err := Resolve([]string{"/t/usr/sbin/ipset", "/t/sbin/ipvsadm", "/t/usr/sbin/script-not-elf"}, read, find)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(set.Libs, files) {
		t.Errorf("Libs = %v; expected %v", set.Libs, files)
	}
	if !reflect.DeepEqual(set.Interps, []string{"/lib64/ld-linux-x86-64.so.2"}) {
		t.Errorf("Interps = %v", set.Interps)
	}
	if reads != 10 { // 3 roots + 7 libraries, each once
		t.Errorf("read %d files; expected each of 10 once", reads)
	}

	delete(files, "libpopt.so.0")
	_, err = Resolve([]string{"/t/sbin/ipvsadm"}, read, find)
	wanterr.Check(t, err, "libpopt.so.0 (needed by ipvsadm)")
}

func TestRead(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := Read(exe); err != nil || !ok {
		t.Fatalf("Read(test binary) = ok %v, %v; expected an ELF file", ok, err)
	}
	script := filepath.Join(t.TempDir(), "iptables-apply")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho not elf\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := Read(script); err != nil || ok {
		t.Fatalf("Read(script) = ok %v, %v; expected not ELF, no error", ok, err)
	}
	if _, _, err := Read(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Read(missing file) succeeded")
	}
}

func TestFinder(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(first, "libmnl.so.0.2.0"), []byte("x"), 0o644))
	must(os.Symlink("libmnl.so.0.2.0", filepath.Join(first, "libmnl.so.0")))
	must(os.WriteFile(filepath.Join(second, "libmnl.so.0"), []byte("y"), 0o644))
	must(os.WriteFile(filepath.Join(second, "libc.so.6"), []byte("z"), 0o644))
	must(os.Symlink("nowhere", filepath.Join(first, "libdangling.so.1")))
	find := Finder([]string{first, second})
	tests := []struct {
		so, want string
		ok       bool
	}{
		{"libmnl.so.0", filepath.Join(first, "libmnl.so.0.2.0"), true}, // first folder wins, link resolved
		{"libc.so.6", filepath.Join(second, "libc.so.6"), true},
		{"libdangling.so.1", "", false},
		{"libnone.so", "", false},
	}
	for _, tt := range tests {
		if got, ok := find(tt.so); got != tt.want || ok != tt.ok {
			t.Errorf("find(%s) = %q, %v; expected %q, %v", tt.so, got, ok, tt.want, tt.ok)
		}
	}
}
