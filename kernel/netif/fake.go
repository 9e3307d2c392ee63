package netif

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/kernel/internal/fakecalls"
)

// ErrLinkNotFound is wrapped by errors about a link that does not exist.
var ErrLinkNotFound = errors.New("link not found")

// Fake is an in-memory set of links and their addresses with the semantics the interface
// promises (idempotent add and delete), a log of the changing calls and fault injection.
// It is safe for concurrent use.
type Fake struct {
	mu    sync.Mutex
	links []dataplane.Link
	calls *fakecalls.Recorder
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake holding links (copied). Links without an index get the next free
// one, as the kernel numbers them.
func NewFake(links ...dataplane.Link) *Fake {
	f := &Fake{calls: fakecalls.New("netif.Fake", "Links", "EnsureDummy", "DeleteLink", "AddAddress", "DeleteAddress")}
	for _, l := range links {
		l.Addrs = slices.Clone(l.Addrs)
		if l.Index == 0 {
			l.Index = f.nextIndex()
		}
		f.links = append(f.links, l)
	}
	return f
}

// Calls lists the changing calls made so far, in order, whether they succeeded or not:
// "EnsureDummy kube-ipvs0", "AddAddress kube-ipvs0 10.96.0.1/32".
func (f *Fake) Calls() []string { return f.calls.Calls() }

// ResetCalls forgets the calls logged so far.
func (f *Fake) ResetCalls() { f.calls.Reset() }

// FailNext makes the next call of op (a method name: "Links", "EnsureDummy", "DeleteLink",
// "AddAddress", "DeleteAddress") fail with err without changing anything. Queued errors
// are used one per call, in order.
func (f *Fake) FailNext(op string, err error) { f.calls.FailNext(op, err) }

func (f *Fake) nextIndex() int {
	n := 0
	for _, l := range f.links {
		n = max(n, l.Index)
	}
	return n + 1
}

func (f *Fake) find(name string) int {
	return slices.IndexFunc(f.links, func(l dataplane.Link) bool { return l.Name == name })
}

// Links lists the links ordered by index, each with a copy of its addresses.
func (f *Fake) Links() ([]dataplane.Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.calls.Fault("Links"); err != nil {
		return nil, err
	}
	out := make([]dataplane.Link, 0, len(f.links))
	for _, l := range f.links {
		l.Addrs = slices.Clone(l.Addrs)
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b dataplane.Link) int { return a.Index - b.Index })
	return out, nil
}

// EnsureDummy creates a down dummy link unless one of that name exists; a link of that
// name that is not a dummy is an error, as on Linux.
func (f *Fake) EnsureDummy(name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.Recordf("EnsureDummy %s", name)
	if err := f.calls.Fault("EnsureDummy"); err != nil {
		return false, err
	}
	if err := checkLinkName(name); err != nil {
		return false, err
	}
	if i := f.find(name); i >= 0 {
		if k := f.links[i].Kind; k != "dummy" {
			return false, notDummy(name, k)
		}
		return false, nil
	}
	f.links = append(f.links, dataplane.Link{Name: name, Index: f.nextIndex(), Kind: "dummy"})
	return true, nil
}

// DeleteLink removes a link and its addresses; a missing link is not an error.
func (f *Fake) DeleteLink(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.Recordf("DeleteLink %s", name)
	if err := f.calls.Fault("DeleteLink"); err != nil {
		return err
	}
	if i := f.find(name); i >= 0 {
		f.links = slices.Delete(f.links, i, i+1)
	}
	return nil
}

// AddAddress binds p to the link; an address already bound with the same prefix length
// is left as it is.
func (f *Fake) AddAddress(link string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.Recordf("AddAddress %s %s", link, p)
	if err := f.calls.Fault("AddAddress"); err != nil {
		return err
	}
	if !p.IsValid() {
		return fmt.Errorf("add address %s to %s: %w", p, link, syscall.EINVAL)
	}
	i := f.find(link)
	if i < 0 {
		return fmt.Errorf("add address %s to %s: %w", p, link, ErrLinkNotFound)
	}
	if !slices.Contains(f.links[i].Addrs, p) {
		f.links[i].Addrs = append(f.links[i].Addrs, p)
	}
	return nil
}

// DeleteAddress unbinds p (address and prefix length must match, as for the kernel); an
// address or link that is not there is not an error.
func (f *Fake) DeleteAddress(link string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls.Recordf("DeleteAddress %s %s", link, p)
	if err := f.calls.Fault("DeleteAddress"); err != nil {
		return err
	}
	if !p.IsValid() {
		return fmt.Errorf("delete address %s from %s: %w", p, link, syscall.EINVAL)
	}
	if i := f.find(link); i >= 0 {
		f.links[i].Addrs = slices.DeleteFunc(f.links[i].Addrs, func(a netip.Prefix) bool { return a == p })
	}
	return nil
}

func notDummy(name, kind string) error {
	return fmt.Errorf("link %s exists with kind %q, expected a dummy: delete it or choose another name", name, kind)
}

// checkLinkName applies the kernel's rules for interface names (dev_valid_name).
func checkLinkName(name string) error {
	if name == "" || len(name) >= 16 || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("link name %q: expected 1 to 15 characters without '/', ':' or white space: %w", name, syscall.EINVAL)
	}
	return nil
}
