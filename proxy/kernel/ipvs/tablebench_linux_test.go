package ipvs

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

// benchServices is the IPVS table of a proxier at that many Services: a ClusterIP each
// (one in ten UDP), two endpoints each.
const benchServices = 10000

// newLinuxInNetns opens a Linux in a new network namespace with lo up, which lives as long
// as the handle. Until lo is up the namespace has no local routing table, and the kernel
// refuses IPv4 real servers (their address type reads as broadcast).
func newLinuxInNetns(tb testing.TB) *Linux { return newLinuxesInNetns(tb, 1)[0] }

// newLinuxesInNetns returns n handles on one new network namespace (each its own sockets).
func newLinuxesInNetns(tb testing.TB, n int) []*Linux {
	tb.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		tb.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		tb.Fatalf("create a network namespace: %v", err)
	}
	defer ns.Close()
	var ls []*Linux
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
		if err != nil {
			err = fmt.Errorf("bring lo up in the new namespace: %w", err)
		}
	}
	for len(ls) < n && err == nil {
		var l *Linux
		if l, err = NewLinux(); err != nil {
			err = fmt.Errorf("NewLinux in a new namespace: %w", err)
		} else {
			ls = append(ls, l)
		}
	}
	if err2 := netns.Set(orig); err2 != nil {
		panic(fmt.Sprintf("return to the test's network namespace: %v", err2)) // the thread is unusable
	}
	for _, l := range ls {
		tb.Cleanup(func() { l.Close() })
	}
	if err != nil {
		tb.Fatal(err)
	}
	return ls
}

// proxierTable is n virtual servers with two real servers each, as a proxier programs them.
func proxierTable(n int) []dataplane.VirtualServer {
	vss := make([]dataplane.VirtualServer, n)
	for i := range vss {
		proto := dataplane.TCP
		if i%10 == 9 {
			proto = dataplane.UDP
		}
		vss[i] = dataplane.VirtualServer{
			Protocol: proto, Address: netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}), Port: uint16(80 + i%7), Scheduler: "rr",
			RealServers: []dataplane.RealServer{
				{Address: netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)}), Port: 8080, Forward: dataplane.Masq, Weight: 1},
				{Address: netip.AddrFrom4([4]byte{10, 245, byte(i >> 8), byte(i)}), Port: 8080, Forward: dataplane.Masq, Weight: 1},
			},
		}
	}
	return vss
}

// fillProxierTable opens a Linux in a new namespace holding proxierTable(benchServices).
func fillProxierTable(tb testing.TB) *Linux {
	tb.Helper()
	l := newLinuxInNetns(tb)
	if err := l.AddServices(proxierTable(benchServices)); err != nil {
		tb.Fatalf("AddServices(%d): %v", benchServices, err)
	}
	return l
}

// readTable is the benchmark's loop: one whole-table read (Services) per iteration.
func readTable(b *testing.B, l *Linux) {
	b.ReportAllocs()
	for b.Loop() {
		vss, err := l.Services()
		if err != nil {
			b.Fatal(err)
		}
		if len(vss) != benchServices || len(vss[0].RealServers) != 2 {
			b.Fatalf("read %d services (the first with %d real servers), expected %d with 2", len(vss), len(vss[0].RealServers), benchServices)
		}
	}
}

// BenchmarkLinuxTable reads the whole table of a proxier at 10,000 Services, as a full
// resync does. Lab-only; in the lab, TestLinuxTableReadCost runs it.
func BenchmarkLinuxTable(b *testing.B) {
	labtest.Require(b)
	readTable(b, fillProxierTable(b))
}

// TestLinuxTableReadCost runs BenchmarkLinuxTable's measurement in the lab, whose runner
// runs tests, not benchmarks, and logs it (about 2 s in the guest:
// `go run ./cmd/ipvs-e2e lab test --run TestLinuxTableReadCost ./proxy/kernel/ipvs`). It fails only
// when the read does.
func TestLinuxTableReadCost(t *testing.T) {
	labtest.Require(t)
	l := fillProxierTable(t)
	r := testing.Benchmark(func(b *testing.B) { readTable(b, l) })
	if r.N == 0 {
		t.Fatal("the table read failed inside testing.Benchmark (it reports no iterations)")
	}
	t.Logf("whole-table read of %d services x 2 real servers: %d iterations, %d ns/op, %d B/op, %d allocs/op",
		benchServices, r.N, r.NsPerOp(), r.AllocedBytesPerOp(), r.AllocsPerOp())
}
