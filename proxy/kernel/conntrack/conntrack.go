// Package conntrack finds and deletes stale UDP connection tracking entries: those sent to
// a Service's address that the kernel keeps forwarding to an endpoint the Service no
// longer has. UDP has no connection end, so without this a client that keeps sending
// (DNS, statsd) refreshes such an entry forever and its packets never reach a live
// endpoint.
package conntrack

import (
	"net/netip"
)

// ProtoUDP is UDP's IP protocol number, the only protocol the stale-entry filter matches.
const ProtoUDP = 17

// Flow is one conntrack entry as far as the stale-entry filter reads it: the original
// direction (client to Service address) and the reply direction (endpoint back to the
// client, after IPVS or DNAT rewrote the destination).
type Flow struct {
	Protocol uint8
	OrigSrc  netip.AddrPort
	OrigDst  netip.AddrPort
	ReplySrc netip.AddrPort
	ReplyDst netip.AddrPort
}

// Endpoints is a set of serving endpoints, IP:port.
type Endpoints map[netip.AddrPort]bool

// StaleFilter says which UDP entries are stale. Frontends maps each UDP Service address
// and port (ClusterIP, externalIPs, load-balancer IPs) to the Service port's serving
// endpoints; NodePorts maps a NodePort number to them. An entry is stale when its original
// destination is a frontend, or its destination port a NodePort, and its reply source is
// not one of that frontend's endpoints. A frontend with no endpoints makes all of its
// entries stale.
type StaleFilter struct {
	Frontends map[netip.AddrPort]Endpoints
	NodePorts map[uint16]Endpoints
}

// NewStaleFilter returns an empty filter, which matches nothing.
func NewStaleFilter() *StaleFilter {
	return &StaleFilter{Frontends: map[netip.AddrPort]Endpoints{}, NodePorts: map[uint16]Endpoints{}}
}

// Empty tells whether the filter can match nothing, so the table need not be read.
func (f *StaleFilter) Empty() bool {
	return f == nil || len(f.Frontends) == 0 && len(f.NodePorts) == 0
}

// Stale tells whether fl is a stale entry.
func (f *StaleFilter) Stale(fl Flow) bool {
	if f == nil || fl.Protocol != ProtoUDP {
		return false
	}
	dst := netip.AddrPortFrom(fl.OrigDst.Addr().Unmap(), fl.OrigDst.Port())
	src := netip.AddrPortFrom(fl.ReplySrc.Addr().Unmap(), fl.ReplySrc.Port())
	if eps, ok := f.Frontends[dst]; ok {
		return !eps[src]
	}
	if eps, ok := f.NodePorts[dst.Port()]; ok {
		return !eps[src]
	}
	return false
}

// Interface is the node's conntrack table, one address family (4 or 6) at a time.
type Interface interface {
	// List returns the entries of the family.
	List(family int) ([]Flow, error)
	// DeleteStale deletes the family's entries that f calls stale and returns how many
	// it deleted. On an error some may have been deleted all the same; the count says how
	// many.
	DeleteStale(family int, f *StaleFilter) (int, error)
}

// Linux reads and deletes entries of the kernel's conntrack table over netfilter netlink
// (nf_conntrack_netlink, which the kernel loads on first use): netlink_linux.go. Elsewhere
// than on Linux every call fails: other.go.
type Linux struct{}

var _ Interface = (*Linux)(nil)

// NewLinux returns the kernel's conntrack table. Nothing is opened until a call.
func NewLinux() *Linux { return &Linux{} }
