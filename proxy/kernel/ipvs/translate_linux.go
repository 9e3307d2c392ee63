package ipvs

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"net/netip"

	mobyipvs "github.com/moby/ipvs"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Virtual service flags from the kernel's uapi linux/ip_vs.h.
const (
	flagPersistent uint32 = 0x0001 // IP_VS_SVC_F_PERSISTENT
	flagHashed     uint32 = 0x0002 // IP_VS_SVC_F_HASHED: set by the kernel, never by us
	flagOnePacket  uint32 = 0x0004 // IP_VS_SVC_F_ONEPACKET
)

var protocolNumbers = map[dataplane.Protocol]uint16{
	dataplane.TCP:  unix.IPPROTO_TCP,
	dataplane.UDP:  unix.IPPROTO_UDP,
	dataplane.SCTP: unix.IPPROTO_SCTP,
}

var forwardFlags = map[dataplane.Forwarding]uint32{
	dataplane.Masq:   mobyipvs.ConnFwdMasq,
	dataplane.Local:  mobyipvs.ConnFwdLocalNode,
	dataplane.Tunnel: mobyipvs.ConnFwdTunnel,
	dataplane.Route:  mobyipvs.ConnFwdDirectRoute,
}

func addressFamily(fam int) uint16 {
	if fam == 6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// serviceKey is the identity of a virtual server in moby/ipvs form, for the operations
// that only look a service up.
func serviceKey(k dataplane.ServiceKey) (*mobyipvs.Service, error) {
	k, err := normalizeKey(k)
	if err != nil {
		return nil, err
	}
	s := &mobyipvs.Service{AddressFamily: addressFamily(family(k)), FWMark: k.FWMark}
	if k.FWMark == 0 {
		s.Protocol = protocolNumbers[k.Protocol]
		s.Address = net.IP(k.Address.AsSlice())
		s.Port = k.Port
	}
	return s, nil
}

// toService translates a virtual server for moby/ipvs. The netmask attribute is the raw
// __be32 the kernel keeps: for IPv4 the mask's bytes in network order (read as a native
// integer, since moby/ipvs writes it in host order), for IPv6 the prefix length.
func toService(vs dataplane.VirtualServer) (*mobyipvs.Service, error) {
	n, err := normalizeService(vs)
	if err != nil {
		return nil, err
	}
	s, err := serviceKey(n.Key())
	if err != nil {
		return nil, err
	}
	s.SchedName = n.Scheduler
	s.Flags = n.SchedFlags
	if n.Persistent {
		s.Flags |= flagPersistent
		s.Timeout = n.Timeout
	}
	if n.OnePacket {
		s.Flags |= flagOnePacket
	}
	if n.Family == 6 {
		s.Netmask = uint32(n.EffectivePrefixLen())
	} else {
		s.Netmask = binary.NativeEndian.Uint32(net.CIDRMask(n.EffectivePrefixLen(), 32))
	}
	return s, nil
}

// fromService translates a virtual server read from the kernel by moby/ipvs into the form
// normalizeService gives, so that what was written reads back equal.
func fromService(s *mobyipvs.Service) (dataplane.VirtualServer, error) {
	return serviceAttrs{
		family: s.AddressFamily, protocol: s.Protocol, addr: s.Address, port: s.Port, fwmark: s.FWMark,
		scheduler: s.SchedName, flags: s.Flags, timeout: s.Timeout, netmask: s.Netmask,
	}.virtualServer()
}

// serviceAttrs are the attributes of a virtual server as the kernel reports them, read by
// moby/ipvs (fromService) or from our own service dump (decodeServiceMsg): one
// translation for both, so the two read alike.
type serviceAttrs struct {
	family, protocol uint16
	addr             []byte // 4 bytes (AF_INET) or 16; nil when absent
	port             uint16
	fwmark           uint32
	scheduler        string
	flags            uint32
	timeout          uint32
	netmask          uint32 // the raw __be32 (see toService)
	// stats and stats64 are the IPVS_SVC_ATTR_STATS and _STATS64 nests as the message
	// holds them (our own dump only; see decodeStats).
	stats, stats64 []byte
}

// virtualServer translates the attributes into the form normalizeService gives.
func (s serviceAttrs) virtualServer() (dataplane.VirtualServer, error) {
	var vs dataplane.VirtualServer
	switch s.family {
	case unix.AF_INET:
		vs.Family = 4
	case unix.AF_INET6:
		vs.Family = 6
	default:
		return vs, fmt.Errorf("virtual server with address family %d: expected AF_INET or AF_INET6", s.family)
	}
	if s.fwmark != 0 {
		vs.FWMark = s.fwmark
	} else {
		switch s.protocol {
		case unix.IPPROTO_TCP:
			vs.Protocol = dataplane.TCP
		case unix.IPPROTO_UDP:
			vs.Protocol = dataplane.UDP
		case unix.IPPROTO_SCTP:
			vs.Protocol = dataplane.SCTP
		default:
			return vs, fmt.Errorf("virtual server %s:%d with IP protocol %d: expected TCP, UDP or SCTP", net.IP(s.addr), s.port, s.protocol)
		}
		a, ok := netip.AddrFromSlice(s.addr)
		if !ok {
			return vs, fmt.Errorf("virtual server with address %v: expected an IP address", net.IP(s.addr))
		}
		vs.Address, vs.Port = a.Unmap(), s.port
	}
	vs.Scheduler = s.scheduler
	vs.Persistent = s.flags&flagPersistent != 0
	vs.OnePacket = s.flags&flagOnePacket != 0
	vs.SchedFlags = s.flags & allSchedFlags
	if vs.Persistent {
		vs.Timeout = s.timeout
	}
	bitLen := 32
	if vs.Family == 6 {
		bitLen = 128
		vs.PrefixLen = int(s.netmask)
	} else {
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], s.netmask)
		m := binary.BigEndian.Uint32(b[:])
		ones := bits.LeadingZeros32(^m)
		if m != ^uint32(0)<<(32-ones) {
			return vs, fmt.Errorf("virtual server %s: persistence netmask %s is not contiguous", vs.Key(), net.IP(b[:]))
		}
		// A zero mask (which nothing here writes) reads as the default, like an unset one.
		vs.PrefixLen = ones
	}
	if vs.PrefixLen == bitLen {
		vs.PrefixLen = 0
	}
	return vs, nil
}

// toDestination translates a real server of a virtual server of family fam.
func toDestination(fam int, rs dataplane.RealServer) (*mobyipvs.Destination, error) {
	n, err := checkRealServer(fam, rs)
	if err != nil {
		return nil, err
	}
	return &mobyipvs.Destination{
		Address:         net.IP(n.Address.AsSlice()),
		Port:            n.Port,
		Weight:          n.Weight,
		ConnectionFlags: forwardFlags[n.Forward],
		AddressFamily:   addressFamily(fam),
	}, nil
}

// destinationKey is the identity of a real server, for deleting it.
func destinationKey(fam int, k dataplane.RealServerKey) *mobyipvs.Destination {
	k = normalizeRealServerKey(k)
	return &mobyipvs.Destination{Address: net.IP(k.Addr().AsSlice()), Port: k.Port(), AddressFamily: addressFamily(fam)}
}

func fromDestination(d *mobyipvs.Destination) (dataplane.RealServer, error) {
	a, ok := netip.AddrFromSlice(d.Address)
	if !ok {
		return dataplane.RealServer{}, fmt.Errorf("real server with address %v: expected an IP address", d.Address)
	}
	rs := dataplane.RealServer{
		Address:       a.Unmap(),
		Port:          d.Port,
		Weight:        d.Weight,
		ActiveConns:   d.ActiveConnections,
		InactiveConns: d.InactiveConnections,
	}
	fwd := d.ConnectionFlags & mobyipvs.ConnFwdMask
	for f, n := range forwardFlags {
		if n == fwd {
			rs.Forward = f
		}
	}
	if rs.Forward == "" {
		return rs, fmt.Errorf("real server %s with forwarding method %d: expected masq, local, tunnel or route", rs.Key(), fwd)
	}
	return rs, nil
}
