package ipvs

import (
	"errors"
	"net/netip"
	"sync"
	"syscall"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

func TestFakeContract(t *testing.T) {
	testContract(t, func(*testing.T) Interface { return NewFake() })
}

var (
	kubernetesVS = dataplane.VirtualServer{
		Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.0.1"), Port: 443, Scheduler: "rr",
	}
	apiserverRS = dataplane.RealServer{
		Address: netip.MustParseAddr("10.0.2.2"), Port: 6443, Forward: dataplane.Masq, Weight: 1,
	}
)

func TestFakeCallLog(t *testing.T) {
	f := NewFake()
	k := kubernetesVS.Key()
	steps := []error{
		f.AddService(kubernetesVS),
		f.AddRealServer(k, apiserverRS),
		f.UpdateRealServer(k, apiserverRS),
		f.DeleteRealServer(k, apiserverRS.Key()),
		f.UpdateService(kubernetesVS),
		f.SetTimeouts(dataplane.Timeouts{TCP: 10}),
		f.DeleteService(k),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	f.CheckCalls(t,
		"AddService TCP 10.96.0.1:443",
		"AddRealServer TCP 10.96.0.1:443 10.0.2.2:6443",
		"UpdateRealServer TCP 10.96.0.1:443 10.0.2.2:6443",
		"DeleteRealServer TCP 10.96.0.1:443 10.0.2.2:6443",
		"UpdateService TCP 10.96.0.1:443",
		"SetTimeouts 10 0 0",
		"DeleteService TCP 10.96.0.1:443",
	)
	f.ResetCalls()
	if _, err := f.Services(); err != nil || len(f.Calls()) != 0 {
		t.Errorf("reads are logged or fail: %v %q", err, f.Calls())
	}
}

func TestFakeFailNext(t *testing.T) {
	f := NewFake()
	boom := errors.New("netlink: injected")
	f.FailNext("AddService", boom)
	f.FailNext("AddService", syscall.ENOMEM)
	if err := f.AddService(kubernetesVS); !errors.Is(err, boom) {
		t.Fatalf("first AddService: %v, expected the first injected error", err)
	}
	if err := f.AddService(kubernetesVS); !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("second AddService: %v, expected the second injected error", err)
	}
	if svcs, _ := f.Services(); len(svcs) != 0 {
		t.Fatalf("failed calls changed the table: %+v", svcs)
	}
	if err := f.AddService(kubernetesVS); err != nil {
		t.Fatalf("third AddService: %v, expected success once the faults are used", err)
	}
	f.FailNext("Services", boom)
	if _, err := f.Services(); !errors.Is(err, boom) {
		t.Errorf("Services with a fault: %v", err)
	}
}

func TestFakeSetSchedulers(t *testing.T) {
	f := NewFake()
	f.SetSchedulers("rr", "wrr")
	vs := kubernetesVS
	vs.Scheduler = "mh"
	err := f.AddService(vs)
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("AddService with a scheduler the kernel lacks: %v, expected ENOENT", err)
	}
	const wantMsg = `add virtual server TCP 10.96.0.1:443: no such file or directory (the kernel has no scheduler "mh": load module ip_vs_mh)`
	if err.Error() != wantMsg {
		t.Errorf("error text %q, expected %q", err, wantMsg)
	}
	vs.Scheduler = "wrr"
	if err := f.AddService(vs); err != nil {
		t.Fatal(err)
	}
}

func TestFakeSetConnectionsSurvivesUpdate(t *testing.T) {
	f := NewFake()
	k := kubernetesVS.Key()
	if err := f.AddService(kubernetesVS); err != nil {
		t.Fatal(err)
	}
	if err := f.AddRealServer(k, apiserverRS); err != nil {
		t.Fatal(err)
	}
	if err := f.SetConnections(k, apiserverRS.Key(), 3, 7); err != nil {
		t.Fatal(err)
	}
	drained := apiserverRS
	drained.Weight = 0
	if err := f.UpdateRealServer(k, drained); err != nil {
		t.Fatal(err)
	}
	svcs, _ := f.Services()
	got := svcs[0].RealServers[0]
	if got.Weight != 0 || got.ActiveConns != 3 || got.InactiveConns != 7 {
		t.Errorf("real server %+v, expected weight 0 with 3 active and 7 inactive connections", got)
	}
	if err := f.SetConnections(k, netip.MustParseAddrPort("10.0.2.3:1"), 1, 1); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("SetConnections of a missing real server: %v", err)
	}
}

func TestFakeNormalizesLikeTheKernelReadsBack(t *testing.T) {
	f := NewFake()
	vs := dataplane.VirtualServer{
		Protocol: dataplane.TCP, Address: netip.MustParseAddr("::ffff:10.96.0.10"), Port: 53,
		Scheduler: "rr", Timeout: 300, PrefixLen: 32,
		RealServers: []dataplane.RealServer{apiserverRS},
	}
	if err := f.AddService(vs); err != nil {
		t.Fatal(err)
	}
	svcs, _ := f.Services()
	want := dataplane.VirtualServer{
		Protocol: dataplane.TCP, Family: 4, Address: netip.MustParseAddr("10.96.0.10"), Port: 53, Scheduler: "rr",
	}
	if len(svcs) != 1 || !svcs[0].SameConfig(want) || svcs[0].Timeout != 0 || svcs[0].PrefixLen != 0 || svcs[0].Family != 4 || len(svcs[0].RealServers) != 0 {
		t.Errorf("Services() = %+v, expected %+v", svcs, want)
	}
}

func TestFakeTimeoutsDefaultAndLimit(t *testing.T) {
	f := NewFake()
	if got, _ := f.Timeouts(); got != DefaultTimeouts {
		t.Errorf("Timeouts() = %+v, expected the kernel's %+v", got, DefaultTimeouts)
	}
	if err := f.SetTimeouts(dataplane.Timeouts{UDP: maxTimeout + 1}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetTimeouts beyond the kernel's limit: %v", err)
	}
}

func TestFakeConcurrentUse(t *testing.T) {
	f := NewFake()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			vs := dataplane.VirtualServer{Protocol: dataplane.UDP, Address: netip.AddrFrom4([4]byte{10, 96, 1, byte(i)}), Port: 53, Scheduler: "rr"}
			for range 50 {
				_ = f.AddService(vs)
				_, _ = f.Services()
				_ = f.DeleteService(vs.Key())
			}
		})
	}
	wg.Wait()
	if svcs, _ := f.Services(); len(svcs) != 0 {
		t.Errorf("%d services left", len(svcs))
	}
}

// AddServices logs and fails each object as the single calls do; a fault for the call
// itself fails it before anything changes.
func TestFakeAddServicesCallsAndFaults(t *testing.T) {
	f := NewFake()
	withRS := kubernetesVS
	withRS.RealServers = []dataplane.RealServer{apiserverRS}
	dns := dataplane.VirtualServer{Protocol: dataplane.UDP, Address: netip.MustParseAddr("10.96.0.10"), Port: 53, Scheduler: "rr",
		RealServers: []dataplane.RealServer{{Address: netip.MustParseAddr("10.244.1.2"), Port: 53, Forward: dataplane.Masq, Weight: 1}}}
	injected := errors.New("injected")

	f.FailNext("AddServices", injected)
	if err := f.AddServices([]dataplane.VirtualServer{withRS}); !errors.Is(err, injected) {
		t.Fatalf("AddServices with a fault for the call: %v", err)
	}
	if svcs, _ := f.Services(); len(svcs) != 0 || len(f.Calls()) != 0 {
		t.Fatalf("a failed AddServices changed %v and logged %q", svcs, f.Calls())
	}

	f.FailNext("AddRealServer", syscall.ENOMEM)
	err := f.AddServices([]dataplane.VirtualServer{withRS, dns})
	var be *BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Service != withRS.Key() || be.Failed[0].RealServer != apiserverRS.Key() || !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("AddServices with one real server refused: %v, expected a BatchError naming it", err)
	}
	f.CheckCalls(t,
		"AddService TCP 10.96.0.1:443",
		"AddRealServer TCP 10.96.0.1:443 10.0.2.2:6443",
		"AddService UDP 10.96.0.10:53",
		"AddRealServer UDP 10.96.0.10:53 10.244.1.2:53",
	)
	svcs, _ := f.Services()
	ipvs := dataplane.IPVS{Services: svcs}
	if vs, _ := ipvs.Service(withRS.Key()); len(vs.RealServers) != 0 {
		t.Errorf("the refused real server was added: %+v", vs)
	}
	if vs, _ := ipvs.Service(dns.Key()); len(vs.RealServers) != 1 {
		t.Errorf("the other virtual server lacks its real server: %+v", vs)
	}
}
