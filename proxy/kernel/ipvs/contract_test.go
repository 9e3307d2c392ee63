package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// labSchedulers are the schedulers shown working in the kernel lab (twos is newer than
// its kernel's module set).
var labSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf"}

// testContract is what the fake and the kernel (in the lab) must both do. Every virtual
// server it creates uses documentation addresses (198.51.100.0/24, 2001:db8::/32) and is
// deleted again, because the lab's tests share one kernel.
func testContract(t *testing.T, newImpl func(t *testing.T) Interface) {
	t.Run("services of every protocol and family", func(t *testing.T) {
		h := newImpl(t)
		for i, proto := range []dataplane.Protocol{dataplane.TCP, dataplane.UDP, dataplane.SCTP} {
			for _, fam := range []int{4, 6} {
				vs := dataplane.VirtualServer{
					Protocol: proto, Address: vip(fam, 1+i), Port: 80, Scheduler: "rr",
				}
				addService(t, h, vs)
				rss := []dataplane.RealServer{
					{Address: rip(fam, 1), Port: 8080, Forward: dataplane.Masq, Weight: 1},
					{Address: rip(fam, 2), Port: 8080, Forward: dataplane.Masq, Weight: 0},
					{Address: rip(fam, 3), Port: 8081, Forward: dataplane.Masq, Weight: 100},
				}
				for _, rs := range rss {
					if err := h.AddRealServer(vs.Key(), rs); err != nil {
						t.Fatalf("AddRealServer(%s, %s): %v", vs.Key(), rs.Key(), err)
					}
				}
				want := vs
				want.Family = fam
				want.RealServers = rss
				expectService(t, h, want)

				rss[1].Weight = 5
				if err := h.UpdateRealServer(vs.Key(), rss[1]); err != nil {
					t.Fatalf("UpdateRealServer: %v", err)
				}
				if err := h.DeleteRealServer(vs.Key(), rss[0].Key()); err != nil {
					t.Fatalf("DeleteRealServer: %v", err)
				}
				want.RealServers = rss[1:]
				expectService(t, h, want)

				if err := h.DeleteService(vs.Key()); err != nil {
					t.Fatalf("DeleteService(%s): %v", vs.Key(), err)
				}
				if got, ok := lookup(t, h, vs.Key()); ok {
					t.Errorf("%s still listed after DeleteService: %+v", vs.Key(), got)
				}
			}
		}
	})

	t.Run("every scheduler", func(t *testing.T) {
		h := newImpl(t)
		vs := dataplane.VirtualServer{Protocol: dataplane.TCP, Address: vip(4, 10), Port: 443, Scheduler: "rr"}
		addService(t, h, vs)
		for _, s := range labSchedulers {
			vs.Scheduler = s
			if err := h.UpdateService(vs); err != nil {
				t.Fatalf("UpdateService to scheduler %s: %v", s, err)
			}
			want := vs
			want.Family = 4
			expectService(t, h, want)
		}
		for i, s := range labSchedulers {
			other := dataplane.VirtualServer{Protocol: dataplane.UDP, Address: vip(6, 20+i), Port: 53, Scheduler: s}
			addService(t, h, other)
			other.Family = 6
			expectService(t, h, other)
		}
	})

	t.Run("scheduler flags", func(t *testing.T) {
		h := newImpl(t)
		for i, s := range []string{"mh", "sh"} {
			vs := dataplane.VirtualServer{
				Protocol: dataplane.TCP, Address: vip(4, 30+i), Port: 80, Scheduler: s,
				SchedFlags: dataplane.SchedFlag1 | dataplane.SchedFlag2,
			}
			addService(t, h, vs)
			vs.Family = 4
			expectService(t, h, vs)
			vs.SchedFlags = dataplane.SchedFlag2
			if err := h.UpdateService(vs); err != nil {
				t.Fatalf("UpdateService(%s) to flags %#x: %v", vs.Key(), vs.SchedFlags, err)
			}
			expectService(t, h, vs)
		}
	})

	t.Run("persistence, netmask and ops", func(t *testing.T) {
		h := newImpl(t)
		cases := []dataplane.VirtualServer{
			{Protocol: dataplane.TCP, Address: vip(4, 40), Port: 80, Scheduler: "rr", Persistent: true, Timeout: 10800},
			{Protocol: dataplane.TCP, Address: vip(4, 41), Port: 80, Scheduler: "wrr", Persistent: true, Timeout: 120, PrefixLen: 24},
			{Protocol: dataplane.TCP, Address: vip(6, 42), Port: 80, Scheduler: "rr", Persistent: true, Timeout: 300, PrefixLen: 64},
			{Protocol: dataplane.UDP, Address: vip(4, 43), Port: 53, Scheduler: "rr", OnePacket: true},
			{Protocol: dataplane.UDP, Address: vip(6, 44), Port: 53, Scheduler: "sh", OnePacket: true, Persistent: true, Timeout: 60},
		}
		for _, vs := range cases {
			addService(t, h, vs)
			vs.Family = family(vs.Key())
			expectService(t, h, vs)
		}
		// Persistence switched off: the timeout no longer shows.
		vs := cases[0]
		vs.Persistent = false
		if err := h.UpdateService(vs); err != nil {
			t.Fatalf("UpdateService(%s) without persistence: %v", vs.Key(), err)
		}
		vs.Family, vs.Timeout = 4, 0
		expectService(t, h, vs)
	})

	t.Run("the whole table agrees with each service's real servers", func(t *testing.T) {
		h := newImpl(t)
		// Every attribute a service or real server carries, both families of one mark (one
		// of them without real servers), then enough services that a listing spans many
		// pages of the kernel's text output.
		vss := []dataplane.VirtualServer{
			{Protocol: dataplane.TCP, Address: vip(6, 80), Port: 80, Scheduler: "rr", RealServers: []dataplane.RealServer{rs(6, 1, dataplane.Masq, 0), rs(6, 2, dataplane.Route, 7)}},
			{Protocol: dataplane.UDP, Address: vip(4, 81), Port: 53, Scheduler: "sh", OnePacket: true, Persistent: true, Timeout: 60, PrefixLen: 24, RealServers: []dataplane.RealServer{rs(4, 1, dataplane.Tunnel, 0)}},
			{Protocol: dataplane.SCTP, Address: vip(6, 82), Port: 9, Scheduler: "wrr", Persistent: true, Timeout: 300, PrefixLen: 64},
			{Protocol: dataplane.TCP, Address: vip(4, 83), Port: 80, Scheduler: "mh", SchedFlags: dataplane.SchedFlag1 | dataplane.SchedFlag2, RealServers: []dataplane.RealServer{rs(4, 2, dataplane.Masq, 65535), rs(4, 3, dataplane.Masq, 0)}},
			{FWMark: 0x4f8, Family: 4, Scheduler: "rr", RealServers: []dataplane.RealServer{rs(4, 4, dataplane.Masq, 1)}},
			{FWMark: 0x4f8, Family: 6, Scheduler: "lc"},
			{FWMark: 0x4f9, Family: 6, Scheduler: "rr", Persistent: true, Timeout: 30, PrefixLen: 96, RealServers: []dataplane.RealServer{rs(6, 3, dataplane.Masq, 2)}},
		}
		for i := range 2000 {
			fam := 4 + 2*(i%2)
			vss = append(vss, dataplane.VirtualServer{
				Protocol: dataplane.TCP, Address: vip(fam, 200+i%50), Port: uint16(20000 + i), Scheduler: "rr",
				RealServers: []dataplane.RealServer{rs(fam, 10+i%200, dataplane.Masq, 1), rs(fam, 220, dataplane.Masq, i%3)},
			})
		}
		cleanupServices(t, h, slices.Clone(vss))
		if err := h.AddServices(vss); err != nil {
			t.Fatalf("AddServices(%d virtual servers): %v", len(vss), err)
		}
		expectTable(t, h, vss)

		// Changes behind the reader's back show in the next listing.
		vss[0].RealServers[0].Weight = 3
		if err := h.UpdateRealServer(vss[0].Key(), vss[0].RealServers[0]); err != nil {
			t.Fatalf("UpdateRealServer: %v", err)
		}
		if err := h.DeleteRealServer(vss[8].Key(), vss[8].RealServers[1].Key()); err != nil {
			t.Fatalf("DeleteRealServer: %v", err)
		}
		vss[8].RealServers = vss[8].RealServers[:1]
		if err := h.DeleteService(vss[9].Key()); err != nil {
			t.Fatalf("DeleteService: %v", err)
		}
		vss = slices.Delete(vss, 9, 10)
		expectTable(t, h, vss)
	})

	t.Run("firewall-mark services", func(t *testing.T) {
		h := newImpl(t)
		for _, fam := range []int{4, 6} {
			vs := dataplane.VirtualServer{FWMark: uint32(0x4e0 + fam), Family: fam, Scheduler: "rr"}
			addService(t, h, vs)
			rs := dataplane.RealServer{Address: rip(fam, 9), Port: 80, Forward: dataplane.Masq, Weight: 1}
			if err := h.AddRealServer(vs.Key(), rs); err != nil {
				t.Fatalf("AddRealServer(%s): %v", vs.Key(), err)
			}
			vs.RealServers = []dataplane.RealServer{rs}
			expectService(t, h, vs)
		}
	})

	t.Run("forwarding methods", func(t *testing.T) {
		h := newImpl(t)
		vs := dataplane.VirtualServer{Protocol: dataplane.TCP, Address: vip(4, 50), Port: 80, Scheduler: "rr"}
		addService(t, h, vs)
		for i, fwd := range []dataplane.Forwarding{dataplane.Masq, dataplane.Route, dataplane.Tunnel} {
			rs := dataplane.RealServer{Address: rip(4, 20+i), Port: 80, Forward: fwd, Weight: 1}
			if err := h.AddRealServer(vs.Key(), rs); err != nil {
				t.Fatalf("AddRealServer(%s) forwarding %s: %v", rs.Key(), fwd, err)
			}
			vs.RealServers = append(vs.RealServers, rs)
		}
		vs.Family = 4
		expectService(t, h, vs)
		vs.RealServers[1].Forward = dataplane.Masq
		if err := h.UpdateRealServer(vs.Key(), vs.RealServers[1]); err != nil {
			t.Fatalf("UpdateRealServer to Masq: %v", err)
		}
		expectService(t, h, vs)
	})

	t.Run("refusals carry the kernel's errno", func(t *testing.T) {
		h := newImpl(t)
		vs := dataplane.VirtualServer{Protocol: dataplane.TCP, Address: vip(4, 60), Port: 80, Scheduler: "rr"}
		missing := dataplane.VirtualServer{Protocol: dataplane.TCP, Address: vip(4, 61), Port: 80, Scheduler: "rr"}
		rs := dataplane.RealServer{Address: rip(4, 30), Port: 80, Forward: dataplane.Masq, Weight: 1}
		absent := dataplane.RealServer{Address: rip(4, 31), Port: 80, Forward: dataplane.Masq, Weight: 1}
		addService(t, h, vs)
		if err := h.AddRealServer(vs.Key(), rs); err != nil {
			t.Fatal(err)
		}
		unknownSched := missing
		unknownSched.Scheduler = "no-such-sched"
		t.Cleanup(func() { _ = h.DeleteService(unknownSched.Key()) })
		v6rs := dataplane.RealServer{Address: rip(6, 1), Port: 80, Forward: dataplane.Masq, Weight: 1}
		negative := absent
		negative.Weight = -1
		for _, c := range []struct {
			name string
			err  error
			want syscall.Errno
		}{
			{"add existing service", h.AddService(vs), syscall.EEXIST},
			{"add with unknown scheduler", h.AddService(unknownSched), syscall.ENOENT},
			{"update missing service", h.UpdateService(missing), syscall.ESRCH},
			{"delete missing service", h.DeleteService(missing.Key()), syscall.ESRCH},
			{"add real server to missing service", h.AddRealServer(missing.Key(), rs), syscall.ESRCH},
			{"add existing real server", h.AddRealServer(vs.Key(), rs), syscall.EEXIST},
			{"update missing real server", h.UpdateRealServer(vs.Key(), absent), syscall.ENOENT},
			{"delete missing real server", h.DeleteRealServer(vs.Key(), absent.Key()), syscall.ENOENT},
			{"negative weight", h.AddRealServer(vs.Key(), negative), syscall.ERANGE},
			{"IPv6 real server in IPv4 service", h.AddRealServer(vs.Key(), v6rs), syscall.EINVAL},
		} {
			if !errors.Is(c.err, c.want) {
				t.Errorf("%s: error %v, expected %s (%d)", c.name, c.err, c.want.Error(), int(c.want))
			}
		}
		// The kernel's destination dump finds no service and lists nothing, without an error.
		if rss, err := h.RealServers(missing.Key()); err != nil || len(rss) != 0 {
			t.Errorf("RealServers of a missing service: %v, %v; expected none and no error, as the kernel's dump", rss, err)
		}
		if _, ok := lookup(t, h, unknownSched.Key()); ok {
			t.Errorf("a refused AddService left %s behind", unknownSched.Key())
		}
		want := vs
		want.Family = 4
		want.RealServers = []dataplane.RealServer{rs}
		expectService(t, h, want)
	})

	t.Run("services are added in batches", func(t *testing.T) {
		h := newImpl(t)
		// Every attribute the single calls are shown to carry, then enough plain virtual
		// servers for more than two sends of real servers.
		varied := []dataplane.VirtualServer{
			{Protocol: dataplane.TCP, Address: vip(4, 70), Port: 80, Scheduler: "rr", RealServers: []dataplane.RealServer{rs(4, 1, dataplane.Masq, 1), rs(4, 2, dataplane.Route, 0), rs(4, 3, dataplane.Tunnel, 100)}},
			{Protocol: dataplane.UDP, Address: vip(6, 71), Port: 53, Scheduler: "sh", OnePacket: true, Persistent: true, Timeout: 60, RealServers: []dataplane.RealServer{rs(6, 1, dataplane.Masq, 1)}},
			{Protocol: dataplane.SCTP, Address: vip(4, 72), Port: 9, Scheduler: "wrr", Persistent: true, Timeout: 120, PrefixLen: 24},
			{Protocol: dataplane.TCP, Address: vip(6, 73), Port: 443, Scheduler: "rr", Persistent: true, Timeout: 300, PrefixLen: 64, RealServers: []dataplane.RealServer{rs(6, 2, dataplane.Masq, 3)}},
			{Protocol: dataplane.TCP, Address: vip(4, 74), Port: 80, Scheduler: "mh", SchedFlags: dataplane.SchedFlag1 | dataplane.SchedFlag2, RealServers: []dataplane.RealServer{rs(4, 4, dataplane.Masq, 1)}},
			{FWMark: 0x4f0, Family: 6, Scheduler: "rr", RealServers: []dataplane.RealServer{rs(6, 3, dataplane.Masq, 1)}},
		}
		vss := slices.Clone(varied)
		for i := range 150 {
			vss = append(vss, dataplane.VirtualServer{
				Protocol: dataplane.TCP, Address: vip(4, 100+i/10), Port: uint16(1000 + i), Scheduler: "rr",
				RealServers: []dataplane.RealServer{rs(4, 10, dataplane.Masq, 1), rs(4, 11, dataplane.Masq, 1)},
			})
		}
		cleanupServices(t, h, vss)
		if err := h.AddServices(vss); err != nil {
			t.Fatalf("AddServices(%d virtual servers): %v", len(vss), err)
		}
		for _, vs := range varied {
			vs.Family = family(vs.Key())
			expectService(t, h, vs)
		}
		// The plain ones from one listing: reading each alone is slow in the lab.
		svcs, err := h.Services()
		if err != nil {
			t.Fatal(err)
		}
		listed := dataplane.IPVS{Services: svcs}
		for _, want := range vss[len(varied):] {
			got, ok := listed.Service(want.Key())
			if !ok || got.Scheduler != "rr" || len(got.RealServers) != 2 || !slices.ContainsFunc(got.RealServers, func(r dataplane.RealServer) bool {
				return r.Key() == want.RealServers[0].Key() && r.Weight == 1 && r.Forward == dataplane.Masq
			}) {
				t.Errorf("%s listed as %+v (found %v), expected %+v", want.Key(), got, ok, want)
			}
		}
		if err := h.AddServices(nil); err != nil {
			t.Errorf("AddServices of none: %v", err)
		}
	})

	t.Run("a batch applies all but the refused objects", func(t *testing.T) {
		h := newImpl(t)
		good := dataplane.RealServer{Address: rip(4, 40), Port: 80, Forward: dataplane.Masq, Weight: 1}
		other := dataplane.RealServer{Address: rip(4, 41), Port: 80, Forward: dataplane.Masq, Weight: 1}
		v6rs := dataplane.RealServer{Address: rip(6, 40), Port: 80, Forward: dataplane.Masq, Weight: 1}
		existing := dataplane.VirtualServer{Protocol: dataplane.TCP, Address: vip(4, 80), Port: 80, Scheduler: "rr"}
		addService(t, h, existing)
		withRS := existing
		withRS.RealServers = []dataplane.RealServer{good}
		vss := []dataplane.VirtualServer{
			{Protocol: dataplane.TCP, Address: vip(4, 81), Port: 80, Scheduler: "rr", RealServers: []dataplane.RealServer{good}},
			withRS, // refused: exists; its real server is not tried
			{Protocol: dataplane.TCP, Address: vip(4, 82), Port: 80, Scheduler: "no-such-sched", RealServers: []dataplane.RealServer{good}},
			{Protocol: dataplane.TCP, Address: vip(4, 83), Port: 80, Scheduler: "rr", RealServers: []dataplane.RealServer{good, v6rs, good, other}},
		}
		cleanupServices(t, h, vss)
		err := h.AddServices(vss)
		var be *BatchError
		if !errors.As(err, &be) {
			t.Fatalf("AddServices with refused objects: %v, expected a *BatchError", err)
		}
		type failure struct {
			svc  dataplane.ServiceKey
			rs   dataplane.RealServerKey
			want syscall.Errno
		}
		want := []failure{
			{vss[1].Key(), dataplane.RealServerKey{}, syscall.EEXIST},
			{vss[2].Key(), dataplane.RealServerKey{}, syscall.ENOENT},
			{vss[3].Key(), v6rs.Key(), syscall.EINVAL},
			{vss[3].Key(), good.Key(), syscall.EEXIST},
		}
		if be.Services != len(vss) || len(be.Failed) != len(want) {
			t.Fatalf("BatchError = %v, expected %d failures", be, len(want))
		}
		for i, w := range want {
			if f := be.Failed[i]; f.Service != w.svc || f.RealServer != w.rs || !errors.Is(f, w.want) {
				t.Errorf("failure %d = %s %s %v, expected %s %s with %s", i, f.Service, f.RealServer, f.Err, w.svc, w.rs, w.want.Error())
			}
		}
		expectService(t, h, dataplane.VirtualServer{Protocol: dataplane.TCP, Family: 4, Address: vip(4, 81), Port: 80, Scheduler: "rr", RealServers: []dataplane.RealServer{good}})
		existing.Family = 4
		expectService(t, h, existing)
		if _, ok := lookup(t, h, vss[2].Key()); ok {
			t.Errorf("a refused virtual server %s was created", vss[2].Key())
		}
		expectService(t, h, dataplane.VirtualServer{Protocol: dataplane.TCP, Family: 4, Address: vip(4, 83), Port: 80, Scheduler: "rr", RealServers: []dataplane.RealServer{good, other}})
	})

	t.Run("timeouts", func(t *testing.T) {
		h := newImpl(t)
		old, err := h.Timeouts()
		if err != nil {
			t.Fatalf("Timeouts: %v", err)
		}
		if old.TCP == 0 || old.TCPFin == 0 || old.UDP == 0 {
			t.Fatalf("Timeouts() = %+v, expected three non-zero values", old)
		}
		t.Cleanup(func() {
			if err := h.SetTimeouts(old); err != nil {
				t.Errorf("restore timeouts %+v: %v", old, err)
			}
		})
		set := dataplane.Timeouts{TCP: 1800, TCPFin: 30, UDP: 60}
		if err := h.SetTimeouts(set); err != nil {
			t.Fatalf("SetTimeouts(%+v): %v", set, err)
		}
		expectTimeouts(t, h, set)
		if err := h.SetTimeouts(dataplane.Timeouts{TCPFin: 45}); err != nil {
			t.Fatalf("SetTimeouts with zeros: %v", err)
		}
		set.TCPFin = 45
		expectTimeouts(t, h, set)
	})
}

// vip is a virtual address from a documentation range.
func vip(fam, n int) netip.Addr {
	if fam == 6 {
		return netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", n))
	}
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(n)})
}

// rip is a real-server address from a documentation range.
func rip(fam, n int) netip.Addr {
	if fam == 6 {
		return netip.MustParseAddr(fmt.Sprintf("2001:db8:1::%x", n))
	}
	return netip.AddrFrom4([4]byte{203, 0, 113, byte(n)})
}

// rs is real server n of the family on port 8080.
func rs(fam, n int, fwd dataplane.Forwarding, w int) dataplane.RealServer {
	return dataplane.RealServer{Address: rip(fam, n), Port: 8080, Forward: fwd, Weight: w}
}

// addService adds vs and deletes it when the test ends.
func addService(t *testing.T, h Interface, vs dataplane.VirtualServer) {
	t.Helper()
	if err := h.AddService(vs); err != nil {
		t.Fatalf("AddService(%s): %v", vs.Key(), err)
	}
	t.Cleanup(func() {
		if err := h.DeleteService(vs.Key()); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("cleanup: DeleteService(%s): %v", vs.Key(), err)
		}
	})
}

// cleanupServices deletes, when the test ends, those of vss that exist then.
func cleanupServices(t *testing.T, h Interface, vss []dataplane.VirtualServer) {
	t.Helper()
	t.Cleanup(func() {
		for _, vs := range vss {
			if err := h.DeleteService(vs.Key()); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Errorf("cleanup: DeleteService(%s): %v", vs.Key(), err)
			}
		}
	})
}

func lookup(t *testing.T, h Interface, k dataplane.ServiceKey) (dataplane.VirtualServer, bool) {
	t.Helper()
	svcs, err := h.Services()
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	return dataplane.IPVS{Services: svcs}.Service(k)
}

// expectService compares the listed virtual server with want, real servers in any order
// and without their counters.
func expectService(t *testing.T, h Interface, want dataplane.VirtualServer) {
	t.Helper()
	got, ok := lookup(t, h, want.Key())
	if !ok {
		t.Fatalf("%s not listed", want.Key())
	}
	expectListed(t, h, got, want)
}

// expectListed checks a listed virtual server against want, counters ignored, and that
// RealServers of it lists the same real servers.
func expectListed(t *testing.T, h Interface, got, want dataplane.VirtualServer) {
	t.Helper()
	g, w := stripCounters(got), stripCounters(want)
	if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", w) {
		t.Errorf("%s listed as\n  %+v\nexpected\n  %+v", want.Key(), g, w)
	}
	rss, err := h.RealServers(want.Key())
	if err != nil {
		t.Fatalf("RealServers(%s): %v", want.Key(), err)
	}
	if r := stripCounters(dataplane.VirtualServer{RealServers: rss}).RealServers; fmt.Sprintf("%+v", r) != fmt.Sprintf("%+v", w.RealServers) {
		t.Errorf("RealServers(%s) = %+v, expected the listed %+v", want.Key(), r, w.RealServers)
	}
}

// expectTable checks that Services lists each of want as it is (real servers in any order,
// counters ignored), that RealServers of each agrees, and that nothing else in the
// listing uses want's addresses and ports (other tests' services may share the kernel).
func expectTable(t *testing.T, h Interface, want []dataplane.VirtualServer) {
	t.Helper()
	svcs, err := h.Services()
	if err != nil {
		t.Fatalf("Services: %v", err)
	}
	wanted := make(map[dataplane.ServiceKey]dataplane.VirtualServer, len(want))
	for _, vs := range want {
		vs.Family = family(vs.Key())
		wanted[vs.Key()] = stripCounters(vs)
	}
	seen := map[dataplane.ServiceKey]bool{}
	for _, got := range svcs {
		w, ok := wanted[got.Key()]
		if !ok {
			continue
		}
		if seen[got.Key()] {
			t.Errorf("%s listed twice", got.Key())
		}
		seen[got.Key()] = true
		expectListed(t, h, got, w)
	}
	for k := range wanted {
		if !seen[k] {
			t.Errorf("%s not listed", k)
		}
	}
}

// stripCounters returns vs with its real servers sorted, without connection counters, nil
// when there are none.
func stripCounters(vs dataplane.VirtualServer) dataplane.VirtualServer {
	vs.RealServers = slices.Clone(vs.RealServers)
	for i := range vs.RealServers {
		vs.RealServers[i].ActiveConns, vs.RealServers[i].InactiveConns = 0, 0
	}
	slices.SortFunc(vs.RealServers, func(a, b dataplane.RealServer) int { return a.Key().Compare(b.Key()) })
	if len(vs.RealServers) == 0 {
		vs.RealServers = nil
	}
	return vs
}

func expectTimeouts(t *testing.T, h Interface, want dataplane.Timeouts) {
	t.Helper()
	got, err := h.Timeouts()
	if err != nil {
		t.Fatalf("Timeouts: %v", err)
	}
	if got != want {
		t.Errorf("Timeouts() = %+v, expected %+v", got, want)
	}
}
