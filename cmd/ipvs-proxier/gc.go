package main

import "runtime/debug"

// defaultGCPercent is the proxier's GOGC when the environment sets none. A proxier runs on
// every node, and most of its heap is long-lived (informer caches, the programmed state):
// the runtime's default of 100 lets the heap grow to twice that between collections, which
// in the lab at 10,000 Services was most of the RSS. 50 trades a little CPU per sync for
// it; GOGC and GOMEMLIMIT in the environment still decide when set.
const defaultGCPercent = 50

// applyGCPercent sets defaultGCPercent unless getenv("GOGC") is set; it reports whether
// it did.
func applyGCPercent(getenv func(string) string) bool {
	if getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(defaultGCPercent)
	return true
}
