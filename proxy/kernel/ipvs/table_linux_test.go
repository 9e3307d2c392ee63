package ipvs

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
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
			wanterr.Check(t, joinProcIPVS(dumped(t, c.dump), text(c.file)), c.wantErr)
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
	capture := fixture.ReadRepo(f, "framework/dataplane/testdata/lab/proc-net-ip_vs.txt")
	f.Add(capture)
	f.Add(dataplane.FormatProcIPVS(dataplane.IPVS{Services: procTable()}, dataplane.DebianKernelHZ))
	want, err := dataplane.ParseProcIPVS(capture)
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

// benchServices is the IPVS table of a proxier at that many Services: a ClusterIP each
// (one in ten UDP), two endpoints each.
const benchServices = 10000

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
