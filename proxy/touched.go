package proxy

import (
	"net/netip"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// touched records the objects syncs changed while a full sync's kernel read ran beside
// them. The read may predate those changes, so the full sync keeps what it knows of these
// objects (their changes succeeded, or the failed sync forced a full one from a fresh
// read) and takes the read only for the others; drift on a touched object is repaired by
// the next full sync. A nil *touched records nothing and touches nothing.
type touched struct {
	// all is set when a sync compared the whole desired state (node or configuration
	// change): anything may have changed, and the read is not used.
	all      bool
	services map[dataplane.ServiceKey]bool
	addrs    map[netip.Prefix]bool
	members  map[string]map[dataplane.Member]bool
}

// Touching starts recording what syncs change, for a full sync whose kernel read is about
// to begin (in snapshot, read by another goroutine: the reconciler never reads it before
// the caller hands it over). The next full Sync consumes the record.
func (r *Reconciler) Touching() {
	r.touched = &touched{
		services: map[dataplane.ServiceKey]bool{},
		addrs:    map[netip.Prefix]bool{},
		members:  map[string]map[dataplane.Member]bool{},
	}
}

// StopTouching drops the record (the read it was for is not used).
func (r *Reconciler) StopTouching() { r.touched = nil }

// note records what Apply may change for d: its objects, and the virtual servers whose
// terminating real servers the graceful pass may delete.
func (t *touched) note(d *Delta, draining map[dataplane.ServiceKey]*knownService) {
	if t == nil {
		return
	}
	for k := range d.Services {
		t.services[k] = true
	}
	for k := range draining {
		t.services[k] = true
	}
	for p := range d.Addrs {
		t.addrs[p] = true
	}
	for name, ms := range d.Members {
		set := t.members[name]
		if set == nil {
			set = map[dataplane.Member]bool{}
			t.members[name] = set
		}
		for m := range ms {
			set[m] = true
		}
	}
	// Rules need no record: a full sync reads iptables when it reconciles.
}

// keepAddrsAndMembers puts back, over a read, what was known of the touched addresses and
// set members before it.
func (t *touched) keepAddrsAndMembers(r *Reconciler, addrs map[netip.Prefix]uint64, sets map[string]*knownSet) {
	if t == nil {
		return
	}
	for p := range t.addrs {
		// Without kube-ipvs0 in the read, the sync creates it and binds every address.
		if _, ok := addrs[p]; ok && r.dummy {
			r.addrs[p] = 0
		} else {
			delete(r.addrs, p)
		}
	}
	for name, ms := range t.members {
		ks, before := r.sets[name], sets[name]
		if ks == nil {
			continue // gone from the kernel: the sync creates it and adds what it wants
		}
		for m := range ms {
			if before != nil && hasMember(before, m) {
				r.putMember(ks, m, 0)
			} else {
				r.dropMember(ks, m)
			}
		}
	}
}

// keepServices keeps the touched virtual servers as known (absent when unknown), with
// their real servers and terminating marks, instead of what the read found.
func (t *touched) keepServices(r *Reconciler) {
	if t == nil {
		return
	}
	for key := range t.services {
		ks := r.services[key]
		if ks == nil {
			continue
		}
		ks.readGen = r.gen
		r.count.realServers += len(ks.rs)
		r.count.terminating += ks.terminating
		if ks.terminating > 0 {
			r.draining[key] = ks
		}
	}
}

func hasMember(ks *knownSet, m dataplane.Member) bool {
	_, ok := ks.members[m]
	return ok
}

// has tells whether a virtual server was touched.
func (t *touched) has(key dataplane.ServiceKey) bool { return t != nil && t.services[key] }
