package netif

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/fakecalls"
)

// Fake is an in-memory set of links and their addresses with the semantics the interface
// promises (idempotent add and delete). Its Recorder logs every changing call
// ("EnsureDummy kube-ipvs0", "AddAddresses kube-ipvs0 10.96.0.1/32 10.96.0.10/32"; empty
// batches are not calls) and fails the next call of any method on request, as a failed
// socket would. It is safe for concurrent use.
type Fake struct {
	mu    sync.Mutex
	links []dataplane.Link
	*fakecalls.Recorder
	// addrFaults are the failures queued for single addresses (FailAddress).
	addrFaults map[netip.Prefix][]error
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake holding links (copied). Links without an index get the next free
// one, as the kernel numbers them.
func NewFake(links ...dataplane.Link) *Fake {
	f := &Fake{Recorder: fakecalls.New("netif.Fake", "Links", "EnsureDummy", "DeleteLink",
		"AddAddress", "DeleteAddress", "AddAddresses", "DeleteAddresses")}
	for _, l := range links {
		l.Addrs = slices.Clone(l.Addrs)
		if l.Index == 0 {
			l.Index = f.nextIndex()
		}
		f.links = append(f.links, l)
	}
	return f
}

// FailAddress makes the next add or delete of p, alone or in a batch, fail with err as the
// kernel refuses one address: the other addresses of a batch are applied, and the batch
// returns a *BatchError naming p. Queued errors are used one per change of p, in order.
func (f *Fake) FailAddress(p netip.Prefix, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addrFaults == nil {
		f.addrFaults = map[netip.Prefix][]error{}
	}
	f.addrFaults[p] = append(f.addrFaults[p], err)
}

// addrFault takes the failure queued first for p.
func (f *Fake) addrFault(p netip.Prefix) error {
	q := f.addrFaults[p]
	if len(q) == 0 {
		return nil
	}
	if len(q) == 1 {
		delete(f.addrFaults, p)
	} else {
		f.addrFaults[p] = q[1:]
	}
	return q[0]
}

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
	if err := f.Fault("Links"); err != nil {
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
	if err := f.Call("EnsureDummy", name); err != nil {
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
	if err := f.Call("DeleteLink", name); err != nil {
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
	return singleResult(f.batch("AddAddress", link, []netip.Prefix{p}, f.addAddrs))
}

// DeleteAddress unbinds p (address and prefix length must match, as for the kernel); an
// address or link that is not there is not an error.
func (f *Fake) DeleteAddress(link string, p netip.Prefix) error {
	return singleResult(f.batch("DeleteAddress", link, []netip.Prefix{p}, f.deleteAddrs))
}

// AddAddresses binds each prefix as AddAddress does; the failed ones are named in a
// *BatchError and the others bound.
func (f *Fake) AddAddresses(link string, ps []netip.Prefix) error {
	return f.batch("AddAddresses", link, ps, f.addAddrs)
}

// DeleteAddresses unbinds each prefix as DeleteAddress does; the failed ones are named in
// a *BatchError and the others unbound.
func (f *Fake) DeleteAddresses(link string, ps []netip.Prefix) error {
	return f.batch("DeleteAddresses", link, ps, f.deleteAddrs)
}

// batch logs a call of op (AddAddress, AddAddresses, DeleteAddress or DeleteAddresses)
// and applies it with f.mu held. An empty batch is no call: nothing is logged and no
// queued failure is used.
func (f *Fake) batch(op, link string, ps []netip.Prefix, apply func(link string, ps []netip.Prefix) error) error {
	if len(ps) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call(op, link, joinPrefixes(ps)); err != nil {
		return err
	}
	return apply(link, ps)
}

// addAddrs binds ps to the link, each on its own as the kernel takes them. It indexes
// the link's addresses once, so that a batch costs its own size, not its size times the
// link's.
func (f *Fake) addAddrs(link string, ps []netip.Prefix) error {
	i := f.find(link)
	if i < 0 {
		return linkMissing(link, ps)
	}
	l := &f.links[i]
	bound := make(map[netip.Prefix]bool, len(l.Addrs)+len(ps))
	for _, a := range l.Addrs {
		bound[a] = true
	}
	var failed []*AddressError
	for _, p := range ps {
		err := f.addrFault(p)
		if err == nil && !p.IsValid() {
			err = syscall.EINVAL
		}
		if err == nil {
			err = refusedAddress(*l, p)
		}
		if err != nil {
			failed = append(failed, &AddressError{Op: opAdd, Link: link, Prefix: p, Err: err})
			continue
		}
		if !bound[p] {
			bound[p] = true
			l.Addrs = append(l.Addrs, p)
		}
	}
	return batchResult(len(ps), failed)
}

// deleteAddrs unbinds ps from the link (a missing link holds none of them).
func (f *Fake) deleteAddrs(link string, ps []netip.Prefix) error {
	i := f.find(link)
	drop := make(map[netip.Prefix]bool, len(ps))
	var failed []*AddressError
	for _, p := range ps {
		err := f.addrFault(p)
		if err == nil && !p.IsValid() {
			err = syscall.EINVAL
		}
		if err != nil {
			failed = append(failed, &AddressError{Op: opDelete, Link: link, Prefix: p, Err: err})
			continue
		}
		drop[p] = true
	}
	if i >= 0 && len(drop) > 0 {
		f.links[i].Addrs = slices.DeleteFunc(f.links[i].Addrs, func(a netip.Prefix) bool { return drop[a] })
	}
	return batchResult(len(ps), failed)
}

// refusedAddress is the kernel's answer to binding p to l: IPv6 takes neither the
// unspecified address nor a multicast one (not without IFA_F_MCAUTOJOIN), nor ::1 off the
// loopback (ipv6_add_addr).
func refusedAddress(l dataplane.Link, p netip.Prefix) error {
	a := p.Addr()
	if a.Is6() && !a.Is4In6() && (a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() && l.Kind != "loopback") {
		return syscall.EADDRNOTAVAIL
	}
	return nil
}

func joinPrefixes(ps []netip.Prefix) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.String())
	}
	return b.String()
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
