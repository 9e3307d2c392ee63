package debian

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// testdata/depends-*.txt are real `apt-cache depends` outputs from Debian bookworm.
var (
	//go:embed testdata/depends-tools.txt
	dependsTools []byte
	//go:embed testdata/depends-all-relations.txt
	dependsAllRelations []byte
	//go:embed testdata/depends-kernel-meta.txt
	dependsKernelMeta []byte
	//go:embed testdata/depends-recurse-tools.txt
	dependsRecurseTools []byte
)

func TestParseDepends(t *testing.T) {
	deps, err := ParseDepends(dependsTools)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(deps)); !slices.Equal(got, []string{"conntrack", "iproute2", "ipset", "iptables", "ipvsadm", "netbase"}) {
		t.Fatalf("packages = %v", got)
	}
	if len(deps["netbase"]) != 0 {
		t.Errorf("netbase deps = %+v; expected none", deps["netbase"])
	}
	ip := deps["iproute2"]
	wantHead := []Dep{
		{Kind: "Depends", Name: "debconf", OrNext: true},
		{Kind: "Depends", Name: "debconf-2.0", Virtual: true, Providers: []string{"cdebconf", "debconf"}},
		{Kind: "Depends", Name: "libbpf1"},
	}
	if !reflect.DeepEqual(ip[:3], wantHead) {
		t.Errorf("iproute2 first deps = %+v; expected %+v", ip[:3], wantHead)
	}
	if d := deps["ipvsadm"][0]; d.Name != "lsb-base" || d.Virtual || !slices.Equal(d.Providers, []string{"sysvinit-utils"}) {
		t.Errorf("ipvsadm first dep = %+v; expected lsb-base provided by sysvinit-utils", d)
	}

	all, err := ParseDepends(dependsAllRelations)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, d := range all["iproute2"] {
		kinds[d.Kind] = true
	}
	for _, k := range []string{"Depends", "Conflicts", "Recommends", "Suggests", "Replaces"} {
		if !kinds[k] {
			t.Errorf("iproute2 relations lack %s: %+v", k, all["iproute2"])
		}
	}
}

func TestParseDependsErrors(t *testing.T) {
	for _, in := range []string{
		"  Depends: libc6\n",      // before any package
		"pkg\n    provider\n",     // provider without dependency
		"pkg\n  Depends libc6\n",  // no colon
		"pkg\n  Depends:\n",       // no name
		"pkg\n  Pre Depends: x\n", // space in kind
		"pkg\n  |: libc6\n",       // empty kind
	} {
		if d, err := ParseDepends([]byte(in)); err == nil {
			t.Errorf("ParseDepends(%q) = %+v; expected an error", in, d)
		}
	}
}

func TestPickDepends(t *testing.T) {
	deps, err := ParseDepends(dependsKernelMeta)
	if err != nil {
		t.Fatal(err)
	}
	if got := PickDepends(deps["linux-image-cloud-amd64"], "linux-image-"); got != "linux-image-6.1.0-56-cloud-amd64" {
		t.Fatalf("PickDepends = %q", got)
	}
	tests := []struct {
		deps []Dep
		want string
	}{
		{nil, ""},
		{[]Dep{{Kind: "Recommends", Name: "linux-image-x"}}, ""},
		{[]Dep{{Kind: "Depends", Name: "linux-image-x", Virtual: true}, {Kind: "PreDepends", Name: "linux-image-y"}}, "linux-image-y"},
	}
	for _, tt := range tests {
		if got := PickDepends(tt.deps, "linux-image-"); got != tt.want {
			t.Errorf("PickDepends(%+v) = %q; expected %q", tt.deps, got, tt.want)
		}
	}
}

func TestLibraryDepends(t *testing.T) {
	deps, err := ParseDepends(dependsTools)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]string{
		"iproute2":  {"libbpf1", "libbsd0", "libc6", "libcap2", "libdb5.3", "libelf1", "libmnl0", "libselinux1", "libtirpc3", "libxtables12", "libcap2-bin"},
		"ipvsadm":   {"libc6", "libnl-3-200", "libnl-genl-3-200", "libpopt0"},
		"conntrack": {"libc6", "libmnl0", "libnetfilter-conntrack3"},
		"netbase":   nil,
	}
	for pkg, want := range tests {
		if got := LibraryDepends(deps[pkg]); !slices.Equal(got, want) {
			t.Errorf("LibraryDepends(%s) = %v; expected %v", pkg, got, want)
		}
	}
	alt := []Dep{{Kind: "Depends", Name: "libfoo1", OrNext: true}, {Kind: "Depends", Name: "libbar1"},
		{Kind: "Depends", Name: "libv", Virtual: true, Providers: []string{"libreal1"}}, {Kind: "Depends", Name: "nolib", Virtual: true}}
	if got := LibraryDepends(alt); !slices.Equal(got, []string{"libfoo1", "libreal1"}) {
		t.Errorf("LibraryDepends(alternatives) = %v", got)
	}
}

// fakeApt answers apt-cache depends from a table of per-package outputs and records calls.
type fakeApt struct {
	depends    map[string]string // package -> its block of `apt-cache depends` output
	afterStale map[string]string // blocks that appear only after `apt-get update`
	updated    bool
	calls      []string
	dlFail     int    // fail this many downloads before succeeding
	badDeb     string // the package whose .deb dpkg-deb cannot unpack
}

func (f *fakeApt) run(_ context.Context, dir, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, name+" "+strings.Join(args, " "))
	switch {
	case name == "apt-get" && slices.Contains(args, "update"):
		f.updated = true
		return nil, nil
	case name == "apt-cache":
		var b strings.Builder
		var todo []string
		for _, a := range args {
			if !strings.HasPrefix(a, "-") && a != "depends" {
				todo = append(todo, a)
			}
		}
		done := map[string]bool{}
		for len(todo) > 0 {
			a := todo[0]
			todo = todo[1:]
			if done[a] {
				continue
			}
			done[a] = true
			block, ok := f.depends[a]
			if f.updated && f.afterStale[a] != "" {
				block, ok = f.afterStale[a], true
			}
			if !ok {
				continue
			}
			b.WriteString(a + "\n" + block)
			if slices.Contains(args, "--recurse") { // apt then prints every package reached
				deps, err := ParseDepends([]byte(a + "\n" + block))
				if err != nil {
					return nil, err
				}
				for _, d := range deps[a] {
					todo = append(todo, d.Name)
				}
			}
		}
		return []byte(b.String()), nil
	case name == "apt-get" && slices.Contains(args, "download"):
		if f.dlFail > 0 {
			f.dlFail--
			return nil, errors.New("E: Failed to fetch 404 Not Found")
		}
		for _, a := range args[slices.Index(args, "download")+1:] {
			if err := os.WriteFile(filepath.Join(dir, a+"_1.0-1_amd64.deb"), nil, 0o644); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case name == "dpkg-deb" && len(args) == 3 && args[0] == "-x":
		// Each package "ships" one file named after it.
		pkg, _, _ := strings.Cut(filepath.Base(args[1]), "_")
		if pkg == f.badDeb {
			return nil, errors.New("dpkg-deb: error: archive has premature member")
		}
		if err := os.MkdirAll(filepath.Join(args[2], "usr/share/doc"), 0o755); err != nil {
			return nil, err
		}
		return nil, os.WriteFile(filepath.Join(args[2], "usr/share/doc", pkg), []byte(pkg), 0o644)
	}
	return nil, fmt.Errorf("unexpected command %s %v", name, args)
}

func TestLibraryClosure(t *testing.T) {
	f := &fakeApt{depends: map[string]string{
		"ipset":        "  Depends: libc6\n  Depends: libipset13\n",
		"iptables":     "  Depends: libxtables12\n  Depends: netbase\n  Depends: libc6\n  Depends: libnftnl11\n",
		"libipset13":   "  Depends: libc6\n  Depends: libmnl0\n",
		"libnftnl11":   "  Depends: libc6\n  Depends: libmnl0\n",
		"libxtables12": "  Depends: libc6\n",
		"libmnl0":      "  Depends: libc6\n",
	}}
	a := &Apt{Run: f.run}
	got, err := a.LibraryClosure(context.Background(), []string{"iptables", "ipset"}, map[string]bool{"libc6": true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ipset", "iptables", "libipset13", "libmnl0", "libnftnl11", "libxtables12"}
	if !slices.Equal(got, want) {
		t.Fatalf("LibraryClosure = %v; expected %v", got, want)
	}
	if _, err := a.LibraryClosure(context.Background(), []string{"nosuch"}, nil); err == nil {
		t.Fatal("LibraryClosure of an unknown package succeeded; expected an error")
	}
}

// testdata/depends-recurse-tools.txt is apt's recursive answer for the default tool list.
func TestLibraryClosureRealGraph(t *testing.T) {
	deps, err := ParseDepends(dependsRecurseTools)
	if err != nil {
		t.Fatal(err)
	}
	tools := []string{"conntrack", "dash", "iproute2", "ipset", "iptables", "ipvsadm", "netbase"}
	got, err := libraryClosure(deps, tools, map[string]bool{"libc6": true, "libgcc-s1": true})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"libnl-3-200", "libnl-genl-3-200", "libpopt0", "libipset13", "libmnl0", "libnftnl11",
		"libxtables12", "libip4tc2", "libnetfilter-conntrack3", "libnfnetlink0", "libbpf1", "libelf1", "libtirpc3", "libkrb5-3"} {
		if !slices.Contains(got, want) {
			t.Errorf("closure lacks %s: %v", want, got)
		}
	}
	for _, not := range []string{"libc6", "libgcc-s1", "debconf", "zlib1g", "sysvinit-utils"} {
		if slices.Contains(got, not) {
			t.Errorf("closure holds %s, which is skipped or not a library: %v", not, got)
		}
	}
}

func TestResolveMetaRefreshesStaleLists(t *testing.T) {
	f := &fakeApt{
		depends:    map[string]string{"linux-image-cloud-amd64": ""},
		afterStale: map[string]string{"linux-image-cloud-amd64": "  Depends: linux-image-6.1.0-99-cloud-amd64\n"},
	}
	a := &Apt{Run: f.run}
	got, err := a.ResolveMeta(context.Background(), "linux-image-cloud-amd64", "linux-image-")
	if err != nil || got != "linux-image-6.1.0-99-cloud-amd64" {
		t.Fatalf("ResolveMeta = %q, %v", got, err)
	}
	if !f.updated {
		t.Fatal("ResolveMeta did not run apt-get update for an empty answer")
	}
	empty := &Apt{Run: (&fakeApt{depends: map[string]string{}}).run}
	_, err = empty.ResolveMeta(context.Background(), "linux-image-cloud-amd64", "linux-image-")
	wanterr.Check(t, err, "names no linux-image-* package")
}

func TestDownload(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ipset_7.17-1_amd64.deb"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fakeApt{dlFail: 1}
	a := &Apt{Run: f.run}
	got, err := a.Download(context.Background(), dir, "ipset", "ipvsadm")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ipset": filepath.Join(dir, "ipset_7.17-1_amd64.deb"), "ipvsadm": filepath.Join(dir, "ipvsadm_1.0-1_amd64.deb")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Download = %v; expected %v", got, want)
	}
	// ipset was cached; only ipvsadm was asked for, once failing (stale lists), once after update.
	var downloads []string
	for _, c := range f.calls {
		if strings.Contains(c, " download ") {
			downloads = append(downloads, c[strings.Index(c, " download ")+10:])
		}
	}
	if !slices.Equal(downloads, []string{"ipvsadm", "ipvsadm"}) || !f.updated {
		t.Fatalf("download calls = %v, updated = %v; expected ipvsadm twice around an update", downloads, f.updated)
	}
}

func FuzzParseDepends(f *testing.F) {
	f.Add(dependsTools)
	f.Add(dependsKernelMeta)
	f.Add(dependsAllRelations)
	f.Fuzz(func(t *testing.T, b []byte) {
		deps, err := ParseDepends(b)
		if err != nil {
			return
		}
		for pkg, list := range deps {
			if pkg == "" {
				t.Fatalf("empty package name from %q", b)
			}
			for _, d := range list {
				if d.Name == "" || d.Kind == "" {
					t.Fatalf("dependency %+v of %s lacks a name or kind", d, pkg)
				}
			}
			LibraryDepends(list)
		}
	})
}

func TestParseDependsRepeatedPackage(t *testing.T) {
	deps, err := ParseDepends([]byte("netbase\nlibc6\n  Depends: libgcc-s1\nnetbase\n"))
	if err != nil || len(deps["netbase"]) != 0 || len(deps["libc6"]) != 1 {
		t.Fatalf("ParseDepends = %+v, %v", deps, err)
	}
	deps, err = ParseDepends(dependsRecurseTools)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(deps["iptables"]); n != 9 {
		t.Fatalf("iptables has %d dependencies in the recursive output; expected 9 (listed once)", n)
	}
}

func TestUnpackTree(t *testing.T) {
	f := &fakeApt{depends: map[string]string{
		"conntrack":    "  Depends: libc6\n  Depends: libmnl0\n",
		"iptables":     "  Depends: libxtables12\n  Depends: libc6\n",
		"libxtables12": "  Depends: libc6\n",
		"libmnl0":      "  Depends: libc6\n",
		"libc6":        "",
	}}
	a := &Apt{Run: f.run}
	dir := t.TempDir()
	debs, root := filepath.Join(dir, "debs"), filepath.Join(dir, "root")
	want := []string{"conntrack", "iptables", "libc6", "libmnl0", "libxtables12"}
	for i, cached := range []bool{false, true} {
		tree, err := a.UnpackTree(context.Background(), debs, root, []string{"iptables", "conntrack", "iptables"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		debs := []string{"conntrack_1.0-1_amd64.deb", "iptables_1.0-1_amd64.deb", "libc6_1.0-1_amd64.deb", "libmnl0_1.0-1_amd64.deb", "libxtables12_1.0-1_amd64.deb"}
		if tree.Root != root || tree.Cached != cached || !slices.Equal(tree.Packages, want) || !slices.Equal(tree.Debs, debs) {
			t.Errorf("call %d: UnpackTree = %+v; expected root %s, cached %v, packages %v", i, tree, root, cached, want)
		}
	}
	for _, p := range want {
		if b, err := os.ReadFile(filepath.Join(root, "usr/share/doc", p)); err != nil || string(b) != p {
			t.Errorf("%s not unpacked: %q, %v", p, b, err)
		}
	}
	if left, _ := filepath.Glob(root + ".tmp-*"); len(left) > 0 {
		t.Errorf("temporary trees left: %v", left)
	}
	unpacks := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, "dpkg-deb ") {
			unpacks++
		}
	}
	if unpacks != len(want) {
		t.Errorf("%d unpacks; expected %d, the second call served from the stamp", unpacks, len(want))
	}
	// Another package list rebuilds the tree; glibc skipped stays out.
	tree, err := a.UnpackTree(context.Background(), debs, root, []string{"iptables"}, map[string]bool{"libc6": true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"iptables", "libxtables12"}; tree.Cached || !slices.Equal(tree.Packages, want) {
		t.Errorf("UnpackTree(iptables) = %+v; expected a fresh tree of %v", tree, want)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/share/doc/conntrack")); !os.IsNotExist(err) {
		t.Errorf("the rebuilt tree still holds conntrack: %v", err)
	}
	// A package that does not unpack leaves the tree as it was and nothing beside it.
	f.badDeb = "libmnl0"
	if _, err := a.UnpackTree(context.Background(), debs, root, []string{"conntrack"}, nil); err == nil || !strings.Contains(err.Error(), "libmnl0") {
		t.Errorf("UnpackTree with a broken libmnl0: %v; expected an error naming it", err)
	}
	if tree, err := a.UnpackTree(context.Background(), debs, root, []string{"iptables"}, map[string]bool{"libc6": true}); err != nil || !tree.Cached {
		t.Errorf("the iptables tree after a failed rebuild: %+v, %v; expected it kept", tree, err)
	}
	if left, _ := filepath.Glob(root + ".tmp-*"); len(left) > 0 {
		t.Errorf("a failed run left %v", left)
	}
}
