package proxy

import (
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// connections is what graceful termination waits for: active and inactive (TIME_WAIT,
// FIN_WAIT...) connections alike, as upstream does, because deleting the real server
// would cut either kind.
func connections(rs dataplane.RealServer) int { return rs.ActiveConns + rs.InactiveConns }

// terminate removes a real server the desired state no longer has. UDP and SCTP real
// servers go at once (expire_nodest_conn=1 ends their flows on the next packet). A TCP
// real server goes at once when it has no connections; otherwise its weight drops to 0 so
// it gets no new connections, and it is deleted once the ones it has are gone.
func (r *Reconciler) terminate(ks *knownService, krs *knownRealServer) {
	key, rsKey := ks.vs.Key(), krs.rs.Key()
	if ks.vs.Protocol == dataplane.TCP {
		if krs.readGen != r.gen {
			r.refreshCounters(ks)
		}
		if krs.readGen != r.gen || connections(krs.rs) > 0 {
			r.quiesce(ks, krs)
			return
		}
	}
	r.changes++
	if err := r.k.IPVS.DeleteRealServer(key, rsKey); err != nil {
		r.fail("delete real server", key.String()+" -> "+rsKey.String(), err)
		return
	}
	r.dropRealServer(ks, rsKey)
}

// quiesce sets a real server's weight to 0 and marks it terminating.
func (r *Reconciler) quiesce(ks *knownService, krs *knownRealServer) {
	key, rsKey := ks.vs.Key(), krs.rs.Key()
	if krs.rs.Weight != 0 {
		rs := krs.rs
		rs.Weight = 0
		r.changes++
		if err := r.k.IPVS.UpdateRealServer(key, rs); err != nil {
			r.fail("set weight 0 on terminating real server", key.String()+" -> "+rsKey.String(), err)
			return
		}
		krs.rs.Weight = 0
	}
	r.markTerminating(ks, krs, true)
	if krs.readGen != r.gen {
		r.recheck = true
	}
	r.log.V(2).Info("Real server is terminating; deleting it once its connections end", "virtualServer", key.String(), "realServer", rsKey.String(), "connections", connections(krs.rs))
}

// refreshCounters reads one virtual server's real servers, so the graceful pass costs
// what the terminating real servers cost, not a read of the whole table.
func (r *Reconciler) refreshCounters(ks *knownService) {
	rss, err := r.k.IPVS.RealServers(ks.vs.Key())
	if err != nil {
		r.log.V(2).Info("Could not read real servers' connections", "virtualServer", ks.vs.Key().String(), "err", err)
		return
	}
	r.applyCounters(ks, rss)
}

// applyCounters stores fresh counters; a terminating real server the kernel no longer has
// is forgotten.
func (r *Reconciler) applyCounters(ks *knownService, rss []dataplane.RealServer) {
	seen := make(map[dataplane.RealServerKey]bool, len(rss))
	for _, rs := range rss {
		seen[rs.Key()] = true
		if krs := ks.rs[rs.Key()]; krs != nil {
			krs.rs.ActiveConns, krs.rs.InactiveConns = rs.ActiveConns, rs.InactiveConns
			krs.readGen = r.gen
		}
	}
	for k, krs := range ks.rs {
		if krs.terminating && !seen[k] {
			r.dropRealServer(ks, k)
		}
	}
}

// gracefulPass deletes terminating real servers whose connections have ended. Counters
// come from this sync's kernel read (full syncs) or, when some real server started
// terminating with counters this sync could not trust, from per-service reads. Its work
// follows the number of terminating real servers.
func (r *Reconciler) gracefulPass() {
	if len(r.draining) == 0 {
		return
	}
	pending := make([]*knownService, 0, len(r.draining))
	for _, ks := range r.draining {
		pending = append(pending, ks)
	}
	if r.recheck {
		for _, ks := range pending {
			r.refreshCounters(ks)
		}
	}
	for _, ks := range pending {
		key := ks.vs.Key()
		for k, krs := range ks.rs {
			if !krs.terminating || krs.readGen != r.gen || connections(krs.rs) > 0 {
				continue
			}
			r.changes++
			if err := r.k.IPVS.DeleteRealServer(key, k); err != nil {
				r.fail("delete terminated real server", key.String()+" -> "+k.String(), err)
				continue
			}
			r.log.V(2).Info("Deleted terminated real server", "virtualServer", key.String(), "realServer", k.String())
			r.dropRealServer(ks, k)
		}
	}
}
