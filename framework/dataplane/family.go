package dataplane

import "net/netip"

// IPFamily is the Kubernetes IP family of an address, 4 or 6: an IPv4-mapped IPv6 address
// is IPv4, as a Service's or an endpoint's address is. VirtualServer.Family is the
// kernel's view instead, which holds mapped addresses as AF_INET6.
func IPFamily(a netip.Addr) int {
	if a.Is4() || a.Is4In6() {
		return 4
	}
	return 6
}
