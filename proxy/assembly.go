package proxy

import (
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/desired"
)

// assembly keeps one family's desired state as per-Service shares (desired.Env.Service)
// with reference counts on everything Services can share - virtual servers two Services
// claim, addresses, set members, drop rules - so that a change to a few Services yields
// the few kernel objects it touches (a Delta) without walking the rest. A full rebuild goes
// through desired.Env.Assemble itself; the property tests hold both ways to one result.
type assembly struct {
	family int
	env    *desired.Env
	// envInput is the Input env was built from, without Services and Slices: a change to
	// it (node addresses, labels, configuration) means a rebuild.
	envInput desired.Input
	// states holds the share of each Service that puts something in the kernel.
	states map[types.NamespacedName]*desired.ServiceState

	// claims lists, per virtual server, the Services that produce it in Assemble's order
	// (by namespace and name); the first one's wins, as in Assemble.
	claims   map[dataplane.ServiceKey][]types.NamespacedName
	binds    map[netip.Addr]int
	members  [desired.NumSets]map[dataplane.Member]int
	drops    map[string]int
	nonEmpty [desired.NumSets]bool
	// noLocalInternal and noLocalExternal count the Services whose Local policy found no
	// local endpoint (desired.ServiceState.NoLocalInternal, NoLocalExternal).
	noLocalInternal, noLocalExternal int
	// rules is the family's ruleset as last computed.
	rules dataplane.Ruleset

	// What the current update touched.
	touchedVS      map[dataplane.ServiceKey]bool
	touchedAddr    map[netip.Addr]bool
	touchedMembers [desired.NumSets]map[dataplane.Member]bool
	dropsChanged   bool
}

// serviceInputs are the Services to recompute: each named Service's object (nil: deleted)
// and its EndpointSlices sorted by name; with all set, these are every Service there is.
type serviceInputs struct {
	all      bool
	services map[types.NamespacedName]*corev1.Service
	slices   map[types.NamespacedName][]*discoveryv1.EndpointSlice
}

func newAssembly(family int) *assembly {
	return &assembly{family: family}
}

// stale tells whether the assembly must be rebuilt for this environment.
func (a *assembly) stale(env desired.Input) bool {
	env.Family, env.Services, env.Slices = a.family, nil, nil
	return a.env == nil || !reflect.DeepEqual(env, a.envInput)
}

// rebuild recomputes every Service (in.all must be set) and returns the whole state.
func (a *assembly) rebuild(env desired.Input, in serviceInputs) desired.Result {
	env.Family, env.Services, env.Slices = a.family, nil, nil
	a.env, a.envInput = desired.NewEnv(env), env
	// Sized by the last build: the other family's assembly of a single-stack cluster
	// holds nothing, and sizing it by the Service count would cost megabytes at 10,000.
	size := len(a.states)
	a.states = make(map[types.NamespacedName]*desired.ServiceState, size)
	a.claims = make(map[dataplane.ServiceKey][]types.NamespacedName, size)
	a.binds = make(map[netip.Addr]int, size)
	for id := range desired.NumSets {
		a.members[id] = map[dataplane.Member]int{}
	}
	a.drops = map[string]int{}
	a.noLocalInternal, a.noLocalExternal = 0, 0
	a.resetTouched()
	// Only the Services that put something in the kernel go to Assemble (in Compute's
	// order) and are kept; the others' skip notes are added after.
	states := make([]desired.ServiceState, 0, size)
	var skipped []desired.Skip
	for _, nn := range slices.SortedFunc(maps.Keys(in.services), compareNames) {
		svc := in.services[nn]
		if svc == nil {
			continue
		}
		st := a.env.Service(svc, in.slices[nn])
		if st.Empty() {
			skipped = append(skipped, st.Skipped...)
			continue
		}
		states = append(states, st)
	}
	for i := range states {
		st := &states[i]
		a.states[st.Service] = st
		a.ref(st.Service, st)
	}
	res := a.env.Assemble(states)
	res.Skipped = append(res.Skipped, skipped...)
	a.nonEmpty = a.currentNonEmpty()
	a.rules = familyRules(&res.State, a.family)
	a.resetTouched()
	return res
}

// assembled is the whole state of the Services as last computed, for a full sync that
// does not recompute them.
func (a *assembly) assembled() desired.Result {
	order := slices.SortedFunc(maps.Keys(a.states), compareNames)
	states := make([]desired.ServiceState, len(order))
	for i, nn := range order {
		states[i] = *a.states[nn]
	}
	res := a.env.Assemble(states)
	a.rules = familyRules(&res.State, a.family)
	return res
}

// update recomputes the Services in in (an assembly that is not stale) and returns what
// they changed, with the Services' skip notes.
func (a *assembly) update(in serviceInputs) (*Delta, []desired.Skip) {
	a.resetTouched()
	var skipped []desired.Skip
	for _, nn := range slices.SortedFunc(maps.Keys(in.services), compareNames) {
		if old := a.states[nn]; old != nil {
			a.unref(nn, old)
			delete(a.states, nn)
		}
		svc := in.services[nn]
		if svc == nil {
			continue
		}
		st := a.env.Service(svc, in.slices[nn])
		skipped = append(skipped, st.Skipped...)
		if !st.Empty() {
			a.states[nn] = &st
			a.ref(nn, &st)
		}
	}
	return a.delta(), skipped
}

func boolCount(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (a *assembly) resetTouched() {
	a.touchedVS = map[dataplane.ServiceKey]bool{}
	a.touchedAddr = map[netip.Addr]bool{}
	for id := range desired.NumSets {
		a.touchedMembers[id] = map[dataplane.Member]bool{}
	}
	a.dropsChanged = false
}

// ref counts one Service's share in.
func (a *assembly) ref(nn types.NamespacedName, st *desired.ServiceState) {
	a.noLocalInternal += boolCount(st.NoLocalInternal)
	a.noLocalExternal += boolCount(st.NoLocalExternal)
	a.eachKey(st, func(k dataplane.ServiceKey) {
		cl := a.claims[k]
		i, _ := slices.BinarySearchFunc(cl, nn, compareNames)
		a.claims[k] = slices.Insert(cl, i, nn)
		a.touchedVS[k] = true
	})
	for _, addr := range st.Bind {
		if a.binds[addr]++; a.binds[addr] == 1 {
			a.touchedAddr[addr] = true
		}
	}
	for _, sm := range st.Members {
		id := sm.Set
		if id == desired.SetIPVSIPs {
			continue // Assemble fills it from the bound addresses
		}
		for _, m := range sm.Members {
			if a.members[id][m]++; a.members[id][m] == 1 {
				a.touchedMembers[id][m] = true
			}
		}
	}
	for _, d := range st.OutFilterDrops {
		if a.drops[d]++; a.drops[d] == 1 {
			a.dropsChanged = true
		}
	}
}

// unref counts one Service's old share out.
func (a *assembly) unref(nn types.NamespacedName, st *desired.ServiceState) {
	a.noLocalInternal -= boolCount(st.NoLocalInternal)
	a.noLocalExternal -= boolCount(st.NoLocalExternal)
	a.eachKey(st, func(k dataplane.ServiceKey) {
		deleteSorted(a.claims, k, nn, compareNames)
		a.touchedVS[k] = true
	})
	for _, addr := range st.Bind {
		if a.binds[addr]--; a.binds[addr] == 0 {
			delete(a.binds, addr)
			a.touchedAddr[addr] = true
		}
	}
	for _, sm := range st.Members {
		id := sm.Set
		if id == desired.SetIPVSIPs {
			continue
		}
		for _, m := range sm.Members {
			if a.members[id][m]--; a.members[id][m] == 0 {
				delete(a.members[id], m)
				a.touchedMembers[id][m] = true
			}
		}
	}
	for _, d := range st.OutFilterDrops {
		if a.drops[d]--; a.drops[d] == 0 {
			delete(a.drops, d)
			a.dropsChanged = true
		}
	}
}

// eachKey calls f once for every virtual server key of a Service's share (which lists
// them sorted, so a repeated key is next to its first).
func (a *assembly) eachKey(st *desired.ServiceState, f func(dataplane.ServiceKey)) {
	vss := st.VirtualServers
	for i := range vss {
		k := vss[i].Key()
		if i > 0 && vss[i-1].Key() == k {
			continue
		}
		f(k)
	}
}

// delta turns what the update touched into what is now wanted of each object.
func (a *assembly) delta() *Delta {
	d := &Delta{
		Services: make(map[dataplane.ServiceKey]*dataplane.VirtualServer, len(a.touchedVS)),
		Addrs:    make(map[netip.Prefix]bool, len(a.touchedAddr)),
		Members:  map[string]map[dataplane.Member]bool{},
	}
	for k := range a.touchedVS {
		d.Services[k] = nil
		if cl := a.claims[k]; len(cl) > 0 {
			d.Services[k] = a.virtualServer(cl[0], k)
		}
	}
	member := func(id desired.SetID, m dataplane.Member, want bool) {
		name := id.Spec().NameFor(a.family)
		if d.Members[name] == nil {
			d.Members[name] = map[dataplane.Member]bool{}
		}
		d.Members[name][m] = want
	}
	for addr := range a.touchedAddr {
		want := a.binds[addr] > 0
		d.Addrs[netip.PrefixFrom(addr, addr.BitLen())] = want
		member(desired.SetIPVSIPs, dataplane.Member{IP: addr}, want)
	}
	for id := range desired.NumSets {
		for m := range a.touchedMembers[id] {
			member(id, m, a.members[id][m] > 0)
		}
	}
	if nonEmpty := a.currentNonEmpty(); nonEmpty != a.nonEmpty || a.dropsChanged {
		a.nonEmpty = nonEmpty
		rules := a.computeRules()
		a.rules = rules
		d.Rules = &rules
	}
	return d
}

// virtualServer is the first virtual server with the key in a Service's share.
func (a *assembly) virtualServer(nn types.NamespacedName, k dataplane.ServiceKey) *dataplane.VirtualServer {
	st := a.states[nn]
	if st == nil {
		return nil
	}
	for i := range st.VirtualServers {
		if st.VirtualServers[i].Key() == k {
			vs := st.VirtualServers[i]
			return &vs
		}
	}
	return nil
}

func (a *assembly) currentNonEmpty() [desired.NumSets]bool {
	var out [desired.NumSets]bool
	for id := range desired.NumSets {
		out[id] = len(a.members[id]) > 0
	}
	out[desired.SetIPVSIPs] = len(a.binds) > 0
	return out
}

// computeRules derives the ruleset, which depends only on which sets have members and on
// the drop rules, by assembling a stand-in Service share with one member in each non-empty
// set. (An adapter until package desired exports the ruleset function itself.)
func (a *assembly) computeRules() dataplane.Ruleset {
	var st desired.ServiceState
	for id := range desired.NumSets {
		if a.nonEmpty[id] && id != desired.SetIPVSIPs {
			st.Members = append(st.Members, desired.SetMembers{Set: id, Members: []dataplane.Member{{}}})
		}
	}
	if a.nonEmpty[desired.SetIPVSIPs] {
		st.Bind = []netip.Addr{netip.IPv4Unspecified()}
		if a.family == 6 {
			st.Bind = []netip.Addr{netip.IPv6Unspecified()}
		}
	}
	st.OutFilterDrops = slices.Sorted(maps.Keys(a.drops))
	res := a.env.Assemble([]desired.ServiceState{st})
	return familyRules(&res.State, a.family)
}

// familyRules is the state's ruleset of a family.
func familyRules(s *dataplane.State, family int) dataplane.Ruleset {
	if family == 6 {
		return s.IP6Tables
	}
	return s.IPTables
}

// deleteSorted removes target from the list m[k], sorted by cmp, and drops k once its list
// is empty.
func deleteSorted[K comparable, E, T any](m map[K][]E, k K, target T, cmp func(E, T) int) {
	list := m[k]
	if i, found := slices.BinarySearchFunc(list, target, cmp); found {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(m, k)
	} else {
		m[k] = list
	}
}

// compareNames orders Services as Compute does: by namespace, then name.
func compareNames(a, b types.NamespacedName) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
