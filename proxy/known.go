package proxy

import (
	"net/netip"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// The known state is what the reconciler believes the kernel holds of the objects it owns.
// A full sync rebuilds it from the kernel; every successful kernel call updates it, and a
// failed one leaves it as it was, so the next sync tries again. Every change goes through
// the methods below, which keep the counts Programmed reports without walking everything.

// knownService is a virtual server (RealServers always nil) and its real servers.
type knownService struct {
	vs  dataplane.VirtualServer
	rs  map[dataplane.RealServerKey]*knownRealServer
	gen uint64
	// readGen is the sync whose kernel read found it.
	readGen uint64
	// terminating counts the real servers waiting for their connections to end.
	terminating int
}

// knownRealServer is a real server; a terminating one has weight 0 and waits for its
// connections to end before it is deleted (graceful termination).
type knownRealServer struct {
	rs          dataplane.RealServer
	gen         uint64
	terminating bool
	// readGen is the sync whose kernel read gave the connection counters in rs.
	readGen uint64
}

// knownSet is a set's header (Members nil) and its members in the text the kernel or the
// proxier wrote, each with the generation that last wanted it.
type knownSet struct {
	header  dataplane.IPSet
	members map[dataplane.Member]uint64
	gen     uint64
}

// knownRules remembers the last iptables transaction that went through.
type knownRules struct {
	// applied is the plan key of the last transaction applied, "" after a failure.
	applied string
	// canonKey and canon are, for the transaction canonKey, how the kernel printed our
	// chains back right after it (iptables-save may spell a rule differently).
	canonKey string
	canon    map[tableChain][]dataplane.Rule
}

// counts are the totals Programmed reports.
type counts struct {
	realServers, terminating, members int
}

func (r *Reconciler) resetKnown() {
	r.services = map[dataplane.ServiceKey]*knownService{}
	r.addrs = map[netip.Prefix]uint64{}
	r.sets = map[string]*knownSet{}
	r.draining = map[dataplane.ServiceKey]*knownService{}
	r.count = counts{}
}

// putService records a virtual server the kernel now holds (without real servers).
func (r *Reconciler) putService(vs dataplane.VirtualServer) *knownService {
	vs.RealServers = nil
	ks := &knownService{vs: vs, rs: map[dataplane.RealServerKey]*knownRealServer{}}
	r.services[vs.Key()] = ks
	return ks
}

// adoptService records a virtual server and its real servers as a kernel read found them.
// before is what the reconciler knew of it until that read,
// or nil: its real servers keep their terminating marks, and its records are reused, so a
// full resync does not hold two copies of the known state at once.
func (r *Reconciler) adoptService(vs dataplane.VirtualServer, before *knownService) {
	if before == nil {
		ks := r.putService(vs)
		ks.readGen = r.gen
		for _, rs := range vs.RealServers {
			r.putRealServer(ks, &knownRealServer{rs: rs, readGen: r.gen})
		}
		return
	}
	read := vs.RealServers
	vs.RealServers = nil
	ks := before
	ks.vs, ks.gen, ks.readGen, ks.terminating = vs, 0, r.gen, 0
	r.services[vs.Key()] = ks
	for _, rs := range read {
		k := rs.Key()
		krs := ks.rs[k]
		if krs == nil {
			krs = &knownRealServer{}
			ks.rs[k] = krs
		}
		terminating := krs.terminating
		*krs = knownRealServer{rs: rs, readGen: r.gen}
		r.count.realServers++
		if terminating {
			r.markTerminating(ks, krs, true)
		}
	}
	// What the read did not find (its readGen is older) is gone from the kernel.
	for k, krs := range ks.rs {
		if krs.readGen != r.gen {
			delete(ks.rs, k)
		}
	}
}

// dropService forgets a virtual server and its real servers.
func (r *Reconciler) dropService(key dataplane.ServiceKey) {
	ks := r.services[key]
	if ks == nil {
		return
	}
	r.count.realServers -= len(ks.rs)
	r.count.terminating -= ks.terminating
	delete(r.draining, key)
	delete(r.services, key)
}

// putRealServer records a real server of a known virtual server.
func (r *Reconciler) putRealServer(ks *knownService, krs *knownRealServer) {
	k := krs.rs.Key()
	if old := ks.rs[k]; old != nil {
		r.dropRealServer(ks, k)
	}
	terminating := krs.terminating
	krs.terminating = false
	ks.rs[k] = krs
	r.count.realServers++
	if terminating {
		r.markTerminating(ks, krs, true)
	}
}

// dropRealServer forgets a real server.
func (r *Reconciler) dropRealServer(ks *knownService, k dataplane.RealServerKey) {
	krs := ks.rs[k]
	if krs == nil {
		return
	}
	r.markTerminating(ks, krs, false)
	delete(ks.rs, k)
	r.count.realServers--
}

// markTerminating sets or clears a real server's terminating mark and keeps the list of
// virtual servers that have terminating real servers.
func (r *Reconciler) markTerminating(ks *knownService, krs *knownRealServer, on bool) {
	if krs.terminating == on {
		return
	}
	krs.terminating = on
	d := 1
	if !on {
		d = -1
	}
	ks.terminating += d
	r.count.terminating += d
	if ks.terminating > 0 {
		r.draining[ks.vs.Key()] = ks
	} else {
		delete(r.draining, ks.vs.Key())
	}
}

// putSet records a set the kernel now holds, with members.
func (r *Reconciler) putSet(header dataplane.IPSet, members []dataplane.Member, gen uint64) *knownSet {
	r.dropSet(header.Name)
	ks := &knownSet{header: setHeader(header), members: make(map[dataplane.Member]uint64, len(members))}
	for _, m := range members {
		ks.members[m] = gen
	}
	r.count.members += len(ks.members)
	r.sets[header.Name] = ks
	return ks
}

// dropSet forgets a set.
func (r *Reconciler) dropSet(name string) {
	if ks := r.sets[name]; ks != nil {
		r.count.members -= len(ks.members)
		delete(r.sets, name)
	}
}

// putMember records a member of a known set, wanted by gen.
func (r *Reconciler) putMember(ks *knownSet, m dataplane.Member, gen uint64) {
	if _, ok := ks.members[m]; !ok {
		r.count.members++
	}
	ks.members[m] = gen
}

// dropMember forgets a member.
func (r *Reconciler) dropMember(ks *knownSet, m dataplane.Member) {
	if _, ok := ks.members[m]; ok {
		r.count.members--
		delete(ks.members, m)
	}
}

// Programmed counts what the reconciler believes the kernel holds of its objects.
func (r *Reconciler) Programmed() Programmed {
	return Programmed{
		VirtualServers: len(r.services),
		RealServers:    r.count.realServers,
		Terminating:    r.count.terminating,
		Addresses:      len(r.addrs),
		IPSets:         len(r.sets),
		IPSetMembers:   r.count.members,
	}
}

// setHeader is a set without its members.
func setHeader(s dataplane.IPSet) dataplane.IPSet {
	s.Members = nil
	return s
}
