//go:build lab && linux

package ipvs

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

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

// TestLinuxTableInNetns checks, in a new network namespace, that the table is read from
// that namespace's /proc/net/ip_vs in one dump and one read (no fall back), and that it
// equals a destination dump per service.
func TestLinuxTableInNetns(t *testing.T) {
	labtest.Require(t)
	l := newLinuxInNetns(t)
	if l.proc == nil {
		t.Fatal("NewLinux did not open /proc/net/ip_vs of the namespace: expected it to, so the table is read in one pass")
	}
	root := labtest.Open(t, NewLinux)

	var vss []dataplane.VirtualServer
	for i := range 2500 {
		fam := 4 + 2*(i%2)
		vss = append(vss, dataplane.VirtualServer{
			Protocol: dataplane.UDP, Address: vip(fam, 1+i%100), Port: uint16(30000 + i), Scheduler: "rr",
			RealServers: []dataplane.RealServer{
				{Address: rip(fam, 1+i%250), Port: 53, Forward: dataplane.Masq, Weight: i % 3},
				{Address: rip(fam, 251), Port: 5353, Forward: dataplane.Masq, Weight: 1},
			},
		})
	}
	vss = append(vss, dataplane.VirtualServer{FWMark: 0x4fa, Family: 6, Scheduler: "mh", SchedFlags: dataplane.SchedFlag2})
	if err := l.AddServices(vss); err != nil {
		t.Fatalf("AddServices(%d) in the namespace: %v", len(vss), err)
	}
	expectTable(t, l, vss)

	// Each step is timed for the log: what the one-pass read costs and where.
	l.readMu.Lock()
	start := time.Now()
	joined, err := l.dumpServices()
	if err != nil {
		l.readMu.Unlock()
		t.Fatal(err)
	}
	dumpedAt := time.Now()
	text, err := l.proc.read()
	if err != nil {
		l.readMu.Unlock()
		t.Fatalf("read the namespace's /proc/net/ip_vs: %v", err)
	}
	read := time.Now()
	joinErr := joinProcIPVS(joined, text)
	joinedAt := time.Now()
	dumps, dumpErr := l.tableByDumps()
	l.readMu.Unlock()
	if joinErr != nil || dumpErr != nil {
		t.Fatalf("join: %v; per-service dumps: %v", joinErr, dumpErr)
	}
	t.Logf("%d services: service dump %v, /proc/net/ip_vs read %v (%d bytes), parse and join %v; a destination dump per service %v",
		len(joined), dumpedAt.Sub(start), read.Sub(dumpedAt), len(text), joinedAt.Sub(read), time.Since(joinedAt))
	if len(joined) != len(vss) {
		t.Errorf("the namespace's table has %d services, expected the %d added", len(joined), len(vss))
	}
	if !reflect.DeepEqual(joined, dumps) {
		t.Errorf("one dump and one read differ from a dump per service:\n  %+v\n  %+v", joined, dumps)
	}

	rootSvcs, err := root.Services()
	if err != nil {
		t.Fatal(err)
	}
	for _, vs := range rootSvcs {
		if vs.Port >= 30000 && vs.Port < 32500 && vs.Protocol == dataplane.UDP {
			t.Errorf("%s of the new namespace listed in the test's namespace", vs.Key())
		}
	}
}

// TestLinuxTableUnderChurn reads the whole table while a second handle keeps adding
// virtual servers in the same namespace, as a proxier programming a burst does. A dump
// spans many reads that the kernel resumes by position, so an addition meanwhile makes it
// repeat entries: no read may list a virtual server twice (ipvsdump's output would not
// even parse) or lose one that was there all along. Seen in the lab cluster: upstream
// kube-proxy adding 10,000 Services made six reads in a row list one twice.
func TestLinuxTableUnderChurn(t *testing.T) {
	labtest.Require(t)
	ls := newLinuxesInNetns(t, 2)
	l, churn := ls[0], ls[1]
	base := proxierTable(3000)
	if err := l.AddServices(base); err != nil {
		t.Fatalf("AddServices(%d): %v", len(base), err)
	}
	// Bounded: a table growing without end makes each read slower (and the guest small).
	const maxAdded = 3000
	stop := make(chan struct{})
	added := make(chan int, 1)
	go func() {
		n := 0
		defer func() { added <- n }()
		for i := range maxAdded {
			select {
			case <-stop:
				return
			default:
			}
			vs := dataplane.VirtualServer{Protocol: dataplane.SCTP, Address: vip(4, 1+i%250), Port: uint16(1 + i/250), Scheduler: "rr"}
			if err := churn.AddService(vs); err != nil {
				t.Errorf("churn: AddService(%s): %v", vs.Key(), err)
				return
			}
			n++
		}
	}()
	readsUnderChurn(t, l, base, 6)
	close(stop)
	t.Logf("%d virtual servers added during the reads", <-added)
}

// readsUnderChurn reads the table n times while another goroutine changes it: each read
// must list no virtual server twice and every one of base, there all along.
func readsUnderChurn(t *testing.T, l *Linux, base []dataplane.VirtualServer, n int) {
	t.Helper()
	for read := range n {
		vss, err := l.Services()
		if err != nil {
			t.Errorf("read %d: %v", read, err)
			continue
		}
		seen := make(map[dataplane.ServiceKey]bool, len(vss))
		for _, vs := range vss {
			if seen[vs.Key()] {
				t.Errorf("read %d: virtual server %s listed twice", read, vs.Key())
			}
			seen[vs.Key()] = true
		}
		for _, vs := range base {
			if !seen[vs.Key()] {
				t.Errorf("read %d: virtual server %s, there all along, is missing", read, vs.Key())
				break
			}
		}
		t.Logf("read %d: %d virtual servers", read, len(vss))
	}
}

// TestLinuxChangesBesideTableRead changes the table through the handle that is reading it,
// as a proxier's partial syncs do during its full resync's read: a change does not wait
// for a read (one is held open while the change is made), and reads made while changes go
// on through the same handle (batches share the dump's socket) each list every virtual
// server that was there all along.
func TestLinuxChangesBesideTableRead(t *testing.T) {
	labtest.Require(t)
	l := newLinuxInNetns(t)
	base := proxierTable(3000)
	if err := l.AddServices(base); err != nil {
		t.Fatalf("AddServices(%d): %v", len(base), err)
	}
	key := base[0].Key()
	extra := dataplane.RealServer{Address: rip(4, 250), Port: 9999, Forward: dataplane.Masq, Weight: 1}

	// A read in progress holds readMu: changes go on.
	l.readMu.Lock()
	err := l.AddRealServer(key, extra)
	if err == nil {
		err = l.DeleteRealServer(key, extra.Key())
	}
	l.readMu.Unlock()
	if err != nil {
		t.Fatalf("change during a held read: %v", err)
	}

	stop := make(chan struct{})
	changed := make(chan int, 1)
	go func() {
		n := 0
		defer func() { changed <- n }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			vs := dataplane.VirtualServer{Protocol: dataplane.SCTP, Address: vip(4, 1+i%250), Port: uint16(1 + (i/250)%200), Scheduler: "rr",
				RealServers: []dataplane.RealServer{extra}}
			err := l.AddServices([]dataplane.VirtualServer{vs})
			if err == nil {
				err = l.DeleteService(vs.Key())
			}
			if err != nil {
				t.Errorf("change %d beside the reads: %v", i, err)
				return
			}
			n++
		}
	}()
	readsUnderChurn(t, l, base, 4)
	close(stop)
	t.Logf("%d virtual servers added and deleted beside the reads", <-changed)
}
