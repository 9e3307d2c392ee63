package conntrack

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// Addresses of the contract: clients from documentation ranges, so the lab's own traffic
// never mixes in.
var (
	client4 = netip.MustParseAddr("198.51.100.7")
	client6 = netip.MustParseAddr("2001:db8::7")
)

func udp(src netip.Addr, sport uint16, dst, replySrc string) Flow {
	d, r := netip.MustParseAddrPort(dst), netip.MustParseAddrPort(replySrc)
	s := netip.AddrPortFrom(src, sport)
	return Flow{Protocol: ProtoUDP, OrigSrc: s, OrigDst: d, ReplySrc: r, ReplyDst: s}
}

// testFilter is the filter of the tests: 10.96.0.10:53 and [fd00:96::10]:53 keep one
// endpoint each, 10.96.0.11:5353 has none left, NodePort 30053 keeps 10.244.1.5:53.
func testFilter() *StaleFilter {
	return &StaleFilter{
		Frontends: map[netip.AddrPort]Endpoints{
			netip.MustParseAddrPort("10.96.0.10:53"):    endpoints("10.244.1.5:53"),
			netip.MustParseAddrPort("10.96.0.11:5353"):  endpoints(),
			netip.MustParseAddrPort("[fd00:96::10]:53"): endpoints("[fd00:244::1]:53"),
		},
		NodePorts: map[uint16]Endpoints{30053: endpoints("10.244.1.5:53")},
	}
}

func endpoints(eps ...string) Endpoints {
	out := Endpoints{}
	for _, e := range eps {
		out[netip.MustParseAddrPort(e)] = true
	}
	return out
}

// testContract is what both the fake and the kernel's table (in the lab) must do. add puts
// entries into the table under test.
func testContract(t *testing.T, newImpl func(t *testing.T) (Interface, func(t *testing.T, flows ...Flow))) {
	var (
		keep4     = udp(client4, 40001, "10.96.0.10:53", "10.244.1.5:53")       // to a serving endpoint
		removed4  = udp(client4, 40002, "10.96.0.10:53", "10.244.2.6:53")       // its endpoint is gone
		noEps4    = udp(client4, 40003, "10.96.0.11:5353", "10.244.3.7:5353")   // Service has no endpoint left
		nodePort4 = udp(client4, 40004, "192.0.2.1:30053", "10.244.2.6:53")     // NodePort to a gone endpoint
		nodeOK4   = udp(client4, 40005, "192.0.2.1:30053", "10.244.1.5:53")     // NodePort to a serving one
		other4    = udp(client4, 40006, "10.96.0.12:53", "10.244.9.9:53")       // not a Service of the filter
		removed6  = udp(client6, 40007, "[fd00:96::10]:53", "[fd00:244::2]:53") // IPv6, endpoint gone
		keep6     = udp(client6, 40008, "[fd00:96::10]:53", "[fd00:244::1]:53")
	)
	filter := testFilter()
	ours := func(t *testing.T, c Interface, family int) []Flow {
		t.Helper()
		all, err := c.List(family)
		if err != nil {
			t.Fatalf("List(%d): %v", family, err)
		}
		var out []Flow
		for _, f := range all {
			if a := f.OrigSrc.Addr(); a == client4 || a == client6 {
				out = append(out, Flow{Protocol: f.Protocol, OrigSrc: f.OrigSrc, OrigDst: f.OrigDst, ReplySrc: f.ReplySrc, ReplyDst: f.ReplyDst})
			}
		}
		slices.SortFunc(out, func(a, b Flow) int { return int(a.OrigSrc.Port()) - int(b.OrigSrc.Port()) })
		return out
	}
	show := func(fs []Flow) string {
		var b strings.Builder
		for _, f := range fs {
			b.WriteString("\n\t" + f.OrigSrc.String() + " -> " + f.OrigDst.String() + " reply from " + f.ReplySrc.String())
		}
		return b.String()
	}

	t.Run("list returns added entries", func(t *testing.T) {
		c, add := newImpl(t)
		add(t, keep4, removed6)
		if got := ours(t, c, 4); !slices.Equal(got, []Flow{keep4}) {
			t.Errorf("List(4) = %s\nexpected %s", show(got), show([]Flow{keep4}))
		}
		if got := ours(t, c, 6); !slices.Equal(got, []Flow{removed6}) {
			t.Errorf("List(6) = %s\nexpected %s", show(got), show([]Flow{removed6}))
		}
	})

	t.Run("delete stale removes exactly the stale entries of the family", func(t *testing.T) {
		c, add := newImpl(t)
		add(t, keep4, removed4, noEps4, nodePort4, nodeOK4, other4, removed6, keep6)
		n, err := c.DeleteStale(4, filter)
		if err != nil {
			t.Fatalf("DeleteStale(4): %v", err)
		}
		if n != 3 {
			t.Errorf("DeleteStale(4) deleted %d entries, expected 3", n)
		}
		if got, want := ours(t, c, 4), []Flow{keep4, nodeOK4, other4}; !slices.Equal(got, want) {
			t.Errorf("after DeleteStale(4), IPv4 entries: %s\nexpected %s", show(got), show(want))
		}
		if got, want := ours(t, c, 6), []Flow{removed6, keep6}; !slices.Equal(got, want) {
			t.Errorf("DeleteStale(4) touched IPv6 entries: %s\nexpected %s", show(got), show(want))
		}
		n, err = c.DeleteStale(6, filter)
		if err != nil {
			t.Fatalf("DeleteStale(6): %v", err)
		}
		if n != 1 {
			t.Errorf("DeleteStale(6) deleted %d entries, expected 1", n)
		}
		if got, want := ours(t, c, 6), []Flow{keep6}; !slices.Equal(got, want) {
			t.Errorf("after DeleteStale(6), IPv6 entries: %s\nexpected %s", show(got), show(want))
		}
	})

	t.Run("empty filter deletes nothing", func(t *testing.T) {
		c, add := newImpl(t)
		add(t, keep4, removed4)
		if n, err := c.DeleteStale(4, NewStaleFilter()); err != nil || n != 0 {
			t.Errorf("DeleteStale(4, empty) = %d, %v; expected 0, nil", n, err)
		}
		if got := ours(t, c, 4); len(got) != 2 {
			t.Errorf("after an empty filter: %s\nexpected both entries", show(got))
		}
	})

	t.Run("unknown family fails", func(t *testing.T) {
		c, _ := newImpl(t)
		_, err := c.DeleteStale(5, filter)
		wanterr.Check(t, err, "expected 4 or 6")
	})
}
