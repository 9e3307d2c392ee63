package proxy

import (
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// ensureService makes the kernel hold a virtual server as wanted, with exactly its real
// servers: it adds or updates the virtual server, adds and updates real servers, and
// terminates those no longer wanted (graceful.go).
func (r *Reconciler) ensureService(dvs *dataplane.VirtualServer) {
	key := dvs.Key()
	ks := r.services[key]
	switch {
	case ks == nil:
		r.changes++
		if err := r.k.IPVS.AddService(*dvs); err != nil {
			r.fail("add virtual server", key.String(), err)
			return
		}
		ks = r.putService(*dvs)
	case !ks.vs.SameConfig(*dvs):
		r.changes++
		if err := r.k.IPVS.UpdateService(*dvs); err != nil {
			r.fail("update virtual server", key.String(), err)
		} else {
			ks.vs = *dvs
			ks.vs.RealServers = nil
		}
	}
	ks.gen = r.gen
	r.syncRealServers(ks, dvs)
}

// syncRealServers makes one virtual server's real servers match.
func (r *Reconciler) syncRealServers(ks *knownService, dvs *dataplane.VirtualServer) {
	key := ks.vs.Key()
	for _, drs := range dvs.RealServers {
		k := drs.Key()
		krs := ks.rs[k]
		switch {
		case krs == nil:
			r.changes++
			if err := r.k.IPVS.AddRealServer(key, drs); err != nil {
				r.fail("add real server", key.String()+" -> "+k.String(), err)
				continue
			}
			r.putRealServer(ks, &knownRealServer{rs: drs, gen: r.gen})
		case krs.terminating || !krs.rs.SameConfig(drs):
			// Back from termination, or weight/forwarding changed: update in place so the
			// connections it still has carry on.
			krs.gen = r.gen
			r.changes++
			if err := r.k.IPVS.UpdateRealServer(key, drs); err != nil {
				r.fail("update real server", key.String()+" -> "+k.String(), err)
				continue
			}
			if krs.terminating {
				r.log.V(2).Info("Real server is wanted again; ending its termination", "virtualServer", key.String(), "realServer", k.String())
			}
			krs.rs.Forward, krs.rs.Weight = drs.Forward, drs.Weight
			r.markTerminating(ks, krs, false)
		default:
			krs.gen = r.gen
		}
	}
	if len(ks.rs) == len(dvs.RealServers) {
		return // every known one was just marked
	}
	for _, krs := range ks.rs {
		if krs.gen != r.gen && !krs.terminating {
			r.terminate(ks, krs)
		}
	}
}

// removeService deletes a virtual server the proxier no longer wants; one inside the
// excludeCIDRs is only forgotten.
func (r *Reconciler) removeService(key dataplane.ServiceKey) {
	ks := r.services[key]
	if ks == nil {
		return
	}
	if r.excluded(ks.vs.Address) {
		r.log.V(4).Info("Leaving virtual server inside excludeCIDRs", "virtualServer", key.String())
		r.dropService(key)
		return
	}
	r.changes++
	if err := r.k.IPVS.DeleteService(key); err != nil {
		r.fail("delete virtual server", key.String(), err)
		return
	}
	r.dropService(key)
}
