package netif

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// Addresses are read with a streaming RTM_GETADDR dump (nlbatch's Dump) decoded straight
// into netip.Prefix values: kube-ipvs0 holds one address per Service, and listing them
// through vishvananda/netlink's AddrList kept every message and built a netlink.Addr with
// *net.IPNet (and more) per address, 8.8 MB at 10,000 Services during each resync.

// addrDumpRequest asks for every address of every family (struct ifaddrmsg with
// AF_UNSPEC); nlbatch's Dump fills in the header's length, flags and sequence number.
var addrDumpRequest = func() []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+unix.SizeofIfAddrmsg)
	binary.NativeEndian.PutUint16(b[4:], unix.RTM_GETADDR)
	return append(b, make([]byte, unix.SizeofIfAddrmsg)...)
}()

// addrTable holds the addresses of a dump by link index, in the order the kernel listed
// them.
type addrTable map[int][]netip.Prefix

// dumpAddresses reads every address of the namespace.
func (l *Linux) dumpAddresses() (addrTable, error) {
	t := addrTable{}
	if err := l.addrs.Dump(addrDumpRequest, t.add); err != nil {
		return nil, err
	}
	return t, nil
}

// add records the address of one message of an address dump; other messages are
// ignored.
func (t addrTable) add(msgType uint16, payload []byte) error {
	if msgType != unix.RTM_NEWADDR {
		return nil
	}
	index, p, ok, err := decodeAddrMsg(payload)
	if err != nil {
		return err
	}
	if ok {
		t[index] = append(t[index], p)
	}
	return nil
}

// decodeAddrMsg reads an RTM_NEWADDR payload (struct ifaddrmsg, then attributes): the
// link index and the address with its prefix length; ok is false for a message without
// a usable address. The address is chosen as vishvananda/netlink's AddrList chooses it
// (and the prefix as our prefixFromIPNet read its net.IPNet), so that Links lists what it
// listed before it read the dump itself:
//   - IPv4 with IFA_LOCAL and IFA_ADDRESS equal (a plain address): the address with the
//     message's prefix length;
//   - with IFA_LOCAL otherwise (a point-to-point address, IFA_ADDRESS its peer): the
//     local address as a host route (/32, /128), the peer dropped;
//   - with IFA_ADDRESS only (IPv6 without a peer): the address with the prefix length.
//
// A prefix length too long for the address reads as 0, as net.CIDRMask's nil mask did.
func decodeAddrMsg(b []byte) (index int, p netip.Prefix, ok bool, err error) {
	if len(b) < unix.SizeofIfAddrmsg {
		return 0, p, false, fmt.Errorf("RTM_NEWADDR message of %d bytes: expected at least %d (struct ifaddrmsg)", len(b), unix.SizeofIfAddrmsg)
	}
	family, prefixLen := b[0], int(b[1])
	index = int(binary.NativeEndian.Uint32(b[4:]))
	var local, address []byte
	for attrs := b[unix.SizeofIfAddrmsg:]; len(attrs) >= 4; {
		n := int(binary.NativeEndian.Uint16(attrs))
		if n < 4 || n > len(attrs) {
			return index, p, false, fmt.Errorf("RTM_NEWADDR attribute of length %d in %d bytes: expected 4 to %d", n, len(attrs), len(attrs))
		}
		switch binary.NativeEndian.Uint16(attrs[2:]) {
		case unix.IFA_LOCAL:
			local = attrs[4:n]
		case unix.IFA_ADDRESS:
			address = attrs[4:n]
		}
		attrs = attrs[min(nlbatch.Align(n), len(attrs)):]
	}
	var ip []byte
	var ones int
	switch {
	case local != nil && family == unix.AF_INET && address != nil && net.IP(local).Equal(net.IP(address)):
		ip, ones = address, maskOnes(prefixLen, 8*len(address))
	case local != nil:
		ip, ones = local, maskOnes(8*len(local), 8*len(local))
	case address != nil:
		ip, ones = address, maskOnes(prefixLen, 8*len(address))
	default:
		return index, p, false, nil
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return index, p, false, nil
	}
	return index, netip.PrefixFrom(a.Unmap(), ones), true, nil
}

// maskOnes is net.CIDRMask(ones, bits).Size()'s ones: 0 where CIDRMask gives no mask.
func maskOnes(ones, bits int) int {
	if bits != 8*net.IPv4len && bits != 8*net.IPv6len || ones < 0 || ones > bits {
		return 0
	}
	return ones
}
