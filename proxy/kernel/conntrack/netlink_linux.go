package conntrack

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// List returns the family's entries. A dump the kernel interrupted (the table changed
// while it was read) is retried once; if it is interrupted again, the partial list is
// returned with the error.
func (*Linux) List(family int) ([]Flow, error) {
	fam, err := inetFamily(family)
	if err != nil {
		return nil, err
	}
	var flows []*netlink.ConntrackFlow
	for range 2 {
		flows, err = netlink.ConntrackTableList(netlink.ConntrackTable, fam)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	out := make([]Flow, 0, len(flows))
	for _, c := range flows {
		out = append(out, flowOf(c))
	}
	if err != nil {
		return out, fmt.Errorf("list IPv%d conntrack entries: %w", family, err)
	}
	return out, nil
}

// DeleteStale deletes the family's entries that f calls stale. An interrupted dump still
// deletes what it read (netlink's best effort) and reports the interruption; the next
// cleanup gets the rest.
func (*Linux) DeleteStale(family int, f *StaleFilter) (int, error) {
	fam, err := inetFamily(family)
	if err != nil {
		return 0, err
	}
	if f.Empty() {
		return 0, nil
	}
	n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, fam, staleMatcher{f})
	if err != nil {
		return int(n), fmt.Errorf("delete stale IPv%d UDP conntrack entries (%d deleted): %w", family, n, err)
	}
	return int(n), nil
}

// staleMatcher is a StaleFilter as netlink's CustomConntrackFilter.
type staleMatcher struct{ f *StaleFilter }

func (m staleMatcher) MatchConntrackFlow(c *netlink.ConntrackFlow) bool {
	return m.f.Stale(flowOf(c))
}

func flowOf(c *netlink.ConntrackFlow) Flow {
	return Flow{
		Protocol: c.Forward.Protocol,
		OrigSrc:  addrPort(c.Forward.SrcIP, c.Forward.SrcPort),
		OrigDst:  addrPort(c.Forward.DstIP, c.Forward.DstPort),
		ReplySrc: addrPort(c.Reverse.SrcIP, c.Reverse.SrcPort),
		ReplyDst: addrPort(c.Reverse.DstIP, c.Reverse.DstPort),
	}
}

func addrPort(ip net.IP, port uint16) netip.AddrPort {
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port)
}

func inetFamily(family int) (netlink.InetFamily, error) {
	switch family {
	case 4:
		return unix.AF_INET, nil
	case 6:
		return unix.AF_INET6, nil
	}
	return 0, fmt.Errorf("conntrack family %d: expected 4 or 6", family)
}
