package kubeproxy

import (
	"net/netip"
	"slices"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// NodePortAddresses are the addresses the ipvs proxier opens a NodePort on when
// nodePortAddresses is unset: every address of the family on every link except
// kube-ipvs0, leaving out loopback and, for IPv6, link-local addresses
// (pkg/proxy/ipvs: GetAllLocalAddressesExcept, isValidForSet). On a kind node that is the
// node's eth0 address and the address kindnet puts on each pod veth.
func NodePortAddresses(st dataplane.State, ipv6 bool) []netip.Addr {
	var out []netip.Addr
	for _, l := range st.Links {
		if l.Name == dataplane.KubeIPVSInterface {
			continue
		}
		for _, a := range l.AddrList() {
			a = a.Unmap()
			if a.Is6() != ipv6 || a.IsLoopback() || (ipv6 && a.IsLinkLocalUnicast()) {
				continue
			}
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}
