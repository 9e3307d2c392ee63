package proxy

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// sameSetType tells whether an existing set can hold what the wanted one describes:
// type, family and bitmap range must match; hash sizes the kernel may have grown do not.
func sameSetType(have, want dataplane.IPSet) bool {
	return have.Type == want.Type && have.Family == want.Family &&
		(have.PortRange == "" || want.PortRange == "" || have.PortRange == want.PortRange)
}

// syncSet creates a wanted set (replacing one of the wrong type) and adds its missing
// members in one batch. Members no longer wanted go after the iptables transaction.
func (r *Reconciler) syncSet(ds *dataplane.IPSet) {
	ks := r.sets[ds.Name]
	if ks != nil && !sameSetType(ks.header, *ds) {
		// A set of the wrong type cannot hold the members: replace it. The kernel refuses
		// while an iptables rule uses the set, and the failure says so.
		r.log.Info("Replacing ip set of the wrong type", "ipset", ds.Name, "have", ks.header.Type, "want", ds.Type)
		r.changes++
		if err := r.k.IPSets.Destroy(ds.Name); err != nil {
			r.fail("destroy ip set of the wrong type", fmt.Sprintf("%s (%s %s, want %s %s)", ds.Name, ks.header.Type, ks.header.Family, ds.Type, ds.Family), err)
			// Keep it and its members: a set that cannot be fixed is not emptied either.
			ks.gen = r.gen
			for m := range ks.members {
				ks.members[m] = r.gen
			}
			return
		}
		r.dropSet(ds.Name)
		ks = nil
	}
	if ks == nil {
		r.changes++
		if err := r.k.IPSets.Create(setHeader(*ds)); err != nil {
			r.fail("create ip set", ds.Name, err)
			return
		}
		ks = r.putSet(*ds, nil, r.gen)
	}
	ks.gen = r.gen
	var add []dataplane.Member
	for _, m := range ds.Members {
		if _, ok := ks.members[m]; ok {
			ks.members[m] = r.gen
			continue
		}
		add = append(add, m)
	}
	if len(add) > 0 {
		r.setMembers(ks, "add to ip set", add, r.k.IPSets.Add, func(m dataplane.Member) { r.putMember(ks, m, r.gen) })
	}
}

// removeUnmarkedMembers deletes, in one batch, the members this sync did not want.
func (r *Reconciler) removeUnmarkedMembers(ks *knownSet) {
	var del []dataplane.Member
	for m, gen := range ks.members {
		if gen != r.gen {
			del = append(del, m)
		}
	}
	if len(del) > 0 {
		slices.SortFunc(del, dataplane.Member.Compare)
		r.setMembers(ks, "delete from ip set", del, r.k.IPSets.Del, func(m dataplane.Member) { r.dropMember(ks, m) })
	}
}

// addMembers adds the members a delta wants that the set lacks.
func (r *Reconciler) addMembers(name string, want map[dataplane.Member]bool) {
	ks := r.sets[name]
	var add []dataplane.Member
	for _, m := range slices.SortedFunc(maps.Keys(want), dataplane.Member.Compare) {
		if !want[m] {
			continue
		}
		if ks != nil {
			if _, ok := ks.members[m]; ok {
				continue
			}
		}
		add = append(add, m)
	}
	if len(add) == 0 {
		return
	}
	if ks == nil {
		r.fail("add to ip set", name+" "+add[0].String(), errors.New("the set does not exist; the next full sync creates it"))
		return
	}
	r.setMembers(ks, "add to ip set", add, r.k.IPSets.Add, func(m dataplane.Member) { r.putMember(ks, m, r.gen) })
}

// deleteMembers deletes the members a delta no longer wants that the set holds.
func (r *Reconciler) deleteMembers(name string, want map[dataplane.Member]bool) {
	ks := r.sets[name]
	if ks == nil {
		return
	}
	var del []dataplane.Member
	for _, m := range slices.SortedFunc(maps.Keys(want), dataplane.Member.Compare) {
		if want[m] {
			continue
		}
		if _, ok := ks.members[m]; ok {
			del = append(del, m)
		}
	}
	if len(del) > 0 {
		r.setMembers(ks, "delete from ip set", del, r.k.IPSets.Del, func(m dataplane.Member) { r.dropMember(ks, m) })
	}
}

// destroySet destroys a set of the proxier's that the desired state no longer has.
func (r *Reconciler) destroySet(name string) {
	r.changes++
	if err := r.k.IPSets.Destroy(name); err != nil {
		r.fail("destroy ip set", name, err)
		return
	}
	r.dropSet(name)
}

// setMembers adds or deletes members in one batch; if the batch fails it goes member by
// member, so the rest still lands and each failure names its member.
func (r *Reconciler) setMembers(ks *knownSet, op string, members []dataplane.Member, call func(string, ...dataplane.Member) error, done func(dataplane.Member)) {
	name := ks.header.Name
	r.changes++
	err := call(name, members...)
	if err == nil {
		for _, m := range members {
			done(m)
		}
		return
	}
	if len(members) == 1 {
		r.fail(op, name+" "+members[0].String(), err)
		return
	}
	r.log.V(2).Info("Batch ip set change failed; retrying member by member", "ipset", name, "members", len(members), "err", err)
	for _, m := range members {
		r.changes++
		if err := call(name, m); err != nil {
			r.fail(op, name+" "+m.String(), err)
			continue
		}
		done(m)
	}
}
