// Package netif is the narrow interface to network links and their addresses (kube-ipvs0
// and the node's addresses), a Linux implementation over netlink and a fake.
package netif

import (
	"net/netip"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Interface is what the proxier and the state reader need from the link layer.
type Interface interface {
	// Links lists every link with its addresses.
	Links() ([]dataplane.Link, error)
	// EnsureDummy creates a dummy link (kube-ipvs0) if it does not exist and sets it down
	// as kube-proxy keeps it; it tells whether it created the link.
	EnsureDummy(name string) (created bool, err error)
	// DeleteLink removes a link; removing a missing link is not an error.
	DeleteLink(name string) error
	// AddAddress binds an address to a link; binding one already bound is not an error.
	AddAddress(link string, p netip.Prefix) error
	// DeleteAddress unbinds an address; unbinding a missing one is not an error.
	DeleteAddress(link string, p netip.Prefix) error
	// AddAddresses binds many addresses to a link as AddAddress binds one, in few kernel
	// round trips. Each address succeeds or fails on its own: when some fail the others
	// are bound and the error is a *BatchError naming the failed ones. Any other error
	// (the link is missing, the socket failed) leaves it unknown which were bound;
	// binding them again is safe.
	AddAddresses(link string, ps []netip.Prefix) error
	// DeleteAddresses unbinds many addresses as DeleteAddress unbinds one, with the
	// errors of AddAddresses.
	DeleteAddresses(link string, ps []netip.Prefix) error
}
