package dataplane

import (
	"encoding/binary"
	"net/netip"
)

// SortIPVSAdm orders services and real servers the way `ipvsadm -Ln` lists them, so that
// FormatIPVSAdm(v, true) matches ipvsadm byte for byte. ipvsadm sorts with libipvs'
// ipvs_cmp_services (fwmark, address family, protocol number, address, port) and
// ipvs_cmp_dests (address, port) through glibc's qsort. Those comparators subtract
// unsigned 32-bit values into an int, so addresses 2^31 or more apart compare "backwards"
// (172.18.0.2 sorts before 10.96.0.1); the quirk and glibc's merge sort are reproduced here
// because ipvsadm's output order depends on both. IPVS.Sort gives a saner order for diffs.
func SortIPVSAdm(v *IPVS) {
	glibcMergeSort(v.Services, cmpServicesLibipvs)
	for i := range v.Services {
		glibcMergeSort(v.Services[i].RealServers, cmpDestsLibipvs)
	}
}

// wrapSub is C's `int r = (unsigned)a - (unsigned)b`.
func wrapSub(a, b uint32) int { return int(int32(a - b)) }

func cmpServicesLibipvs(a, b VirtualServer) int {
	if r := wrapSub(a.FWMark, b.FWMark); r != 0 {
		return r
	}
	afA, afB := libcFamily(kernelIPv6(a)), libcFamily(kernelIPv6(b))
	if r := afA - afB; r != 0 {
		return r
	}
	if r := protoNumber(a.Protocol) - protoNumber(b.Protocol); r != 0 {
		return r
	}
	if r := cmpAddrLibipvs(kernelIPv6(a), a.Address, b.Address); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

func cmpDestsLibipvs(a, b RealServer) int {
	if r := cmpAddrLibipvs(!a.Address.Is4(), a.Address, b.Address); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

// cmpAddrLibipvs compares the 32-bit words of union nf_inet_addr (an IPv4 address is the
// first word) in host order, as libipvs does.
func cmpAddrLibipvs(ipv6 bool, a, b netip.Addr) int {
	wa, wb := addrWords(a), addrWords(b)
	if !ipv6 {
		return wrapSub(wa[0], wb[0])
	}
	for i := range 4 {
		if r := wrapSub(wa[i], wb[i]); r != 0 {
			return r
		}
	}
	return 0
}

func addrWords(a netip.Addr) [4]uint32 {
	var w [4]uint32
	if a.Is4() {
		b := a.As4()
		w[0] = binary.BigEndian.Uint32(b[:])
		return w
	}
	if !a.IsValid() {
		return w
	}
	b := a.As16()
	for i := range 4 {
		w[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return w
}

func libcFamily(ipv6 bool) int {
	if ipv6 {
		return 10 // AF_INET6
	}
	return 2 // AF_INET
}

// protoNumber is the IP protocol number the kernel stores for the service.
func protoNumber(p Protocol) int {
	switch p {
	case TCP:
		return 6
	case UDP:
		return 17
	case SCTP:
		return 132
	}
	return 0
}

// glibcMergeSort is glibc's msort_with_tmp (qsort up to glibc 2.36, Debian bookworm's):
// a top-down merge sort that splits at n/2 and takes from the left run while cmp <= 0.
// With a comparator that is not a total order the result depends on these exact steps.
func glibcMergeSort[T any](s []T, cmp func(a, b T) int) {
	if len(s) <= 1 {
		return
	}
	tmp := make([]T, len(s))
	msort(s, tmp, cmp)
}

func msort[T any](s, tmp []T, cmp func(a, b T) int) {
	n := len(s)
	if n <= 1 {
		return
	}
	n1 := n / 2
	b1, b2 := s[:n1], s[n1:]
	msort(b1, tmp, cmp)
	msort(b2, tmp, cmp)
	k, i, j := 0, 0, 0
	for i < len(b1) && j < len(b2) {
		if cmp(b1[i], b2[j]) <= 0 {
			tmp[k] = b1[i]
			i++
		} else {
			tmp[k] = b2[j]
			j++
		}
		k++
	}
	k += copy(tmp[k:], b1[i:])
	// What is left of b2 is already in place at the end of s.
	copy(s, tmp[:k])
}
