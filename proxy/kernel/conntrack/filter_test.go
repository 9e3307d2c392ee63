package conntrack

import (
	"net/netip"
	"testing"
)

func TestStaleFilter(t *testing.T) {
	f := testFilter()
	mapped := func(fl Flow) Flow {
		fl.OrigDst = netip.AddrPortFrom(netip.AddrFrom16(fl.OrigDst.Addr().As16()), fl.OrigDst.Port())
		fl.ReplySrc = netip.AddrPortFrom(netip.AddrFrom16(fl.ReplySrc.Addr().As16()), fl.ReplySrc.Port())
		return fl
	}
	tcp := udp(client4, 1, "10.96.0.10:53", "10.244.2.6:53")
	tcp.Protocol = 6
	for _, tc := range []struct {
		name string
		flow Flow
		want bool
	}{
		{"serving endpoint", udp(client4, 1, "10.96.0.10:53", "10.244.1.5:53"), false},
		{"removed endpoint", udp(client4, 1, "10.96.0.10:53", "10.244.2.6:53"), true},
		{"serving IP on another port", udp(client4, 1, "10.96.0.10:53", "10.244.1.5:54"), true},
		{"Service without endpoints", udp(client4, 1, "10.96.0.11:5353", "10.244.1.5:5353"), true},
		{"Service IP on a port not in the filter", udp(client4, 1, "10.96.0.10:54", "10.244.2.6:54"), false},
		{"address not in the filter", udp(client4, 1, "10.96.0.12:53", "10.244.2.6:53"), false},
		{"NodePort to removed endpoint", udp(client4, 1, "192.0.2.1:30053", "10.244.2.6:53"), true},
		{"NodePort to serving endpoint", udp(client4, 1, "192.0.2.1:30053", "10.244.1.5:53"), false},
		{"IPv6 removed endpoint", udp(client6, 1, "[fd00:96::10]:53", "[fd00:244::2]:53"), true},
		{"IPv6 serving endpoint", udp(client6, 1, "[fd00:96::10]:53", "[fd00:244::1]:53"), false},
		{"IPv4-mapped addresses read as IPv4", mapped(udp(client4, 1, "10.96.0.10:53", "10.244.2.6:53")), true},
		{"TCP is never stale", tcp, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.Stale(tc.flow); got != tc.want {
				t.Errorf("Stale(%v -> %v reply from %v) = %v, expected %v", tc.flow.OrigSrc, tc.flow.OrigDst, tc.flow.ReplySrc, got, tc.want)
			}
		})
	}
	var empty *StaleFilter
	if empty.Stale(udp(client4, 1, "10.96.0.10:53", "10.244.2.6:53")) || !empty.Empty() || !NewStaleFilter().Empty() {
		t.Error("a nil or new filter must match nothing and be Empty")
	}
}
