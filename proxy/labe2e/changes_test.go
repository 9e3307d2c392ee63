package labe2e

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipset"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// changeLog records the calls through a Kernel that change it, one line per call:
// "ipvs AddService TCP 10.96.0.1:443". Reads are not recorded. It is safe for concurrent use.
type changeLog struct {
	mu    sync.Mutex
	calls []string
}

func (c *changeLog) add(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprintf(format, args...))
}

// Calls returns the recorded calls in order.
func (c *changeLog) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// Since returns the calls recorded after the first n.
func (c *changeLog) Since(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > len(c.calls) {
		return nil
	}
	return append([]string(nil), c.calls[n:]...)
}

// String lists the calls one per line, or says there were none.
func (c *changeLog) String() string {
	calls := c.Calls()
	if len(calls) == 0 {
		return "(no changing calls)"
	}
	return strings.Join(calls, "\n")
}

// recordChanges wraps k so that every changing call is recorded, then passed on; reads
// pass through unrecorded, so a proxier over the wrapper behaves as over k.
func recordChanges(k *kernel.Kernel) (*kernel.Kernel, *changeLog) {
	log := &changeLog{}
	return &kernel.Kernel{
		IPVS:     &recordingIPVS{Interface: k.IPVS, log: log},
		Links:    &recordingLinks{Interface: k.Links, log: log},
		IPSets:   &recordingIPSets{Interface: k.IPSets, log: log},
		IPTables: &recordingIPTables{Interface: k.IPTables, log: log},
		Sysctl:   &recordingSysctl{Interface: k.Sysctl, log: log},
		// Module parameters (the conntrack hash size) record as sysctls do.
		ModuleParams: &recordingSysctl{Interface: k.ModuleParams, log: log},
	}, log
}

type recordingIPVS struct {
	ipvs.Interface
	log *changeLog
}

func (r *recordingIPVS) AddService(vs dataplane.VirtualServer) error {
	r.log.add("ipvs AddService %s", vs.Key())
	return r.Interface.AddService(vs)
}

// AddServices records each object of the batch as AddService/AddRealServer would, so a
// restart that re-adds through the batch shows up the same way.
func (r *recordingIPVS) AddServices(vss []dataplane.VirtualServer) error {
	for _, vs := range vss {
		r.log.add("ipvs AddService %s", vs.Key())
		for _, rs := range vs.RealServers {
			r.log.add("ipvs AddRealServer %s -> %s weight %d", vs.Key(), rs.Key(), rs.Weight)
		}
	}
	return r.Interface.AddServices(vss)
}

func (r *recordingIPVS) UpdateService(vs dataplane.VirtualServer) error {
	r.log.add("ipvs UpdateService %s", vs.Key())
	return r.Interface.UpdateService(vs)
}

func (r *recordingIPVS) DeleteService(key dataplane.ServiceKey) error {
	r.log.add("ipvs DeleteService %s", key)
	return r.Interface.DeleteService(key)
}

func (r *recordingIPVS) AddRealServer(key dataplane.ServiceKey, rs dataplane.RealServer) error {
	r.log.add("ipvs AddRealServer %s -> %s weight %d", key, rs.Key(), rs.Weight)
	return r.Interface.AddRealServer(key, rs)
}

func (r *recordingIPVS) UpdateRealServer(key dataplane.ServiceKey, rs dataplane.RealServer) error {
	r.log.add("ipvs UpdateRealServer %s -> %s weight %d", key, rs.Key(), rs.Weight)
	return r.Interface.UpdateRealServer(key, rs)
}

func (r *recordingIPVS) DeleteRealServer(key dataplane.ServiceKey, rs dataplane.RealServerKey) error {
	r.log.add("ipvs DeleteRealServer %s -> %s", key, rs)
	return r.Interface.DeleteRealServer(key, rs)
}

func (r *recordingIPVS) SetTimeouts(t dataplane.Timeouts) error {
	r.log.add("ipvs SetTimeouts %d %d %d", t.TCP, t.TCPFin, t.UDP)
	return r.Interface.SetTimeouts(t)
}

type recordingLinks struct {
	netif.Interface
	log *changeLog
}

// EnsureDummy changes the kernel only when it creates the link.
func (r *recordingLinks) EnsureDummy(name string) (bool, error) {
	created, err := r.Interface.EnsureDummy(name)
	if created {
		r.log.add("links EnsureDummy %s (created)", name)
	}
	return created, err
}

func (r *recordingLinks) DeleteLink(name string) error {
	r.log.add("links DeleteLink %s", name)
	return r.Interface.DeleteLink(name)
}

func (r *recordingLinks) AddAddress(link string, p netip.Prefix) error {
	r.log.add("links AddAddress %s %s", link, p)
	return r.Interface.AddAddress(link, p)
}

func (r *recordingLinks) DeleteAddress(link string, p netip.Prefix) error {
	r.log.add("links DeleteAddress %s %s", link, p)
	return r.Interface.DeleteAddress(link, p)
}

func (r *recordingLinks) AddAddresses(link string, ps []netip.Prefix) error {
	for _, p := range ps {
		r.log.add("links AddAddress %s %s", link, p)
	}
	return r.Interface.AddAddresses(link, ps)
}

func (r *recordingLinks) DeleteAddresses(link string, ps []netip.Prefix) error {
	for _, p := range ps {
		r.log.add("links DeleteAddress %s %s", link, p)
	}
	return r.Interface.DeleteAddresses(link, ps)
}

type recordingIPSets struct {
	ipset.Interface
	log *changeLog
}

func (r *recordingIPSets) Create(set dataplane.IPSet) error {
	r.log.add("ipset Create %s", set.Name)
	return r.Interface.Create(set)
}

func (r *recordingIPSets) Destroy(name string) error {
	r.log.add("ipset Destroy %s", name)
	return r.Interface.Destroy(name)
}

func (r *recordingIPSets) Add(name string, members ...dataplane.Member) error {
	r.log.add("ipset Add %s %s", name, memberTexts(members))
	return r.Interface.Add(name, members...)
}

func (r *recordingIPSets) Del(name string, members ...dataplane.Member) error {
	r.log.add("ipset Del %s %s", name, memberTexts(members))
	return r.Interface.Del(name, members...)
}

type recordingIPTables struct {
	iptables.Interface
	log *changeLog
}

// memberTexts writes members as ipset does, separated by blanks.
func memberTexts(members []dataplane.Member) string {
	texts := make([]string, len(members))
	for i, m := range members {
		texts[i] = m.String()
	}
	return strings.Join(texts, " ")
}

func (r *recordingIPTables) Restore(f iptables.Family, input []byte) error {
	r.log.add("iptables Restore IPv%d (%d lines)", f, strings.Count(string(input), "\n"))
	return r.Interface.Restore(f, input)
}

type recordingSysctl struct {
	sysctl.Interface
	log *changeLog
}

func (r *recordingSysctl) Set(name, value string) error {
	r.log.add("sysctl Set %s=%s", name, value)
	return r.Interface.Set(name, value)
}

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
