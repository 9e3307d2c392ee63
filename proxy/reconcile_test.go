package proxy

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// The seed tutorial's Service: ClusterIP 10.106.71.137:80, NodePort 30089, one Pod.
var seedService = testService{proto: dataplane.TCP, clusterIP: "10.106.71.137", port: 80, nodePort: 30089, endpoints: []string{"10.244.3.214:80"}}

var kubernetesService = testService{proto: dataplane.TCP, clusterIP: "10.96.0.1", port: 443, endpoints: []string{"10.0.2.2:6443"}}

func newTestReconciler(t testing.TB, f *fakes, opts ReconcilerOptions) *Reconciler {
	t.Helper()
	if opts.Family == 0 {
		opts.Family = 4
	}
	r, err := NewReconciler(f.k, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newFakeReconciler returns new fakes and a reconciler with the default options over them.
func newFakeReconciler(t testing.TB) (*fakes, *Reconciler) {
	t.Helper()
	f := newFakes(t)
	return f, newTestReconciler(t, f, ReconcilerOptions{})
}

// syncFailures syncs want, which must fail in part, and returns the failures and the
// sync's error.
func syncFailures(t *testing.T, r *Reconciler, want dataplane.State) ([]Failure, error) {
	t.Helper()
	_, err := r.Sync(&want, false)
	var se *SyncError
	if !errors.As(err, &se) {
		t.Fatalf("Sync error = %v, want a *SyncError", err)
	}
	return se.Failures, err
}

// expectRetry resyncs want after a sync that failed in part and checks that the retry
// made exactly the calls (what failed, as why says) and that the kernel then holds want.
func expectRetry(t *testing.T, f *fakes, r *Reconciler, want dataplane.State, why string, calls ...string) {
	t.Helper()
	f.resetCalls()
	mustSync(t, r, want, false)
	if got := f.calls(); !slices.Equal(got, calls) {
		t.Errorf("retry calls = %q, want %s: %q", got, why, calls)
	}
	checkHolds(t, f, want)
}

func mustSync(t testing.TB, r *Reconciler, want dataplane.State, full bool) SyncStats {
	t.Helper()
	stats, err := r.Sync(&want, full)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return stats
}

// checkHolds fails unless the fakes hold want (kube-ipvs0, IPVS, sets, IPv4 nat+filter).
func checkHolds(t testing.TB, f *fakes, want dataplane.State) {
	t.Helper()
	got := f.state(t)
	got.IP6Tables = dataplane.Ruleset{}
	if d := sameDataplane(want, onlyOurs(got, want)); d != "" {
		t.Errorf("the kernel does not hold the desired state:\n%s", d)
	}
}

// onlyOurs keeps, of the kernel's built-in chains, the rules the desired state lists, so
// that the comparison is about what the proxier programs.
func onlyOurs(got, want dataplane.State) dataplane.State {
	var rs dataplane.Ruleset
	for _, wt := range want.IPTables.Tables {
		gt, _ := got.IPTables.Table(wt.Name)
		t := dataplane.Table{Name: wt.Name}
		for _, wc := range wt.Chains {
			gc, ok := gt.Chain(wc.Name)
			if !ok {
				continue
			}
			if dataplane.BuiltinChain(wc.Name) {
				gc.Rules = slices.DeleteFunc(slices.Clone(gc.Rules), func(r dataplane.Rule) bool { return !hasRule(wc.Rules, r) })
			}
			t.Chains = append(t.Chains, gc)
		}
		rs.Tables = append(rs.Tables, t)
	}
	got.IPTables = rs
	return got
}

func TestReconcileSeedFromScratch(t *testing.T) {
	f, r := newFakeReconciler(t)
	want := desiredFor(kubernetesService, seedService)
	stats := mustSync(t, r, want, false)
	if !stats.Full {
		t.Error("first sync was not full: it must read the kernel to adopt what is there")
	}
	checkHolds(t, f, want)

	got := f.state(t)
	if vs, ok := got.IPVS.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.106.71.137"), Port: 80}); !ok ||
		len(vs.RealServers) != 1 || vs.RealServers[0].Key() != netip.MustParseAddrPort("10.244.3.214:80") || vs.RealServers[0].Weight != 1 || vs.RealServers[0].Forward != dataplane.Masq {
		t.Errorf("TCP 10.106.71.137:80 = %+v, want rr -> 10.244.3.214:80 Masq 1", vs)
	}
	if p := stats.Programmed; p.VirtualServers != 3 || p.RealServers != 3 || p.Addresses != 2 || p.IPSets != 17 {
		t.Errorf("Programmed = %+v, want 3 virtual servers, 3 real servers, 2 addresses, 17 sets", p)
	}
	// One iptables-restore for the family, with the jumps.
	restores := f.iptables.Restores()
	if len(restores) != 1 || restores[0].Family != 4 {
		t.Fatalf("restores = %+v, want one IPv4 restore", restores)
	}
	if !strings.Contains(restores[0].Input, `-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`) {
		t.Errorf("restore input lacks the seed's KUBE-NODE-PORT rule:\n%s", restores[0].Input)
	}
	// Member adds are batched: one Add per set.
	adds := 0
	for _, c := range f.ipsets.Calls() {
		if strings.HasPrefix(c, "Add KUBE-CLUSTER-IP") {
			adds++
		}
	}
	if adds != 1 {
		t.Errorf("%d Add calls on KUBE-CLUSTER-IP, want 1 batch", adds)
	}
}

func TestReconcileRestartAdoptsWithoutChanges(t *testing.T) {
	f := newFakes(t)
	want := desiredFor(kubernetesService, seedService, testService{proto: dataplane.UDP, clusterIP: "10.96.0.10", port: 53, endpoints: []string{"10.244.1.2:53", "10.244.2.3:53"}})
	mustSync(t, newTestReconciler(t, f, ReconcilerOptions{}), want, false)
	f.resetCalls()

	restarted := newTestReconciler(t, f, ReconcilerOptions{})
	stats := mustSync(t, restarted, want, false)
	if calls := f.calls(); len(calls) != 0 {
		t.Errorf("a restarted reconciler changed the kernel that already held the desired state:\n%s", strings.Join(calls, "\n"))
	}
	if stats.Changes != 0 {
		t.Errorf("stats.Changes = %d, want 0", stats.Changes)
	}
	// Its memory matches what it adopted: a later change touches only the change.
	want.IPVS.Services[0].RealServers = append(want.IPVS.Services[0].RealServers, dataplane.RealServer{Address: netip.MustParseAddr("10.0.2.3"), Port: 6443, Forward: dataplane.Masq, Weight: 1})
	mustSync(t, restarted, want, false)
	if calls := f.calls(); !slices.Equal(calls, []string{"AddRealServer TCP 10.96.0.1:443 10.0.2.3:6443"}) {
		t.Errorf("calls after adding one endpoint = %q, want the one AddRealServer", calls)
	}
}

func TestReconcileIncrementalTouchesOnlyTheChange(t *testing.T) {
	web := testService{proto: dataplane.TCP, clusterIP: "10.96.100.10", port: 80, endpoints: []string{"10.244.3.214:80"}}
	tests := []struct {
		name   string
		before []testService
		after  []testService
		want   []string
	}{
		{
			name:   "endpoint added",
			before: []testService{kubernetesService, web},
			after:  []testService{kubernetesService, withEndpoints(web, "10.244.3.214:80", "10.244.1.7:80")},
			want:   []string{"AddRealServer TCP 10.96.100.10:80 10.244.1.7:80"},
		},
		{
			name:   "UDP endpoint removed at once",
			before: []testService{{proto: dataplane.UDP, clusterIP: "10.96.0.10", port: 53, endpoints: []string{"10.244.1.2:53", "10.244.2.3:53"}}},
			after:  []testService{{proto: dataplane.UDP, clusterIP: "10.96.0.10", port: 53, endpoints: []string{"10.244.1.2:53"}}},
			want:   []string{"DeleteRealServer UDP 10.96.0.10:53 10.244.2.3:53"},
		},
		{
			name:   "service added",
			before: []testService{kubernetesService, web},
			after:  []testService{kubernetesService, web, {proto: dataplane.TCP, clusterIP: "10.96.100.11", port: 8080, endpoints: []string{"10.244.3.214:80"}}},
			want: []string{
				"AddService TCP 10.96.100.11:8080",
				"AddRealServer TCP 10.96.100.11:8080 10.244.3.214:80",
				"AddAddresses kube-ipvs0 10.96.100.11/32",
				"Add KUBE-CLUSTER-IP 10.96.100.11,tcp:8080",
				"Add KUBE-IPVS-IPS 10.96.100.11",
			},
		},
		{
			name:   "service removed",
			before: []testService{kubernetesService, web},
			after:  []testService{kubernetesService},
			want: []string{
				"DeleteService TCP 10.96.100.10:80",
				"DeleteAddresses kube-ipvs0 10.96.100.10/32",
				"Del KUBE-CLUSTER-IP 10.96.100.10,tcp:80",
				"Del KUBE-IPVS-IPS 10.96.100.10",
			},
		},
		{
			name:   "first NodePort changes the rules in one restore",
			before: []testService{kubernetesService},
			after:  []testService{kubernetesService, seedService},
			want: []string{
				"AddService TCP 10.106.71.137:80",
				"AddRealServer TCP 10.106.71.137:80 10.244.3.214:80",
				"AddService TCP 10.0.2.15:30089",
				"AddRealServer TCP 10.0.2.15:30089 10.244.3.214:80",
				"AddAddresses kube-ipvs0 10.106.71.137/32",
				"Add KUBE-CLUSTER-IP 10.106.71.137,tcp:80",
				"Add KUBE-NODE-PORT-TCP 30089",
				"Add KUBE-IPVS-IPS 10.106.71.137",
				"Restore IPv4 nat,filter",
			},
		},
		{
			name:   "nothing changed",
			before: []testService{kubernetesService, web},
			after:  []testService{kubernetesService, web},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, r := newFakeReconciler(t)
			mustSync(t, r, desiredFor(tt.before...), false)
			f.resetCalls()
			after := desiredFor(tt.after...)
			mustSync(t, r, after, false)
			if got := sortedCalls(f); !slices.Equal(got, sortedStrings(tt.want)) {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(sortedStrings(tt.want), "\n"))
			}
			checkHolds(t, f, after)
		})
	}
}

func withEndpoints(s testService, eps ...string) testService {
	s.endpoints = eps
	return s
}

func sortedCalls(f *fakes) []string { return sortedStrings(f.calls()) }

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestReconcileLeavesWhatIsNotOurs(t *testing.T) {
	f := newFakes(t)
	add := func(vs dataplane.VirtualServer) {
		t.Helper()
		if err := f.ipvs.AddService(vs); err != nil {
			t.Fatal(err)
		}
	}
	foreign := []dataplane.VirtualServer{
		// LVS set up by hand on the node's address and on an address of nobody's.
		{Protocol: dataplane.TCP, Address: testNodeIP, Port: 80, Scheduler: "wrr"},
		{Protocol: dataplane.TCP, Address: netip.MustParseAddr("192.168.50.10"), Port: 443, Scheduler: "rr"},
		// A firewall-mark service.
		{FWMark: 7, Family: 4, Scheduler: "rr"},
		// One of ours by address, but inside excludeCIDRs.
		{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.100.0.5"), Port: 80, Scheduler: "rr"},
		// The other family is the other reconciler's.
		{Protocol: dataplane.TCP, Address: netip.MustParseAddr("fd00:96::1"), Port: 443, Scheduler: "rr"},
	}
	for _, vs := range foreign {
		add(vs)
	}
	// Leftovers of an earlier run: a ClusterIP bound on kube-ipvs0 and a NodePort recorded
	// in KUBE-NODE-PORT-TCP, neither wanted any more.
	stale := []dataplane.VirtualServer{
		{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.200.1"), Port: 80, Scheduler: "rr"},
		{Protocol: dataplane.TCP, Address: testNodeIP, Port: 31000, Scheduler: "rr"},
	}
	for _, vs := range stale {
		add(vs)
	}
	if _, err := f.links.EnsureDummy(dataplane.KubeIPVSInterface); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.96.200.1/32", "10.100.0.5/32"} {
		if err := f.links.AddAddress(dataplane.KubeIPVSInterface, netip.MustParsePrefix(p)); err != nil {
			t.Fatal(err)
		}
	}
	np := desiredFor().IPSets[slices.IndexFunc(desiredFor().IPSets, func(s dataplane.IPSet) bool { return s.Name == "KUBE-NODE-PORT-TCP" })]
	if err := f.ipsets.Create(np); err != nil {
		t.Fatal(err)
	}
	if err := f.ipsets.Add("KUBE-NODE-PORT-TCP", dataplane.Member{Port: 31000}); err != nil {
		t.Fatal(err)
	}
	// A set and a chain of somebody else.
	if err := f.ipsets.Create(dataplane.IPSet{Name: "cali40all-ipam-pools", Type: "hash:net", Family: "inet"}); err != nil {
		t.Fatal(err)
	}
	if err := f.iptables.Restore(4, []byte("*filter\n:cali-INPUT - [0:0]\n-A INPUT -j cali-INPUT\n-A cali-INPUT -j ACCEPT\nCOMMIT\n")); err != nil {
		t.Fatal(err)
	}

	r := newTestReconciler(t, f, ReconcilerOptions{ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("10.100.0.0/16")}})
	want := desiredFor(kubernetesService)
	mustSync(t, r, want, false)

	got := f.state(t)
	for _, vs := range foreign {
		if _, ok := got.IPVS.Service(vs.Key()); !ok {
			t.Errorf("foreign virtual server %s was deleted", vs.Key())
		}
	}
	for _, vs := range stale {
		if _, ok := got.IPVS.Service(vs.Key()); ok {
			t.Errorf("stale virtual server %s of an earlier run was left", vs.Key())
		}
	}
	if _, ok := got.IPSet("cali40all-ipam-pools"); !ok {
		t.Error("foreign ip set was destroyed")
	}
	if rules := got.IPTables.Rules("filter", "cali-INPUT"); len(rules) != 1 {
		t.Errorf("foreign chain cali-INPUT = %v, want its rule kept", rules)
	}
	if rules := got.IPTables.Rules("filter", "INPUT"); !slices.Contains(rules, dataplane.Rule{Spec: "-j cali-INPUT"}) {
		t.Errorf("foreign jump in INPUT was removed: %v", rules)
	}
	// The address inside excludeCIDRs is ours to unbind (only virtual servers are excluded).
	if addrs := kubeIPVSAddrs(got); !slices.Equal(addrs, []netip.Prefix{netip.MustParsePrefix("10.96.0.1/32")}) {
		t.Errorf("kube-ipvs0 = %v, want only 10.96.0.1/32", addrs)
	}
}

func TestReconcileRulesJumpsOnlyWhenMissing(t *testing.T) {
	f := newFakes(t)
	// Docker's rules were there first; kube-proxy's jumps go above them, once.
	if err := f.iptables.Restore(4, []byte("*nat\n:DOCKER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\nCOMMIT\n")); err != nil {
		t.Fatal(err)
	}
	f.resetCalls()
	r := newTestReconciler(t, f, ReconcilerOptions{})
	want := desiredFor(kubernetesService)
	mustSync(t, r, want, true)
	mustSync(t, r, want, true)
	rules := f.state(t).IPTables.Rules("nat", "PREROUTING")
	wantRules := []dataplane.Rule{
		{Spec: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
		{Spec: "-m addrtype --dst-type LOCAL -j DOCKER"},
	}
	if !slices.Equal(rules, wantRules) {
		t.Errorf("nat PREROUTING = %v, want %v", rules, wantRules)
	}
	if n := len(f.iptables.Restores()); n != 1 {
		t.Errorf("%d restores for two syncs of the same rules, want 1", n)
	}

	// Someone deletes our jump: the next full sync puts it back, the rest untouched.
	if err := f.iptables.Restore(4, []byte("*nat\n-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\nCOMMIT\n")); err != nil {
		t.Fatal(err)
	}
	mustSync(t, r, want, false)
	if rules := f.state(t).IPTables.Rules("nat", "PREROUTING"); len(rules) != 1 {
		t.Errorf("an ordinary sync re-read the built-in chains: %v", rules)
	}
	mustSync(t, r, want, true)
	if rules := f.state(t).IPTables.Rules("nat", "PREROUTING"); !slices.Equal(rules, wantRules) {
		t.Errorf("after a full sync nat PREROUTING = %v, want %v", rules, wantRules)
	}

	// A chain of ours the desired state drops goes, with its jump.
	dropped := want
	dropped.IPTables = testRules(true, false)
	dropped.IPTables.Tables[1].Chains = nil
	mustSync(t, r, dropped, true)
	filter, _ := f.state(t).IPTables.Table("filter")
	if _, ok := filter.Chain("KUBE-FORWARD"); ok {
		t.Error("KUBE-FORWARD was left after the desired state dropped it")
	}
	if rules := f.state(t).IPTables.Rules("filter", "FORWARD"); len(rules) != 0 {
		t.Errorf("filter FORWARD = %v, want the jump to KUBE-FORWARD gone", rules)
	}
}

func TestReconcileReplacesSetOfWrongType(t *testing.T) {
	f := newFakes(t)
	if err := f.ipsets.Create(dataplane.IPSet{Name: "KUBE-CLUSTER-IP", Type: "hash:ip", Family: "inet"}); err != nil {
		t.Fatal(err)
	}
	want := desiredFor(kubernetesService)
	mustSync(t, newTestReconciler(t, f, ReconcilerOptions{}), want, false)
	checkHolds(t, f, want)
}

func TestReconcileGracefulTermination(t *testing.T) {
	web := testService{proto: dataplane.TCP, clusterIP: "10.96.100.10", port: 80, endpoints: []string{"10.244.3.214:80", "10.244.1.7:80"}}
	key := dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.100.10"), Port: 80}
	leaving := netip.MustParseAddrPort("10.244.1.7:80")

	f, r := newFakeReconciler(t)
	mustSync(t, r, desiredFor(web), false)
	if err := f.ipvs.SetConnections(key, leaving, 2, 1); err != nil {
		t.Fatal(err)
	}

	// The endpoint goes while it has connections: weight 0, kept.
	after := desiredFor(withEndpoints(web, "10.244.3.214:80"))
	stats := mustSync(t, r, after, false)
	rs := realServer(t, f, key, leaving)
	if rs == nil || rs.Weight != 0 {
		t.Fatalf("terminating real server = %+v, want it kept with weight 0", rs)
	}
	if stats.Programmed.Terminating != 1 {
		t.Errorf("Programmed.Terminating = %d, want 1", stats.Programmed.Terminating)
	}
	// Syncs while it still has connections keep it.
	mustSync(t, r, after, true)
	if realServer(t, f, key, leaving) == nil {
		t.Fatal("terminating real server deleted while it still had connections")
	}

	// It comes back: weight 1 again, connections untouched.
	mustSync(t, r, desiredFor(web), false)
	if rs := realServer(t, f, key, leaving); rs == nil || rs.Weight != 1 || rs.ActiveConns != 2 {
		t.Fatalf("returning real server = %+v, want weight 1 with its 2 connections", rs)
	}

	// It goes again; once the connections end, the next full sync deletes it.
	mustSync(t, r, after, false)
	if err := f.ipvs.SetConnections(key, leaving, 0, 0); err != nil {
		t.Fatal(err)
	}
	mustSync(t, r, after, false)
	if realServer(t, f, key, leaving) == nil {
		t.Fatal("an ordinary sync without a real server change re-read connection counters")
	}
	mustSync(t, r, after, true)
	if rs := realServer(t, f, key, leaving); rs != nil {
		t.Errorf("real server without connections left after a full sync: %+v", rs)
	}
	checkHolds(t, f, after)

	// A TCP endpoint without connections goes in the same sync.
	f.resetCalls()
	mustSync(t, r, desiredFor(), false)
	mustSync(t, r, desiredFor(web), false)
	mustSync(t, r, after, false)
	if realServer(t, f, key, leaving) != nil {
		t.Error("TCP real server without connections was not deleted in the sync that removed it")
	}
}

func realServer(t *testing.T, f *fakes, key dataplane.ServiceKey, rs netip.AddrPort) *dataplane.RealServer {
	t.Helper()
	vs, ok := f.state(t).IPVS.Service(key)
	if !ok {
		t.Fatalf("virtual server %s missing", key)
	}
	if r, ok := vs.RealServer(rs); ok {
		return &r
	}
	return nil
}

func TestReconcileFaultInjection(t *testing.T) {
	f, r := newFakeReconciler(t)
	want := desiredFor(kubernetesService, seedService)
	injected := errors.New("injected: no buffer space")
	// The batch fails, and so does the first member when retried alone.
	f.ipsets.FailNext("Add", injected)
	f.ipsets.FailNext("Add", injected)
	f.ipvs.FailNext("AddRealServer", syscall.ENOMEM)

	fs, err := syncFailures(t, r, want)
	if len(fs) != 2 {
		t.Fatalf("failures = %v, want 2 (one member, one real server)", fs)
	}
	if f0 := fs[0]; f0.Op != "add to ip set" || !strings.HasPrefix(f0.Object, "KUBE-") || !errors.Is(err, injected) {
		t.Errorf("first failure = %+v, want the ip set add naming its set and member", f0)
	}
	if f1 := fs[1]; f1.Op != "add real server" || f1.Object != "TCP 10.96.0.1:443 -> 10.0.2.2:6443" || !errors.Is(err, syscall.ENOMEM) {
		t.Errorf("second failure = %+v, want the real server with its virtual server", f1)
	}
	// Everything else landed.
	got := f.state(t)
	if vs, _ := got.IPVS.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.106.71.137"), Port: 80}); len(vs.RealServers) != 1 {
		t.Errorf("the seed's real server was not added after an unrelated failure: %+v", vs)
	}
	if len(f.iptables.Restores()) != 1 {
		t.Error("iptables were not restored after an unrelated failure")
	}
	// The retry (an ordinary sync) applies exactly what failed.
	f.resetCalls()
	mustSync(t, r, want, false)
	calls := f.calls()
	if len(calls) != 2 || calls[0] != "AddRealServer TCP 10.96.0.1:443 10.0.2.2:6443" || !strings.HasPrefix(calls[1], "Add KUBE-") {
		t.Errorf("retry calls = %q, want the real server and the one member", calls)
	}
	checkHolds(t, f, want)
}

// Addresses go to kube-ipvs0 in one batch per sync; an address the kernel refuses is a
// failure of its own, the rest are bound, and the next sync retries exactly the refused
// ones. A batch that fails as a whole fails each of its addresses.
func TestReconcileAddressBatchFaults(t *testing.T) {
	web := testService{proto: dataplane.TCP, clusterIP: "10.96.100.10", port: 80, endpoints: []string{"10.244.3.214:80"}}
	api := netip.MustParsePrefix("10.96.0.1/32")
	seed := netip.MustParsePrefix("10.106.71.137/32")
	webIP := netip.MustParsePrefix("10.96.100.10/32")
	addrCalls := func(f *fakes) []string {
		return slices.DeleteFunc(f.links.Calls(), func(c string) bool { return strings.HasPrefix(c, "EnsureDummy") })
	}

	t.Run("one address refused", func(t *testing.T) {
		f, r := newFakeReconciler(t)
		want := desiredFor(kubernetesService, seedService, web)
		f.links.FailAddress(seed, syscall.ENOSPC)
		fs, _ := syncFailures(t, r, want)
		if len(fs) != 1 || fs[0].Op != "bind address" || fs[0].Object != "10.106.71.137/32 to kube-ipvs0" || !errors.Is(fs[0].Err, syscall.ENOSPC) {
			t.Fatalf("failures = %v, want the refused address alone", fs)
		}
		if got := kubeIPVSAddrs(f.state(t)); !slices.Equal(got, []netip.Prefix{api, webIP}) {
			t.Errorf("kube-ipvs0 = %v, want the addresses that were not refused", got)
		}
		if got := addrCalls(f); len(got) != 1 || !strings.HasPrefix(got[0], "AddAddresses kube-ipvs0 ") {
			t.Errorf("address calls = %q, want one batch", got)
		}
		expectRetry(t, f, r, want, "the refused address alone", "AddAddresses kube-ipvs0 10.106.71.137/32")
	})

	t.Run("whole batch fails", func(t *testing.T) {
		f, r := newFakeReconciler(t)
		want := desiredFor(kubernetesService, web)
		f.links.FailNext("AddAddresses", syscall.ENOBUFS)
		fs, err := syncFailures(t, r, want)
		if len(fs) != 2 || fs[0].Object != "10.96.0.1/32 to kube-ipvs0" || fs[1].Object != "10.96.100.10/32 to kube-ipvs0" || !errors.Is(err, syscall.ENOBUFS) {
			t.Fatalf("failures = %v, want each address of the failed batch", fs)
		}
		if got := f.state(t).IPVS.Services; len(got) != 2 {
			t.Errorf("virtual servers = %v, want both programmed despite the addresses", got)
		}
		expectRetry(t, f, r, want, "both addresses in one batch", "AddAddresses kube-ipvs0 10.96.0.1/32 10.96.100.10/32")
	})

	t.Run("unbind refused", func(t *testing.T) {
		f, r := newFakeReconciler(t)
		mustSync(t, r, desiredFor(kubernetesService, seedService, web), false)
		f.resetCalls()
		want := desiredFor(kubernetesService)
		f.links.FailAddress(webIP, syscall.EBUSY)
		fs, err := syncFailures(t, r, want)
		if len(fs) != 1 || fs[0].Op != "unbind address" || fs[0].Object != "10.96.100.10/32 from kube-ipvs0" || !errors.Is(err, syscall.EBUSY) {
			t.Fatalf("failures = %v, want the refused unbind alone", fs)
		}
		if got := addrCalls(f); !slices.Equal(got, []string{"DeleteAddresses kube-ipvs0 10.96.100.10/32 10.106.71.137/32"}) {
			t.Errorf("address calls = %q, want one sorted batch", got)
		}
		if got := kubeIPVSAddrs(f.state(t)); !slices.Equal(got, []netip.Prefix{api, webIP}) {
			t.Errorf("kube-ipvs0 = %v, want the refused address left", got)
		}
		expectRetry(t, f, r, want, "the refused unbind alone", "DeleteAddresses kube-ipvs0 10.96.100.10/32")
	})
}

// New virtual servers go to the kernel with their real servers in one batch; one the
// kernel refuses is a failure of its own (its real servers follow it untried), the rest
// land, and the next sync retries exactly what failed.
func TestReconcileServiceBatchFaults(t *testing.T) {
	web := testService{proto: dataplane.TCP, clusterIP: "10.96.100.10", port: 80, endpoints: []string{"10.244.3.214:80", "10.244.1.7:80"}}
	webKey := dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.100.10"), Port: 80}
	ipvsCalls := func(f *fakes) []string { return sortedStrings(f.ipvs.Calls()) }

	t.Run("one virtual server refused", func(t *testing.T) {
		f, r := newFakeReconciler(t)
		want := desiredFor(web, kubernetesService)
		// The kernel refuses the first virtual server of the batch.
		f.ipvs.FailNext("AddService", syscall.ENOMEM)
		fs, err := syncFailures(t, r, want)
		if len(fs) != 1 || fs[0].Op != "add virtual server" || !errors.Is(err, syscall.ENOMEM) {
			t.Fatalf("Sync error = %v, want the refused virtual server alone", err)
		}
		refused := fs[0].Object
		got := f.state(t)
		if len(got.IPVS.Services) != 1 || got.IPVS.Services[0].Key().String() == refused || len(got.IPVS.Services[0].RealServers) == 0 {
			t.Fatalf("virtual servers = %+v, want the other one with its real servers", got.IPVS.Services)
		}
		f.resetCalls()
		mustSync(t, r, want, false)
		var wantCalls []string
		for _, vs := range want.IPVS.Services {
			if vs.Key().String() != refused {
				continue
			}
			wantCalls = append(wantCalls, "AddService "+refused)
			for _, rs := range vs.RealServers {
				wantCalls = append(wantCalls, "AddRealServer "+refused+" "+rs.Key().String())
			}
		}
		if got := ipvsCalls(f); !slices.Equal(got, sortedStrings(wantCalls)) {
			t.Errorf("retry calls = %q, want %q", got, wantCalls)
		}
		checkHolds(t, f, want)
	})

	t.Run("whole batch fails", func(t *testing.T) {
		f, r := newFakeReconciler(t)
		want := desiredFor(kubernetesService, web)
		f.ipvs.FailNext("AddServices", syscall.ENOBUFS)
		if fs, err := syncFailures(t, r, want); len(fs) != len(want.IPVS.Services) || !errors.Is(err, syscall.ENOBUFS) {
			t.Fatalf("Sync error = %v, want each virtual server of the failed batch", err)
		}
		if got := f.state(t).IPVS.Services; len(got) != 0 {
			t.Errorf("virtual servers = %v after the batch failed", got)
		}
		if got := kubeIPVSAddrs(f.state(t)); len(got) != 2 {
			t.Errorf("kube-ipvs0 = %v, want both addresses bound despite the virtual servers", got)
		}
		mustSync(t, r, want, false)
		checkHolds(t, f, want)
		if vs, _ := f.state(t).IPVS.Service(webKey); len(vs.RealServers) != 2 {
			t.Errorf("web after the retry = %+v, want its two real servers", vs)
		}
	})
}

func TestReconcileReadFailureChangesNothing(t *testing.T) {
	f, r := newFakeReconciler(t)
	f.ipvs.FailNext("Services", syscall.EPERM)
	want := desiredFor(kubernetesService)
	_, err := r.Sync(&want, false)
	wanterr.Check(t, err, "read IPVS virtual servers")
	if calls := f.calls(); len(calls) != 0 {
		t.Errorf("a sync that could not read the kernel changed it: %q", calls)
	}
	mustSync(t, r, want, false)
	checkHolds(t, f, want)
}

// TestReconcileIncrementalEqualsFromScratch drives random changes through one reconciler
// with ordinary syncs and checks after each that the kernel holds exactly what a fresh
// reconciler's full sync into fresh fakes produces.
func TestReconcileIncrementalEqualsFromScratch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f, r := newFakeReconciler(t)
	services := map[int]testService{}
	for step := range 300 {
		mutateServices(rng, services)
		var list []testService
		for i := range 40 {
			if s, ok := services[i]; ok {
				list = append(list, s)
			}
		}
		want := desiredFor(list...)
		mustSync(t, r, want, step%50 == 49)

		ref := newFakes(t)
		mustSync(t, newTestReconciler(t, ref, ReconcilerOptions{}), want, true)
		if d := sameDataplane(ref.state(t), f.state(t)); d != "" {
			t.Fatalf("step %d: incremental result differs from a sync from scratch:\n%s", step, d)
		}
	}
}

// mutateServices makes one random change: add, delete or change a Service, or its
// endpoints.
func mutateServices(rng *rand.Rand, services map[int]testService) {
	i := rng.IntN(40)
	s, ok := services[i]
	switch op := rng.IntN(6); {
	case !ok || op == 0:
		proto := dataplane.TCP
		if rng.IntN(4) == 0 {
			proto = dataplane.UDP
		}
		s = testService{proto: proto, clusterIP: netip.AddrFrom4([4]byte{10, 96, 0, byte(1 + i)}).String(), port: uint16(80 + rng.IntN(3))}
		if rng.IntN(3) == 0 {
			s.nodePort = uint16(30000 + i)
		}
		fallthrough
	case op <= 3:
		s.endpoints = nil
		for j := range rng.IntN(4) {
			s.endpoints = append(s.endpoints, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 244, byte(j), byte(rng.IntN(6) + 1)}), 8080).String())
		}
		s.endpoints = slices.Compact(sortedStrings(s.endpoints))
		services[i] = s
	case op == 4:
		s.port++
		services[i] = s
	default:
		delete(services, i)
	}
}
