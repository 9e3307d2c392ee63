package ipvs

import (
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

// procTable is what the kernel holds for the join tests: every service attribute the
// dump carries and the file lacks (scheduler flags, ops of IPv6) and a mark whose family
// the file cannot tell.
func procTable() []dataplane.VirtualServer {
	rs := func(a string, w int, fwd dataplane.Forwarding) dataplane.RealServer {
		return dataplane.RealServer{Address: netip.MustParseAddr(a), Port: 8080, Forward: fwd, Weight: w, ActiveConns: w, InactiveConns: 2 * w}
	}
	return []dataplane.VirtualServer{
		{Protocol: dataplane.TCP, Family: 4, Address: netip.MustParseAddr("10.96.0.1"), Port: 443, Scheduler: "mh", SchedFlags: dataplane.SchedFlag1 | dataplane.SchedFlag2,
			RealServers: []dataplane.RealServer{rs("10.244.1.5", 1, dataplane.Masq), rs("10.244.2.7", 0, dataplane.Masq)}},
		{Protocol: dataplane.UDP, Family: 6, Address: netip.MustParseAddr("fd00::a"), Port: 53, Scheduler: "sh", OnePacket: true, Persistent: true, Timeout: 180, PrefixLen: 64,
			RealServers: []dataplane.RealServer{rs("fd00:1::5", 65535, dataplane.Route)}},
		{Protocol: dataplane.SCTP, Family: 4, Address: netip.MustParseAddr("10.96.0.20"), Port: 9999, Scheduler: "rr", Persistent: true, Timeout: 10800, PrefixLen: 24},
		{FWMark: 7, Family: 6, Scheduler: "wrr"},
		{FWMark: 8, Family: 4, Scheduler: "rr", RealServers: []dataplane.RealServer{rs("10.244.3.3", 2, dataplane.Tunnel)}},
	}
}

// dumped is what a service dump reads of vss: each as the kernel holds it (toService),
// translated back, without real servers.
func dumped(tb testing.TB, vss []dataplane.VirtualServer) []dataplane.VirtualServer {
	tb.Helper()
	var out []dataplane.VirtualServer
	for _, vs := range vss {
		s, err := toService(vs)
		if err != nil {
			tb.Fatalf("toService(%s): %v", vs.Key(), err)
		}
		s.Flags |= flagHashed // as the kernel reports it
		back, err := fromService(s)
		if err != nil {
			tb.Fatalf("fromService(toService(%s)): %v", vs.Key(), err)
		}
		out = append(out, back)
	}
	return out
}

func TestJoinProcIPVS(t *testing.T) {
	table := procTable()
	text := func(vss []dataplane.VirtualServer) string {
		return dataplane.FormatProcIPVS(dataplane.IPVS{Services: vss}, dataplane.DebianKernelHZ)
	}
	t.Run("the same services", func(t *testing.T) {
		// A kernel of any HZ: the file's timeouts are not used.
		for _, hz := range []int{100, 250, 300, 1000} {
			got := dumped(t, table)
			if err := joinProcIPVS(got, dataplane.FormatProcIPVS(dataplane.IPVS{Services: table}, hz)); err != nil {
				t.Fatalf("HZ %d: %v", hz, err)
			}
			if !reflect.DeepEqual(got, table) {
				t.Errorf("HZ %d: joined\n  %+v\nexpected\n  %+v", hz, got, table)
			}
		}
	})
	t.Run("the file in another order", func(t *testing.T) {
		file := slices.Clone(table)
		slices.Reverse(file)
		got := dumped(t, table)
		if err := joinProcIPVS(got, text(file)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, table) {
			t.Errorf("joined\n  %+v\nexpected\n  %+v", got, table)
		}
	})
	for _, c := range []struct {
		name       string
		dump, file []dataplane.VirtualServer
		wantErr    string
	}{
		{"a service added between the reads", table[:4], table, "lists 5 virtual servers, the netlink dump 4"},
		{"a service deleted between the reads", table, table[1:], "lists 4 virtual servers, the netlink dump 5"},
		{"one service replaced by another", table[1:], append([]dataplane.VirtualServer{table[0]}, table[2:]...), "UDP [fd00::a]:53 is in the netlink dump but not in /proc/net/ip_vs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := joinProcIPVS(dumped(t, c.dump), text(c.file))
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("joinProcIPVS: %v, expected an error with %q", err, c.wantErr)
			}
		})
	}
	t.Run("unreadable text", func(t *testing.T) {
		if err := joinProcIPVS(dumped(t, table), text(table)+"BOGUS  line\n"); err == nil {
			t.Error("joinProcIPVS of a bad line: no error, expected the parser's")
		}
	})
}

// BenchmarkJoinProcIPVS parses and joins the file of a proxier at 10,000 Services, as a
// full resync does after the service dump.
func BenchmarkJoinProcIPVS(b *testing.B) {
	table := proxierTable(benchServices)
	text := dataplane.FormatProcIPVS(dataplane.IPVS{Services: table}, dataplane.DebianKernelHZ)
	vss := dumped(b, table)
	b.ReportAllocs()
	for b.Loop() {
		if err := joinProcIPVS(vss, text); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzJoinProcIPVS feeds the file's text to the join with the dump of the kernel's own
// capture: it must not panic, and a join without error gives every dumped service once.
func FuzzJoinProcIPVS(f *testing.F) {
	capture, err := os.ReadFile("../../../framework/dataplane/testdata/lab/proc-net-ip_vs.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(capture))
	f.Add(dataplane.FormatProcIPVS(dataplane.IPVS{Services: procTable()}, dataplane.DebianKernelHZ))
	want, err := dataplane.ParseProcIPVS(string(capture))
	if err != nil {
		f.Fatal(err)
	}
	svcs := dumped(f, want.Services)
	f.Fuzz(func(t *testing.T, text string) {
		got := slices.Clone(svcs)
		if err := joinProcIPVS(got, text); err != nil {
			return
		}
		if len(got) != len(svcs) {
			t.Fatalf("joined %d services from a dump of %d", len(got), len(svcs))
		}
		seen := map[dataplane.ServiceKey]bool{}
		for _, vs := range got {
			if seen[vs.Key()] {
				t.Fatalf("%s joined twice", vs.Key())
			}
			seen[vs.Key()] = true
		}
	})
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
	root, err := NewLinux()
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

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
	l.mu.Lock()
	start := time.Now()
	joined, err := l.dumpServices()
	if err != nil {
		l.mu.Unlock()
		t.Fatal(err)
	}
	dumpedAt := time.Now()
	text, err := l.proc.read()
	if err != nil {
		l.mu.Unlock()
		t.Fatalf("read the namespace's /proc/net/ip_vs: %v", err)
	}
	read := time.Now()
	joinErr := joinProcIPVS(joined, text)
	joinedAt := time.Now()
	dumps, dumpErr := l.tableByDumps()
	l.mu.Unlock()
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
	for read := range 6 {
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
	close(stop)
	t.Logf("%d virtual servers added during the reads", <-added)
}
