package dataplane

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// This file holds what `ipvsadm -Ln` and `ipvsadm -Sn` share: how an address and port,
// a persistence mask and the scheduler flags are written.

// formatAddrPort writes an address the way ipvsadm's addrport_to_anyname does with -n:
// "10.96.0.1:443", or "[fd00::1]:443" for IPv6.
func formatAddrPort(a netip.Addr, port uint16) string {
	if a.Is4() {
		return a.String() + ":" + strconv.Itoa(int(port))
	}
	return "[" + inetNtop6(a) + "]:" + strconv.Itoa(int(port))
}

// inetNtop6 writes an IPv6 address as glibc's inet_ntop does. It matches Go's form except
// for IPv4-compatible addresses (::a.b.c.d), which glibc writes with a dotted tail.
func inetNtop6(a netip.Addr) string {
	a = a.WithZone("")
	b := a.As16()
	compat := true
	for _, x := range b[:12] {
		if x != 0 {
			compat = false
			break
		}
	}
	if compat && (b[12] != 0 || b[13] != 0) {
		return "::" + netip.AddrFrom4([4]byte(b[12:])).String()
	}
	return a.String()
}

// parseAddrPort reads "10.96.0.1:443" or "[fd00::1]:443".
func parseAddrPort(s string) (netip.Addr, uint16, error) {
	var host, port string
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]:")
		if end < 0 {
			return netip.Addr{}, 0, expected(`"[IPv6]:port"`, quoteFound(s))
		}
		host, port = s[1:end], s[end+2:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, 0, expected("an IPv6 address inside [ ]", quoteFound(host))
		}
		p, err := parsePort(port)
		return a, p, err
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return netip.Addr{}, 0, expected(`"address:port"`, quoteFound(s))
	}
	host, port = s[:i], s[i+1:]
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, 0, expected("an IPv4 address (IPv6 goes inside [ ])", quoteFound(host))
	}
	p, err := parsePort(port)
	return a, p, err
}

// parsePort reads a decimal port number.
func parsePort(s string) (uint16, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, expected("a port number", quoteFound(s))
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, expected("a port number 0-65535", quoteFound(s))
	}
	return uint16(p), nil
}

// parseDecimal reads an unsigned decimal number of the given bit size.
func parseDecimal(what, s string, bitSize int) (uint64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, expected(what, quoteFound(s))
	}
	n, err := strconv.ParseUint(s, 10, bitSize)
	if err != nil {
		return 0, expected(what, quoteFound(s))
	}
	return n, nil
}

// formatFWMark writes a firewall mark as ipvsadm does: printf's "%d" of the unsigned
// field, so marks of 2^31 and more come out negative ("FWM  -2147483643").
func formatFWMark(m uint32) string { return strconv.Itoa(int(int32(m))) }

// parseFWMark reads a firewall mark as ipvsadm prints it (negative for marks of 2^31 and
// more, see formatFWMark) or as the unsigned number it is.
func parseFWMark(s string) (uint32, error) {
	const what = "a firewall mark 1-4294967295 (ipvsadm prints marks of 2^31 and more as -2147483648 to -1)"
	if abs, neg := strings.CutPrefix(s, "-"); neg {
		n, err := parseDecimal(what, abs, 32)
		if err != nil || n == 0 || n > 1<<31 {
			return 0, expected(what, quoteFound(s))
		}
		return uint32(-int64(n)), nil
	}
	n, err := parseDecimal(what, s, 32)
	if err != nil || n == 0 {
		return 0, expected(what, quoteFound(s))
	}
	return uint32(n), nil
}

// formatIPv4Mask writes a prefix length as a dotted netmask (24 -> 255.255.255.0).
func formatIPv4Mask(prefixLen int) string {
	if prefixLen < 0 || prefixLen > 32 {
		return strconv.Itoa(prefixLen)
	}
	m := ^uint32(0) << (32 - prefixLen)
	if prefixLen == 0 {
		m = 0
	}
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}

// ipv4MaskLen turns a contiguous IPv4 netmask into a prefix length.
func ipv4MaskLen(m uint32) (int, bool) {
	ones := bits.LeadingZeros32(^m)
	if ones < 32 && m<<ones != 0 {
		return 0, false
	}
	return ones, true
}

// parseMask reads the persistence netmask: dotted for IPv4, a prefix length for IPv6.
// The default (/32 or /128) becomes 0, the model's "default". A /0 mask cannot be held.
func parseMask(s string, ipv6 bool) (int, error) {
	if ipv6 {
		n, err := parseDecimal("an IPv6 mask length 1-128", s, 8)
		if err != nil || n < 1 || n > 128 {
			return 0, expected("an IPv6 mask length 1-128", quoteFound(s))
		}
		if n == 128 {
			return 0, nil
		}
		return int(n), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, expected("a dotted IPv4 netmask", quoteFound(s))
	}
	b := a.As4()
	l, ok := ipv4MaskLen(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	if !ok || l == 0 {
		return 0, expected("a contiguous, non-zero IPv4 netmask", quoteFound(s))
	}
	if l == 32 {
		return 0, nil
	}
	return l, nil
}

// fwmarkName is a firewall-mark service as ipvsadm names it: the mark after kind, and
// ipv6 after the mark for an IPv6 service.
func fwmarkName(vs VirtualServer, kind, ipv6 string) string {
	if vs.Family == 6 {
		return kind + formatFWMark(vs.FWMark) + ipv6
	}
	return kind + formatFWMark(vs.FWMark)
}

// writePersistence writes the persistence options of print_service_entry, each listing
// with its own words: the timeout after persistent, the mask (when not the default) after
// mask, and ops for one-packet scheduling.
func writePersistence(b *strings.Builder, vs VirtualServer, persistent, mask, ops string) {
	if vs.Persistent {
		fmt.Fprintf(b, " %s %d", persistent, vs.Timeout)
		if m := maskText(vs); m != "" {
			b.WriteString(" " + mask + " " + m)
		}
	}
	if vs.OnePacket {
		b.WriteString(" " + ops)
	}
}

// maskText is the persistence mask as ipvsadm prints it, or "" for the default.
func maskText(vs VirtualServer) string {
	if !vs.Persistent || vs.PrefixLen == 0 || vs.PrefixLen == defaultPrefixLen(vs) {
		return ""
	}
	if kernelIPv6(vs) {
		return strconv.Itoa(vs.PrefixLen)
	}
	return formatIPv4Mask(vs.PrefixLen)
}

// kernelIPv6 tells whether the kernel holds the service as AF_INET6. Unlike
// VirtualServer.IsIPv6 it counts an IPv4-mapped address (::ffff:a.b.c.d) as IPv6: such a
// service exists in the kernel and ipvsadm prints it in brackets.
func kernelIPv6(vs VirtualServer) bool {
	if vs.FWMark != 0 {
		return vs.Family == 6
	}
	return vs.Address.IsValid() && !vs.Address.Is4()
}

func defaultPrefixLen(vs VirtualServer) int {
	if kernelIPv6(vs) {
		return 128
	}
	return 32
}

// schedFlagNames names the scheduler flags as ipvsadm's print_sched_flags does: sh and mh
// have their own names for the first two flags, every other scheduler says flag-N.
func schedFlagNames(scheduler string, flags uint32) []string {
	var names []string
	for i, f := range []uint32{SchedFlag1, SchedFlag2, SchedFlag3} {
		if flags&f == 0 {
			continue
		}
		switch {
		case (scheduler == "sh" || scheduler == "mh") && f == SchedFlag1:
			names = append(names, scheduler+"-fallback")
		case (scheduler == "sh" || scheduler == "mh") && f == SchedFlag2:
			names = append(names, scheduler+"-port")
		case scheduler == "sh" || scheduler == "mh":
			// ipvsadm prints nothing for the third flag of sh and mh.
		default:
			names = append(names, "flag-"+strconv.Itoa(i+1))
		}
	}
	return names
}

// parseSchedFlags reads a comma-separated flag list for the given scheduler.
func parseSchedFlags(scheduler, list string) (uint32, error) {
	var flags uint32
	if list == "" {
		// ipvsadm prints "()" when only a flag it has no name for is set.
		return 0, nil
	}
	for _, name := range strings.Split(list, ",") {
		var f uint32
		switch {
		case (scheduler == "sh" || scheduler == "mh") && name == scheduler+"-fallback":
			f = SchedFlag1
		case (scheduler == "sh" || scheduler == "mh") && name == scheduler+"-port":
			f = SchedFlag2
		case scheduler != "sh" && scheduler != "mh" && name == "flag-1":
			f = SchedFlag1
		case scheduler != "sh" && scheduler != "mh" && name == "flag-2":
			f = SchedFlag2
		case scheduler != "sh" && scheduler != "mh" && name == "flag-3":
			f = SchedFlag3
		default:
			want := "flag-1, flag-2 or flag-3"
			if scheduler == "sh" || scheduler == "mh" {
				want = scheduler + "-fallback or " + scheduler + "-port"
			}
			return 0, expected("a scheduler flag of "+scheduler+" ("+want+")", quoteFound(name))
		}
		flags |= f
	}
	return flags, nil
}

// validScheduler tells whether a word can be a scheduler name (the kernel allows 15 bytes).
func validScheduler(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
