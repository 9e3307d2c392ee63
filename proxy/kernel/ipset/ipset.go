// Package ipset is the narrow interface to the kernel's ip sets, a Linux implementation
// over netlink (no ipset process per entry) and a fake.
package ipset

import "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"

// Interface is what the proxier and the state reader need from ip sets. Members are
// typed (dataplane.Member) in the form ParseMember reads them for the set's type.
type Interface interface {
	// List returns every set with its members.
	List() ([]dataplane.IPSet, error)
	// Create makes a set from the header fields of set (members ignored); creating one
	// that exists with the same type is not an error.
	Create(set dataplane.IPSet) error
	// Destroy removes a set; destroying a missing set is not an error.
	Destroy(name string) error
	// Add and Del change members in one batch; adding a present member or deleting an
	// absent one is not an error.
	Add(name string, members ...dataplane.Member) error
	Del(name string, members ...dataplane.Member) error
}
