package conntrack

import (
	"fmt"
	"slices"
	"sync"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/fakecalls"
)

// Fake is an in-memory conntrack table. It keeps the entries it was given, deletes the ones
// a filter calls stale, and remembers the deleted ones. Its Recorder logs every call
// ("DeleteStale 4") and fails the next List or DeleteStale on request. It is safe for
// concurrent use.
type Fake struct {
	mu      sync.Mutex
	flows   []Flow
	deleted []Flow
	*fakecalls.Recorder
}

var _ Interface = (*Fake)(nil)

// NewFake returns a table holding flows.
func NewFake(flows ...Flow) *Fake {
	return &Fake{flows: slices.Clone(flows), Recorder: fakecalls.New("conntrack.Fake", "List", "DeleteStale")}
}

// Add puts entries into the table, as traffic would.
func (f *Fake) Add(flows ...Flow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flows = append(f.flows, flows...)
}

// Deleted returns the entries deleted so far, in the order they were deleted.
func (f *Fake) Deleted() []Flow {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.deleted)
}

// List returns the family's entries.
func (f *Fake) List(family int) ([]Flow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call("List", family); err != nil {
		return nil, err
	}
	if err := checkFamily(family); err != nil {
		return nil, err
	}
	var out []Flow
	for _, fl := range f.flows {
		if dataplane.IPFamily(fl.OrigSrc.Addr()) == family {
			out = append(out, fl)
		}
	}
	return out, nil
}

// DeleteStale deletes the family's entries that sf calls stale.
func (f *Fake) DeleteStale(family int, sf *StaleFilter) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call("DeleteStale", family); err != nil {
		return 0, err
	}
	if err := checkFamily(family); err != nil {
		return 0, err
	}
	n := 0
	f.flows = slices.DeleteFunc(f.flows, func(fl Flow) bool {
		if dataplane.IPFamily(fl.OrigSrc.Addr()) != family || !sf.Stale(fl) {
			return false
		}
		f.deleted = append(f.deleted, fl)
		n++
		return true
	})
	return n, nil
}

func checkFamily(family int) error {
	if family != 4 && family != 6 {
		return fmt.Errorf("conntrack family %d: expected 4 or 6", family)
	}
	return nil
}
