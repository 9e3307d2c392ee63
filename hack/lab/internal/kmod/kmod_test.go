package kmod

import (
	_ "embed"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// testdata/modules.* are lines of Debian 6.1.0-56-cloud-amd64's index (busybox depmod).
var (
	//go:embed testdata/modules.dep
	modulesDep string
	//go:embed testdata/modules.builtin
	modulesBuiltin string
	//go:embed testdata/modules.alias
	modulesAlias string
)

func loadIndex(t *testing.T) *Index {
	t.Helper()
	idx, err := ParseDep(strings.NewReader(modulesDep))
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.ParseBuiltin(strings.NewReader(modulesBuiltin)); err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestName(t *testing.T) {
	tests := map[string]string{
		"kernel/net/netfilter/xt_SET.ko":         "xt_SET",
		"kernel/drivers/hid/hid-keytouch.ko":     "hid_keytouch",
		"kernel/net/netfilter/ipvs/ip_vs.ko.xz":  "ip_vs",
		"kernel/net/netfilter/ipvs/ip_vs.ko.zst": "ip_vs",
		"ip_vs_mh":                               "ip_vs_mh",
	}
	for in, want := range tests {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q; expected %q", in, got, want)
		}
	}
}

func TestClosure(t *testing.T) {
	idx := loadIndex(t)
	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{"scheduler pulls ip_vs and conntrack", []string{"ip_vs_mh"},
			[]string{"ip_vs_mh", "ip_vs", "nf_conntrack", "libcrc32c", "nf_defrag_ipv4", "nf_defrag_ipv6"}},
		{"builtin needs no file", []string{"crc32c_generic", "dummy"}, []string{"dummy"}},
		{"dash and underscore alike", []string{"ip-set-hash-ipport"}, []string{"ip_set_hash_ipport", "ip_set", "nfnetlink"}},
		{"shared dependencies once", []string{"xt_set", "ip_set", "ip_vs_rr", "ip_vs"},
			[]string{"xt_set", "x_tables", "ip_set", "nfnetlink", "ip_vs_rr", "ip_vs", "nf_conntrack", "libcrc32c", "nf_defrag_ipv4", "nf_defrag_ipv6"}},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths, err := idx.Closure(tt.names)
			if err != nil {
				t.Fatal(err)
			}
			got := Names(paths)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Fatalf("Closure(%v) = %v; expected %v", tt.names, got, want)
			}
			// The subset must render as a closed modules.dep.
			if _, err := idx.DepFor(paths); err != nil {
				t.Fatalf("DepFor: %v", err)
			}
		})
	}
}

func TestClosureMissing(t *testing.T) {
	idx := loadIndex(t)
	_, err := idx.Closure([]string{"ip_vs", "nf_tables", "no_such_module"})
	wanterr.Check(t, err, "nf_tables, no_such_module")
	broken, err := ParseDep(strings.NewReader("a.ko: b.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = broken.Closure([]string{"a"})
	wanterr.Check(t, err, "b.ko (needed by a.ko)")
}

func TestDepFor(t *testing.T) {
	idx := loadIndex(t)
	paths, err := idx.Closure([]string{"ip_set_hash_ipport"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := idx.DepFor(paths)
	if err != nil {
		t.Fatal(err)
	}
	want := "kernel/net/netfilter/ipset/ip_set.ko: kernel/net/netfilter/nfnetlink.ko\n" +
		"kernel/net/netfilter/ipset/ip_set_hash_ipport.ko: kernel/net/netfilter/ipset/ip_set.ko kernel/net/netfilter/nfnetlink.ko\n" +
		"kernel/net/netfilter/nfnetlink.ko:\n"
	if string(b) != want {
		t.Fatalf("DepFor =\n%s\nexpected\n%s", b, want)
	}
	if _, err := idx.DepFor([]string{"kernel/net/netfilter/ipset/ip_set.ko"}); err == nil {
		t.Fatal("DepFor of a subset missing nfnetlink succeeded; expected an error")
	}
}

func TestFilterByModule(t *testing.T) {
	got, err := FilterByModule(strings.NewReader(modulesAlias), []string{"kernel/net/netfilter/ipvs/ip_vs.ko", "kernel/drivers/net/dummy.ko", "kernel/net/netfilter/xt_set.ko"})
	if err != nil {
		t.Fatal(err)
	}
	want := "alias net-pf-16-proto-16-family-IPVS ip_vs\n" +
		"alias xt_SET xt_set\nalias ipt_set xt_set\nalias ip6t_set xt_set\nalias ipt_SET xt_set\nalias ip6t_SET xt_set\n" +
		"alias rtnl-link-dummy dummy\n" +
		"# Aliases extracted from modules.alias\n"
	if string(got) != want {
		t.Fatalf("FilterByModule =\n%s\nexpected\n%s", got, want)
	}
}

func TestFilterPaths(t *testing.T) {
	order := "kernel/a.ko\nkernel/b.ko\nkernel/c.ko\n"
	got, err := FilterPaths(strings.NewReader(order), []string{"kernel/c.ko", "kernel/a.ko"})
	if err != nil || string(got) != "kernel/a.ko\nkernel/c.ko\n" {
		t.Fatalf("FilterPaths = %q, %v", got, err)
	}
}

func TestParseDepErrors(t *testing.T) {
	for _, in := range []string{"no colon here\n", "a.ko: x\na.ko: y\n", ": a.ko\n", "a b.ko: c\n"} {
		if _, err := ParseDep(strings.NewReader(in)); err == nil {
			t.Errorf("ParseDep(%q) succeeded; expected an error", in)
		}
	}
	idx, err := ParseDep(strings.NewReader("# comment\n\nkernel/x.ko:\n"))
	if err != nil || idx.Len() != 1 || idx.Path("x") != "kernel/x.ko" {
		t.Fatalf("ParseDep with comment and blank line: %v, %+v", err, idx)
	}
}

func TestUnder(t *testing.T) {
	idx := loadIndex(t)
	got := idx.Under("kernel/net/netfilter/ipvs/")
	slices.Sort(got)
	want := []string{"ip_vs", "ip_vs_ftp", "ip_vs_mh", "ip_vs_rr"}
	if !slices.Equal(got, want) {
		t.Fatalf("Under = %v; expected %v", got, want)
	}
}

// FuzzParseDep: modules.dep comes from a tool, not from us; parsing must never panic and
// anything parsed must render back through Closure/DepFor.
func FuzzParseDep(f *testing.F) {
	f.Add(modulesDep, "ip_vs_mh")
	f.Add("a.ko: b.ko\nb.ko:\n", "a")
	f.Fuzz(func(t *testing.T, dep, name string) {
		idx, err := ParseDep(strings.NewReader(dep))
		if err != nil {
			return
		}
		paths, err := idx.Closure([]string{name})
		if err != nil {
			return
		}
		if _, err := idx.DepFor(paths); err != nil {
			t.Fatalf("Closure(%q) gave a subset DepFor rejects: %v", name, err)
		}
	})
}
