package proxy

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
)

// ReconcilerOptions configure a Reconciler.
type ReconcilerOptions struct {
	// Family is 4 or 6: the reconciler adopts, changes and deletes only that family's
	// virtual servers, kube-ipvs0 addresses, ip sets and iptables ruleset.
	Family int
	// ExcludeCIDRs are ranges whose virtual servers are never deleted (ipvs.excludeCIDRs).
	ExcludeCIDRs []netip.Prefix
	// Logger receives the reconciler's logs; the zero value means klog's default logger.
	Logger klog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Reconciler makes the kernel hold one family's desired dataplane with the smallest set of
// changes. It remembers what it believes the kernel holds of the objects it owns (known.go).
// Sync compares a whole desired state with that memory, re-reading the kernel first when
// asked (a full sync), so a restarted proxier adopts what is already right and changes
// nothing; Apply takes only the objects a change touched, so its work follows the size of
// the change, not of the cluster. A failed kernel call is logged with its object and left
// out of the memory, and the next sync tries it again. Not safe for concurrent use.
type Reconciler struct {
	k       *kernel.Kernel
	family  int
	exclude []netip.Prefix
	log     klog.Logger
	now     func() time.Time

	// gen numbers the syncs; each known object carries the number of the last sync that
	// wanted it, so what a Sync did not mark is what it no longer wants.
	gen uint64
	// read is set once the kernel has been read (the first Sync is always full).
	read bool

	// The known state (known.go).
	dummy    bool
	services map[dataplane.ServiceKey]*knownService
	addrs    map[netip.Prefix]uint64
	sets     map[string]*knownSet
	rules    knownRules
	// draining are the virtual servers with terminating real servers.
	draining map[dataplane.ServiceKey]*knownService
	count    counts

	// snapshot, when set, is the kernel read a full sync shares with the other family's.
	snapshot *kernelSnapshot
	// touched, when set, records what syncs change while a full sync's kernel read runs
	// beside them (see Touching).
	touched *touched

	// Per sync.
	failures []Failure
	changes  int
	// recheck is set when a TCP real server went to weight 0 with connection counters this
	// sync could not trust; the graceful pass then reads them.
	recheck bool
}

// SyncStats tells what a sync did and what the kernel holds of the proxier's objects.
type SyncStats struct {
	// Full is set when the sync read the kernel first.
	Full bool
	// Changes counts the changing kernel calls made (failed ones included).
	Changes int
	// Failed counts the failed kernel calls.
	Failed int
	// Programmed counts what the kernel holds afterwards, as far as the reconciler knows.
	Programmed Programmed
}

// Programmed counts the proxier's objects in the kernel.
type Programmed struct {
	VirtualServers int
	// RealServers includes the terminating ones (weight 0, waiting for their connections
	// to end), which Terminating counts.
	RealServers  int
	Terminating  int
	Addresses    int
	IPSets       int
	IPSetMembers int
}

// Delta is a change to a family's desired state: only the objects some changed Services
// touched, each with what is now wanted of it.
type Delta struct {
	// Services maps a virtual server to its wanted configuration and real servers; nil
	// means it is not wanted any more.
	Services map[dataplane.ServiceKey]*dataplane.VirtualServer
	// Addrs tells whether each address is wanted on kube-ipvs0.
	Addrs map[netip.Prefix]bool
	// Members tells, per set name, whether each member is wanted.
	Members map[string]map[dataplane.Member]bool
	// Rules is the family's whole ruleset when it changed, nil otherwise.
	Rules *dataplane.Ruleset
}

// Empty tells whether the delta changes nothing.
func (d *Delta) Empty() bool {
	return len(d.Services) == 0 && len(d.Addrs) == 0 && len(d.Members) == 0 && d.Rules == nil
}

// errNotAdopted is Apply's answer before the first Sync.
var errNotAdopted = errors.New("reconciler has not read the kernel yet: run a full Sync first")

// NewReconciler returns a reconciler for one family over the kernel. Nothing is read or
// changed before the first Sync.
func NewReconciler(k *kernel.Kernel, opts ReconcilerOptions) (*Reconciler, error) {
	if err := checkKernel(k); err != nil {
		return nil, err
	}
	if opts.Family != 4 && opts.Family != 6 {
		return nil, fmt.Errorf("reconciler family %d: expected 4 or 6", opts.Family)
	}
	r := &Reconciler{k: k, family: opts.Family, exclude: slices.Clone(opts.ExcludeCIDRs), log: opts.Logger, now: opts.Now}
	if r.log.GetSink() == nil {
		r.log = klog.Background()
	}
	r.log = r.log.WithValues("ipFamily", familyLabel(opts.Family))
	if r.now == nil {
		r.now = time.Now
	}
	r.resetKnown()
	return r, nil
}

// Sync makes the kernel hold desired (the family's part of it). With full, or on the first
// call, it re-reads the kernel first; otherwise it trusts its memory of the last sync. It
// applies every change it can and returns a *SyncError naming each failed call; an error
// reading the kernel stops the sync before anything is changed.
func (r *Reconciler) Sync(desired *dataplane.State, full bool) (SyncStats, error) {
	full = full || !r.read
	if !full && r.touched != nil {
		r.touched.all = true // it may change any object
	}
	r.begin()
	var actualRules *dataplane.Ruleset
	if full {
		rs, err := r.readKernel(desired)
		if err != nil {
			return SyncStats{Full: true}, err
		}
		actualRules = rs
	}

	r.ensureDummy()
	for i := range desired.IPSets {
		r.syncSet(&desired.IPSets[i])
	}
	var fresh []*dataplane.VirtualServer
	for i := range desired.IPVS.Services {
		r.ensureService(&desired.IPVS.Services[i], &fresh)
	}
	r.addServices(fresh)
	link, _ := desired.Link(dataplane.KubeIPVSInterface)
	r.ensureAddrs(link.Addrs)
	r.syncRules(r.desiredRules(desired), actualRules)

	// What this sync did not mark goes: virtual servers first (so that their records in the
	// sets outlive them should a deletion fail), then addresses, members and sets.
	for key, ks := range r.services {
		if ks.gen != r.gen {
			r.removeService(key)
		}
	}
	var unwanted []netip.Prefix
	for p, gen := range r.addrs {
		if gen != r.gen {
			unwanted = append(unwanted, p)
		}
	}
	slices.SortFunc(unwanted, comparePrefixes)
	r.removeAddrs(unwanted)
	for _, ks := range r.sets {
		if ks.gen == r.gen {
			r.removeUnmarkedMembers(ks)
		}
	}
	for name, ks := range r.sets {
		if ks.gen != r.gen {
			r.destroySet(name)
		}
	}
	r.gracefulPass()
	return r.end(full)
}

// Apply makes the kernel hold what a delta says of the objects it names and touches
// nothing else. The kernel must have been read by a Sync before.
func (r *Reconciler) Apply(d *Delta) (SyncStats, error) {
	if !r.read {
		return SyncStats{}, errNotAdopted
	}
	r.touched.note(d, r.draining)
	r.begin()
	r.ensureDummy()
	// Sorted so that the kernel sees changes in a stable order (logs, tests).
	setNames := slices.Sorted(maps.Keys(d.Members))
	for _, name := range setNames {
		r.addMembers(name, d.Members[name])
	}
	keys := slices.SortedFunc(maps.Keys(d.Services), dataplane.ServiceKey.Compare)
	var fresh []*dataplane.VirtualServer
	for _, key := range keys {
		if vs := d.Services[key]; vs != nil {
			r.ensureService(vs, &fresh)
		}
	}
	r.addServices(fresh)
	var bind, unbind []netip.Prefix
	for _, p := range slices.SortedFunc(maps.Keys(d.Addrs), comparePrefixes) {
		if d.Addrs[p] {
			bind = append(bind, p)
		} else {
			unbind = append(unbind, p)
		}
	}
	r.ensureAddrs(bind)
	if d.Rules != nil {
		r.syncRules(*d.Rules, nil)
	}
	for _, key := range keys {
		if d.Services[key] == nil {
			r.removeService(key)
		}
	}
	r.removeAddrs(unbind)
	for _, name := range setNames {
		r.deleteMembers(name, d.Members[name])
	}
	r.gracefulPass()
	return r.end(false)
}

func (r *Reconciler) begin() {
	r.gen++
	r.failures, r.changes, r.recheck = nil, 0, false
}

func (r *Reconciler) end(full bool) (SyncStats, error) {
	stats := SyncStats{Full: full, Changes: r.changes, Failed: len(r.failures), Programmed: r.Programmed()}
	if len(r.failures) > 0 {
		return stats, &SyncError{Context: familyLabel(r.family) + " sync", Failures: r.failures}
	}
	return stats, nil
}

// fail records a failed kernel call and logs it with its object.
func (r *Reconciler) fail(op, object string, err error) {
	r.failures = append(r.failures, Failure{Op: op, Object: object, Err: err})
	r.log.Error(err, "Kernel change failed; will retry", "operation", op, "object", object)
}

// ipFamily is the reconciler's family as the iptables interface names it.
func (r *Reconciler) ipFamily() iptables.Family {
	if r.family == 6 {
		return iptables.IPv6
	}
	return iptables.IPv4
}

// inFamily tells whether an address belongs to the reconciler's family.
func (r *Reconciler) inFamily(a netip.Addr) bool {
	return (r.family == 6) == (a.Is6() && !a.Is4In6())
}

func (r *Reconciler) excluded(a netip.Addr) bool {
	for _, p := range r.exclude {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// desiredRules is the family's ruleset of the desired state.
func (r *Reconciler) desiredRules(desired *dataplane.State) dataplane.Ruleset {
	if r.family == 6 {
		return desired.IP6Tables
	}
	return desired.IPTables
}

// readKernel replaces the known state with what the kernel holds of the proxier's objects
// and returns the family's current iptables ruleset (the tables the desired ruleset names,
// nat and filter when it names none).
func (r *Reconciler) readKernel(desired *dataplane.State) (*dataplane.Ruleset, error) {
	start := r.now()
	snap, touched := r.snapshot, r.touched
	r.touched = nil
	if snap == nil || (touched != nil && touched.all) {
		// A sync since the read began may have changed anything: read again.
		snap, touched = newKernelSnapshot(r.k), nil
	}
	links, err := snap.Links()
	if err != nil {
		return nil, fmt.Errorf("read links to adopt the kernel's state: %w", err)
	}
	sets, err := snap.IPSets()
	if err != nil {
		return nil, fmt.Errorf("read ip sets to adopt the kernel's state: %w", err)
	}
	services, err := snap.Services()
	if err != nil {
		return nil, fmt.Errorf("read IPVS virtual servers to adopt the kernel's state: %w", err)
	}
	rules, err := r.k.IPTables.Save(r.ipFamily(), ruleTables(r.desiredRules(desired))...)
	if err != nil {
		return nil, fmt.Errorf("read %s iptables to adopt the kernel's state: %w", familyLabel(r.family), err)
	}

	// The virtual servers' records are reused (adoptService), and the map with them:
	// a second copy of the known state would be the largest thing a resync holds.
	known, knownAddrs, knownSets := r.services, r.addrs, r.sets
	r.resetKnown()
	r.services = known
	r.dummy = false
	var nodeAddrs []netip.Prefix
	for _, l := range links {
		if l.Name != dataplane.KubeIPVSInterface {
			nodeAddrs = append(nodeAddrs, l.Addrs...)
			continue
		}
		r.dummy = true
		for _, p := range l.Addrs {
			if r.inFamily(p.Addr()) {
				r.addrs[p] = 0
			}
		}
	}

	// Sets: those the desired state names and every set name the proxier uses.
	wantSets := map[string]bool{}
	for _, s := range desired.IPSets {
		wantSets[s.Name] = true
	}
	for _, n := range ownedSetNames(r.family) {
		wantSets[n] = true
	}
	for _, s := range sets {
		if wantSets[s.Name] {
			r.putSet(s, s.Members, 0)
		}
	}
	touched.keepAddrsAndMembers(r, knownAddrs, knownSets)

	// Virtual servers: those the ownership rules give the proxier, those it wants, and those
	// it programmed itself before this read. Real servers keep their terminating mark.
	wanted := wantedServices(desired.IPVS.Services)
	var own *ownership // built when first needed: usually every virtual server is wanted or known
	for _, vs := range services {
		if vs.FWMark != 0 || !r.inFamily(vs.Address) {
			continue
		}
		key := vs.Key()
		if touched.has(key) {
			continue // changed since the read began: kept as known below
		}
		before := known[key]
		if before == nil && !wanted(key) {
			if own == nil {
				own = r.knownOwnership(nodeAddrs)
			}
			if !own.owns(vs) {
				continue
			}
		}
		r.adoptService(vs, before)
	}
	touched.keepServices(r)
	for key, ks := range r.services {
		if ks.readGen != r.gen {
			delete(r.services, key) // gone from the kernel
		}
	}
	r.read = true
	r.log.V(2).Info("Read the kernel's state", "virtualServers", len(r.services), "addresses", len(r.addrs), "ipsets", len(r.sets), "elapsed", r.now().Sub(start))
	return &rules, nil
}

// wantedServices tells whether a key is among the virtual servers. Those of an assembled
// state are sorted by key and are searched in place; others are indexed first.
func wantedServices(vss []dataplane.VirtualServer) func(dataplane.ServiceKey) bool {
	if slices.IsSortedFunc(vss, func(a, b dataplane.VirtualServer) int { return a.Key().Compare(b.Key()) }) {
		return func(k dataplane.ServiceKey) bool {
			_, found := slices.BinarySearchFunc(vss, k, func(vs dataplane.VirtualServer, k dataplane.ServiceKey) int { return vs.Key().Compare(k) })
			return found
		}
	}
	index := make(map[dataplane.ServiceKey]bool, len(vss))
	for i := range vss {
		index[vss[i].Key()] = true
	}
	return func(k dataplane.ServiceKey) bool { return index[k] }
}

// knownOwnership applies the ownership rules to the proxier's records as the kernel read
// just found them: the family's kube-ipvs0 addresses and sets in the known state, and the
// node's other addresses.
func (r *Reconciler) knownOwnership(nodeAddrs []netip.Prefix) *ownership {
	bound := dataplane.Link{Name: dataplane.KubeIPVSInterface}
	for p := range r.addrs {
		bound.Addrs = append(bound.Addrs, p)
	}
	links := []dataplane.Link{bound, {Name: "node addresses", Addrs: nodeAddrs}}
	sets := make([]dataplane.IPSet, 0, len(r.sets))
	for _, ks := range r.sets {
		s := ks.header
		for m := range ks.members {
			s.Members = append(s.Members, m)
		}
		sets = append(sets, s)
	}
	return newOwnership(r.family, r.exclude, links, sets)
}

// ruleTables lists the tables a ruleset uses, nat and filter when it names none.
func ruleTables(rs dataplane.Ruleset) []string {
	if len(rs.Tables) == 0 {
		return []string{"nat", "filter"}
	}
	out := make([]string, 0, len(rs.Tables))
	for _, t := range rs.Tables {
		out = append(out, t.Name)
	}
	return out
}

// comparePrefixes orders prefixes by address, then length.
func comparePrefixes(a, b netip.Prefix) int { return a.Compare(b) }
