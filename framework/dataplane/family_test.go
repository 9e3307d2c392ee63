package dataplane

import (
	"net/netip"
	"testing"
)

func TestIPFamily(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want int
	}{
		{"10.96.0.1", 4},
		{"::ffff:10.96.0.1", 4},
		{"fd00:10:96::1", 6},
		{"::1", 6},
	} {
		if got := IPFamily(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("IPFamily(%s) = %d, want %d", tc.addr, got, tc.want)
		}
	}
}
