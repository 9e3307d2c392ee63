// Package iptables is the narrow interface to iptables: one iptables-restore transaction
// per sync, iptables-save to read back, a Linux implementation that runs the binaries and
// a fake that applies restore input to an in-memory ruleset with the same semantics.
package iptables

import "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"

// Family selects iptables (IPv4) or ip6tables (IPv6).
type Family int

// The two families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Interface is what the proxier and the state reader need from iptables.
type Interface interface {
	// Save reads the ruleset of the given tables (all tables when none are named).
	Save(f Family, tables ...string) (dataplane.Ruleset, error)
	// Restore applies iptables-restore input with --noflush: chains declared with ":"
	// lines are created or flushed, chains not mentioned are left alone.
	Restore(f Family, input []byte) error
}
