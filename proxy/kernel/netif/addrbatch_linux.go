package netif

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// Address changes go to the kernel in batches (nlbatch): many RTM_NEWADDR or RTM_DELADDR
// messages in one sendmsg on a NETLINK_ROUTE socket of the Linux's own, so a batch that
// succeeds costs one send and one receive instead of a round trip per address.

// appendAddrMsg appends one RTM_NEWADDR or RTM_DELADDR message for p on link index, with
// the attributes iproute2 and vishvananda/netlink send for a plain address: IFA_LOCAL and
// IFA_ADDRESS both p's address and, for IPv4 prefixes up to /30, IFA_BROADCAST.
func appendAddrMsg(b []byte, msgType, flags uint16, seq uint32, index int, p netip.Prefix) []byte {
	addr := p.Addr().Unmap()
	family := unix.AF_INET6
	if addr.Is4() {
		family = unix.AF_INET
	}
	ip := addr.AsSlice()
	b, start := nlbatch.AppendRequest(b, msgType, flags, seq)
	// struct ifaddrmsg
	b = append(b, byte(family), byte(p.Bits()), 0, unix.RT_SCOPE_UNIVERSE)
	b = binary.NativeEndian.AppendUint32(b, uint32(index))
	b = nlbatch.AppendAttr(b, unix.IFA_LOCAL, ip)
	b = nlbatch.AppendAttr(b, unix.IFA_ADDRESS, ip)
	if family == unix.AF_INET && p.Bits() < 31 {
		bc := addr.As4()
		host := ^uint32(0) >> p.Bits()
		v := binary.BigEndian.Uint32(bc[:]) | host
		b = nlbatch.AppendAttr(b, unix.IFA_BROADCAST, binary.BigEndian.AppendUint32(nil, v))
	}
	return nlbatch.EndRequest(b, start)
}
