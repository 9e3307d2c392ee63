package main

import (
	"fmt"
	"net"
	"net/netip"

	mobyipvs "github.com/moby/ipvs"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// rsProbe asks the kernel for one virtual server's real servers: one small netlink request,
// cheap enough to poll every few milliseconds even beside 10,000 virtual servers (reading
// the whole table there takes seconds under TCG).
type rsProbe struct {
	h   *mobyipvs.Handle
	svc *mobyipvs.Service
}

func newRSProbe(proto dataplane.Protocol, vip netip.AddrPort) (*rsProbe, error) {
	p, ok := map[dataplane.Protocol]uint16{dataplane.TCP: unix.IPPROTO_TCP, dataplane.UDP: unix.IPPROTO_UDP, dataplane.SCTP: unix.IPPROTO_SCTP}[proto]
	if !ok {
		return nil, fmt.Errorf("protocol %q: expected TCP, UDP or SCTP", proto)
	}
	if !vip.Addr().Is4() {
		return nil, fmt.Errorf("%s: the probe takes IPv4 virtual servers", vip)
	}
	h, err := mobyipvs.New("")
	if err != nil {
		return nil, err
	}
	return &rsProbe{h: h, svc: &mobyipvs.Service{
		AddressFamily: unix.AF_INET, Protocol: p, Address: net.IP(vip.Addr().AsSlice()), Port: vip.Port(),
	}}, nil
}

// has tells whether the virtual server exists and holds the real server; a missing
// virtual server is "not yet", not an error.
func (p *rsProbe) has(rs netip.AddrPort) bool {
	dsts, err := p.h.GetDestinations(p.svc)
	if err != nil {
		return false
	}
	for _, d := range dsts {
		if a, ok := netip.AddrFromSlice(d.Address); ok && a.Unmap() == rs.Addr() && d.Port == rs.Port() {
			return true
		}
	}
	return false
}

func (p *rsProbe) Close() { p.h.Close() }
