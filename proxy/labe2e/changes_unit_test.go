package labe2e

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipset"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// The recorder logs exactly the changing calls and passes every call on.
func TestRecordChanges(t *testing.T) {
	inner := kernel.Fake()
	k, log := recordChanges(inner)

	vs := dataplane.VirtualServer{Protocol: dataplane.TCP, Family: 4, Address: netip.MustParseAddr("10.96.0.1"), Port: 443, Scheduler: "rr"}
	rs := dataplane.RealServer{Address: netip.MustParseAddr("10.244.1.5"), Port: 6443, Forward: dataplane.Masq, Weight: 1}
	set := dataplane.IPSet{Name: "KUBE-CLUSTER-IP", Type: dataplane.SetHashIPPort, Family: "inet", HashSize: 1024, MaxElem: 65536}
	steps := []func() error{
		func() error { return k.IPVS.AddService(vs) },
		func() error { return k.IPVS.AddRealServer(vs.Key(), rs) },
		func() error { _, err := k.IPVS.Services(); return err },
		func() error { rs.Weight = 0; return k.IPVS.UpdateRealServer(vs.Key(), rs) },
		func() error { _, err := k.Links.EnsureDummy("kube-ipvs0"); return err },
		func() error { _, err := k.Links.EnsureDummy("kube-ipvs0"); return err }, // exists: no change
		func() error { return k.Links.AddAddress("kube-ipvs0", netip.MustParsePrefix("10.96.0.1/32")) },
		func() error { _, err := k.Links.Links(); return err },
		func() error { return k.IPSets.Create(set) },
		func() error {
			return k.IPSets.Add(set.Name, dataplane.Member{IP: netip.MustParseAddr("10.96.0.1"), Proto: "tcp", Port: 443})
		},
		func() error { _, err := k.IPSets.List(); return err },
		func() error {
			return k.IPTables.Restore(iptables.IPv4, []byte("*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n"))
		},
		func() error { _, err := k.IPTables.Save(iptables.IPv4, "nat"); return err },
		func() error { return k.Sysctl.Set("net/ipv4/ip_forward", "1") },
		func() error { _, err := k.Sysctl.Get("net/ipv4/ip_forward"); return err },
		func() error { return k.IPVS.DeleteRealServer(vs.Key(), rs.Key()) },
		func() error { return k.IPVS.DeleteService(vs.Key()) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []string{
		"ipvs AddService TCP 10.96.0.1:443",
		"ipvs AddRealServer TCP 10.96.0.1:443 -> 10.244.1.5:6443 weight 1",
		"ipvs UpdateRealServer TCP 10.96.0.1:443 -> 10.244.1.5:6443 weight 0",
		"links EnsureDummy kube-ipvs0 (created)",
		"links AddAddress kube-ipvs0 10.96.0.1/32",
		"ipset Create KUBE-CLUSTER-IP",
		"ipset Add KUBE-CLUSTER-IP 10.96.0.1,tcp:443",
		"iptables Restore IPv4 (3 lines)",
		"sysctl Set net/ipv4/ip_forward=1",
		"ipvs DeleteRealServer TCP 10.96.0.1:443 -> 10.244.1.5:6443",
		"ipvs DeleteService TCP 10.96.0.1:443",
	}
	if got := log.Calls(); !slices.Equal(got, want) {
		t.Errorf("recorded calls:\n%s\nexpected:\n%q", log, want)
	}

	// The calls reached the wrapped kernel.
	s, err := kernel.Read(inner, kernel.ReadOptions{Links: true, IPSets: true})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := s.Link("kube-ipvs0"); !ok || !l.HasAddr(netip.MustParseAddr("10.96.0.1")) {
		t.Errorf("the wrapped kernel lacks kube-ipvs0 with 10.96.0.1: %+v", s.Links)
	}
	if set, ok := s.IPSet("KUBE-CLUSTER-IP"); !ok || !set.HasMember("10.96.0.1,tcp:443") {
		t.Errorf("the wrapped kernel lacks the set member: %+v", s.IPSets)
	}
	if got, _ := inner.Sysctl.Get("net/ipv4/ip_forward"); got != "1" {
		t.Errorf("the wrapped kernel's ip_forward = %q, expected 1", got)
	}
}

// Every changing method of a kernel interface must be recorded: the recorders embed the
// interfaces, so a method added later would otherwise pass through unrecorded and the
// restart test ("no changing calls") would miss it.
func TestRecordersCoverChangingMethods(t *testing.T) {
	declared := recorderMethods(t, "changes_test.go")
	tests := []struct {
		recorder string
		iface    reflect.Type
		reads    []string
	}{
		{"recordingIPVS", reflect.TypeFor[ipvs.Interface](), []string{"Services", "RealServers", "Timeouts", "Close"}},
		{"recordingLinks", reflect.TypeFor[netif.Interface](), []string{"Links"}},
		{"recordingIPSets", reflect.TypeFor[ipset.Interface](), []string{"List"}},
		{"recordingIPTables", reflect.TypeFor[iptables.Interface](), []string{"Save"}},
		{"recordingSysctl", reflect.TypeFor[sysctl.Interface](), []string{"Get"}},
	}
	for _, tc := range tests {
		for i := range tc.iface.NumMethod() {
			name := tc.iface.Method(i).Name
			if !slices.Contains(tc.reads, name) && !declared[tc.recorder][name] {
				t.Errorf("%s.%s is neither a read nor recorded by %s: record it (or list it as a read)", tc.iface, name, tc.recorder)
			}
		}
	}
}

// recorderMethods maps each receiver type declared in file to its method names.
func recorderMethods(t *testing.T, file string) map[string]map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
			continue
		}
		typ := fn.Recv.List[0].Type
		if star, ok := typ.(*ast.StarExpr); ok {
			typ = star.X
		}
		if id, ok := typ.(*ast.Ident); ok {
			if out[id.Name] == nil {
				out[id.Name] = map[string]bool{}
			}
			out[id.Name][fn.Name.Name] = true
		}
	}
	return out
}
