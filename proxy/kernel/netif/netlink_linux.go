package netif

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// Linux is the link layer of a network namespace through rtnetlink.
type Linux struct {
	h *netlink.Handle
	// addrs carries address changes in batches (addrbatch_linux.go) and reads the
	// addresses with a streaming dump (addrdump_linux.go).
	addrs *nlbatch.Socket
}

var _ Interface = (*Linux)(nil)

// NewLinux returns the link layer of the caller's network namespace.
func NewLinux() (*Linux, error) {
	// Only NETLINK_ROUTE: with no families netlink also opens an XFRM socket, which
	// kernels without XFRM refuse ("protocol not supported").
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	a, err := nlbatch.Open(netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("open rtnetlink socket for address changes: %w", err)
	}
	return &Linux{h: h, addrs: a}, nil
}

// NewLinuxAt returns the link layer of the network namespace ns; the caller keeps ns open
// as long as the Linux is used.
func NewLinuxAt(ns netns.NsHandle) (*Linux, error) {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket in netns %s: %w", ns, err)
	}
	a, err := nlbatch.Open(ns, unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("open rtnetlink socket for address changes in netns %s: %w", ns, err)
	}
	return &Linux{h: h, addrs: a}, nil
}

// Close releases the netlink sockets.
func (l *Linux) Close() error {
	l.h.Close()
	l.addrs.Close()
	return nil
}

// dumpRetries bounds the retries of a dump the kernel interrupted because the table
// changed while it was read.
const dumpRetries = 5

// Links lists the links ordered by index with their IPv4 and IPv6 addresses.
func (l *Linux) Links() ([]dataplane.Link, error) {
	var (
		links   []netlink.Link
		byIndex addrTable
		err     error
	)
	for range dumpRetries {
		links, err = l.h.LinkList()
		if err == nil {
			byIndex, err = l.dumpAddresses()
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) && !errors.Is(err, nlbatch.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list links and addresses: %w", err)
	}
	out := make([]dataplane.Link, 0, len(links))
	for _, link := range links {
		attrs := link.Attrs()
		out = append(out, dataplane.Link{
			Name:  attrs.Name,
			Index: attrs.Index,
			Kind:  linkKind(link),
			Up:    attrs.Flags&net.FlagUp != 0,
			Addrs: byIndex[attrs.Index],
		})
	}
	slices.SortFunc(out, func(a, b dataplane.Link) int { return a.Index - b.Index })
	return out, nil
}

// linkKind names the link type as netlink's IFLA_INFO_KIND does ("dummy", "veth"), with
// "loopback" for lo and "device" for links without a kind, such as physical NICs.
func linkKind(link netlink.Link) string {
	if link.Attrs().Flags&net.FlagLoopback != 0 {
		return "loopback"
	}
	return link.Type()
}

// lookup finds a link by name; found is false (and err nil) when there is none.
func (l *Linux) lookup(name string) (link netlink.Link, found bool, err error) {
	link, err = l.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return link, true, nil
}

// EnsureDummy creates the dummy link name, down, unless it exists. A link of that name of
// another kind is an error: binding service addresses to a real interface would be wrong.
func (l *Linux) EnsureDummy(name string) (bool, error) {
	if err := checkLinkName(name); err != nil {
		return false, err
	}
	link, found, err := l.lookup(name)
	if err != nil {
		return false, fmt.Errorf("look up link %s: %w", name, err)
	}
	if found {
		if k := link.Type(); k != "dummy" {
			return false, notDummy(name, k)
		}
		return false, nil
	}
	err = l.h.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}})
	if errors.Is(err, unix.EEXIST) {
		// Created by someone else between the lookup and the add.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create dummy link %s: %w", name, err)
	}
	return true, nil
}

// DeleteLink removes a link; a missing link is not an error.
func (l *Linux) DeleteLink(name string) error {
	link, found, err := l.lookup(name)
	if err != nil {
		return fmt.Errorf("look up link %s: %w", name, err)
	}
	if !found {
		return nil
	}
	if err := l.h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// AddAddress binds p to the link with replace semantics, so binding it twice is not an
// error.
func (l *Linux) AddAddress(link string, p netip.Prefix) error {
	return singleResult(l.AddAddresses(link, []netip.Prefix{p}))
}

// DeleteAddress unbinds p; an address or link that is not there is not an error.
func (l *Linux) DeleteAddress(link string, p netip.Prefix) error {
	return singleResult(l.DeleteAddresses(link, []netip.Prefix{p}))
}

// AddAddresses binds each prefix to the link with replace semantics (RTM_NEWADDR with
// NLM_F_CREATE|NLM_F_REPLACE, as `ip address replace`), looking the link up once and
// sending the messages in batches.
func (l *Linux) AddAddresses(link string, ps []netip.Prefix) error {
	return l.changeAddresses(opAdd, link, ps)
}

// DeleteAddresses unbinds each prefix (address and prefix length must match); an address
// or link that is not there is not an error.
func (l *Linux) DeleteAddresses(link string, ps []netip.Prefix) error {
	return l.changeAddresses(opDelete, link, ps)
}

// changeAddresses looks the link up once, sends the valid prefixes to the kernel and
// collects the failures of each, the invalid ones included. A missing link fails every
// prefix to add and leaves none to delete.
func (l *Linux) changeAddresses(op, link string, ps []netip.Prefix) error {
	if len(ps) == 0 {
		return nil
	}
	nl, found, err := l.lookup(link)
	switch {
	case err != nil:
		prep := "to"
		if op == opDelete {
			prep = "from"
		}
		return fmt.Errorf("%s %d address(es) %s %s: look up link: %w", op, len(ps), prep, link, err)
	case !found && op == opDelete:
		return nil
	case !found:
		return linkMissing(link, ps)
	}
	index := nl.Attrs().Index
	var failed []*AddressError
	valid := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			failed = append(failed, &AddressError{Op: op, Link: link, Prefix: p, Err: unix.EINVAL})
			continue
		}
		valid = append(valid, p)
	}
	msgType, flags := uint16(unix.RTM_NEWADDR), uint16(unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	if op == opDelete {
		msgType, flags = unix.RTM_DELADDR, 0
	}
	err = l.addrs.Exchange(len(valid), func(buf []byte, i int, seq uint32, ack uint16) []byte {
		return appendAddrMsg(buf, msgType, flags|ack, seq, index, valid[i])
	}, func(i int, err error) {
		// Deleting what is not there: EADDRNOTAVAIL (IPv4), ENOENT or EADDRNOTAVAIL (IPv6).
		if op == opDelete && (errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT)) {
			return
		}
		failed = append(failed, &AddressError{Op: op, Link: link, Prefix: valid[i], Err: err})
	})
	if err != nil {
		return fmt.Errorf("%s %d address(es) on %s: %w", op, len(ps), link, err)
	}
	// In the order the caller gave them, not invalid ones first.
	if len(failed) > 1 {
		order := make(map[netip.Prefix]int, len(ps))
		for i, p := range ps {
			if _, ok := order[p]; !ok {
				order[p] = i
			}
		}
		slices.SortStableFunc(failed, func(a, b *AddressError) int { return order[a.Prefix] - order[b.Prefix] })
	}
	return batchResult(len(ps), failed)
}
