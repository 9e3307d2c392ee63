package ipset

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/fakecalls"
)

// Fake is an in-memory set of ip sets with the kernel's checks: members are validated
// against the set type and family (dataplane.ParseMember), a set is created once per name
// and type, a full hash set refuses more members. Its Recorder logs every changing call
// ("Create KUBE-CLUSTER-IP hash:ip,port", "Add KUBE-CLUSTER-IP 10.96.0.1,tcp:443") and
// fails the next List, Create, Destroy, Add or Del on request. It is safe for concurrent
// use.
type Fake struct {
	mu   sync.Mutex
	sets map[string]*fakeSet
	*fakecalls.Recorder
}

type fakeSet struct {
	header  dataplane.IPSet
	members map[dataplane.Member]bool
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake without sets.
func NewFake() *Fake {
	return &Fake{
		sets:     map[string]*fakeSet{},
		Recorder: fakecalls.New("ipset.Fake", "List", "Create", "Destroy", "Add", "Del"),
	}
}

// Has tells whether a set exists; pass it to iptables.Fake.CheckSets so that rules on
// missing sets are refused as the kernel refuses them.
func (f *Fake) Has(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.sets[name]
	return ok
}

// List returns every set, sorted by name, with its members sorted.
func (f *Fake) List() ([]dataplane.IPSet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fault("List"); err != nil {
		return nil, err
	}
	out := make([]dataplane.IPSet, 0, len(f.sets))
	for _, s := range f.sets {
		set := s.header
		set.Members = slices.SortedFunc(maps.Keys(s.members), dataplane.Member.Compare)
		out = append(out, set)
	}
	slices.SortFunc(out, func(a, b dataplane.IPSet) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Create makes a set from the header of set; a set of that name with the same type and
// family is kept as it is, one with another type or family is an error.
func (f *Fake) Create(set dataplane.IPSet) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call("Create", set.Name, set.Type); err != nil {
		return err
	}
	h, err := normalizeHeader(set)
	if err != nil {
		return fmt.Errorf("create set: %w", err)
	}
	if cur, ok := f.sets[h.Name]; ok {
		return sameSet(cur.header, h)
	}
	f.sets[h.Name] = &fakeSet{header: h, members: map[dataplane.Member]bool{}}
	return nil
}

// sameSet accepts creating a set again with the type and family it has.
func sameSet(cur, want dataplane.IPSet) error {
	if cur.Type != want.Type || cur.Family != want.Family {
		return fmt.Errorf("create set %s %s %s: it exists as %s %s: destroy it first (%w)",
			want.Name, want.Type, want.Family, cur.Type, cur.Family, syscall.EEXIST)
	}
	return nil
}

// Destroy removes a set; a missing set is not an error.
func (f *Fake) Destroy(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call("Destroy", name); err != nil {
		return err
	}
	delete(f.sets, name)
	return nil
}

// Add adds members; present members are not an error. Every member is checked before
// any is added; a full set stops the batch where it filled up, as the kernel does.
func (f *Fake) Add(name string, members ...dataplane.Member) error {
	return f.changeMembers("Add", "add to", name, members, func(s *fakeSet, m dataplane.Member) error {
		if s.members[m] {
			return nil
		}
		if s.header.MaxElem != 0 && uint32(len(s.members)) >= s.header.MaxElem {
			return fmt.Errorf("add %s to set %s: the set is full (maxelem %d): recreate it with a larger maxelem: %w",
				m, name, s.header.MaxElem, syscall.ENOSPC)
		}
		s.members[m] = true
		return nil
	})
}

// Del removes members; absent members are not an error.
func (f *Fake) Del(name string, members ...dataplane.Member) error {
	return f.changeMembers("Del", "delete from", name, members, func(s *fakeSet, m dataplane.Member) error {
		delete(s.members, m)
		return nil
	})
}

// changeMembers logs a call of op (Add or Del) and applies it to each member in turn,
// stopping at the first that fails. Nothing is applied when the call fails as a whole: a
// queued failure, a missing set (verb says what the call did to it, "add to"), or a
// member that does not fit the set.
func (f *Fake) changeMembers(op, verb, name string, members []dataplane.Member, apply func(*fakeSet, dataplane.Member) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call(op, call(name, members)); err != nil {
		return err
	}
	s, err := f.set(verb, name)
	if err != nil {
		return err
	}
	if err := checkMembers(s.header, members); err != nil {
		return fmt.Errorf("%s %w", verb, err)
	}
	for _, m := range members {
		if err := apply(s, m); err != nil {
			return err
		}
	}
	return nil
}

// call writes a call's set and members as a log line: "KUBE-CLUSTER-IP 10.96.0.1,tcp:443".
func call(name string, members []dataplane.Member) string {
	words := []string{name}
	for _, m := range members {
		words = append(words, m.String())
	}
	return strings.Join(words, " ")
}

func (f *Fake) set(op, name string) (*fakeSet, error) {
	s, ok := f.sets[name]
	if !ok {
		return nil, fmt.Errorf("%s set %s: no such set: create it first: %w", op, name, syscall.ENOENT)
	}
	return s, nil
}
