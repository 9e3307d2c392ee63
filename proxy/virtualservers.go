package proxy

import (
	"errors"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
)

// ensureService makes the kernel hold a virtual server as wanted, with exactly its real
// servers: it updates the virtual server, adds and updates real servers, and terminates
// those no longer wanted (graceful.go). A virtual server the kernel does not hold yet is
// not added here but queued in fresh, for addServices to add with its real servers in one
// batch.
func (r *Reconciler) ensureService(dvs *dataplane.VirtualServer, fresh *[]*dataplane.VirtualServer) {
	key := dvs.Key()
	ks := r.services[key]
	switch {
	case ks == nil:
		*fresh = append(*fresh, dvs)
		return
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

// addServices adds virtual servers the kernel does not hold, with their real servers, in
// one batch. Each object that failed is a failure of its own and stays unknown, so the
// next sync tries it again; the real servers of a virtual server that failed are not
// tried (nor reported: they follow their virtual server).
func (r *Reconciler) addServices(dvss []*dataplane.VirtualServer) {
	if len(dvss) == 0 {
		return
	}
	batch := make([]dataplane.VirtualServer, len(dvss))
	for i, dvs := range dvss {
		batch[i] = *dvs
	}
	r.changes++
	err := r.k.IPVS.AddServices(batch)
	type rsKey struct {
		vs dataplane.ServiceKey
		rs dataplane.RealServerKey
	}
	var (
		be       *ipvs.BatchError
		failedVS map[dataplane.ServiceKey]error
		failedRS map[rsKey]error
	)
	switch {
	case err == nil:
	case errors.As(err, &be):
		failedVS = map[dataplane.ServiceKey]error{}
		failedRS = map[rsKey]error{}
		for _, f := range be.Failed {
			if f.RealServer.IsValid() {
				failedRS[rsKey{f.Service, f.RealServer}] = f
			} else {
				failedVS[f.Service] = f
			}
		}
	default:
		// The call failed as a whole: none of it is known to be there.
		for _, dvs := range dvss {
			r.fail("add virtual server", dvs.Key().String(), err)
		}
		return
	}
	for _, dvs := range dvss {
		key := dvs.Key()
		if err, ok := failedVS[key]; ok {
			r.fail("add virtual server", key.String(), err)
			continue
		}
		ks := r.putService(*dvs)
		ks.gen = r.gen
		for _, drs := range dvs.RealServers {
			k := drs.Key()
			if err, ok := failedRS[rsKey{key, k}]; ok {
				r.fail("add real server", key.String()+" -> "+k.String(), err)
				continue
			}
			r.putRealServer(ks, &knownRealServer{rs: drs, gen: r.gen})
		}
	}
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
