package dataplane

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

const procIPVSFormat = "/proc/net/ip_vs"

// DebianKernelHZ is CONFIG_HZ of Debian's kernels (the kernel lab runs one). The kernel
// keeps a persistence timeout in jiffies and /proc/net/ip_vs prints it that way.
const DebianKernelHZ = 250

// procIPVSHeader is what ip_vs_info_seq_show prints first. Unlike ipvsadm's, its column
// line is not padded.
const procIPVSHeader = "IP Virtual Server version 1.2.1 (size=4096)\n" +
	"Prot LocalAddress:Port Scheduler Flags\n" +
	"  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"

// FormatProcIPVS prints the table as the kernel's /proc/net/ip_vs does (ip_vs_ctl.c,
// ip_vs_info_seq_show): hexadecimal IPv4 addresses and ports ("TCP  0A600001:01BB rr  ",
// "%s  %08X:%04X %s %s " with "ops " or nothing), full IPv6 addresses in brackets
// ("%s  [%pI6]:%04X %s ", without ops), "FWM  %08X %s %s" for a mark (with "ops " or
// nothing), then "persistent <jiffies> <mask>" with the timeout in jiffies of the given
// HZ, and "  -> %08X:%04X      %-7s %-6d %-10d %-10d" per real server. The mask is the
// IPv4 netmask, or for IPv6 the prefix length as a little-endian host stores it.
// Scheduler flags are not in this file, nor ops of an IPv6 address service.
func FormatProcIPVS(v IPVS, hz int) string {
	var b strings.Builder
	b.WriteString(procIPVSHeader)
	for _, vs := range v.Services {
		ops := ""
		if vs.OnePacket {
			ops = "ops "
		}
		switch {
		case vs.FWMark != 0:
			fmt.Fprintf(&b, "FWM  %08X %s %s", vs.FWMark, vs.Scheduler, ops)
		case kernelIPv6(vs):
			fmt.Fprintf(&b, "%s  [%s]:%04X %s ", vs.Protocol, fullIPv6(vs.Address), vs.Port, vs.Scheduler)
		default:
			fmt.Fprintf(&b, "%s  %08X:%04X %s %s ", vs.Protocol, ipv4Word(vs.Address), vs.Port, vs.Scheduler, ops)
		}
		if vs.Persistent {
			var mask uint32
			plen := vs.PrefixLen
			if plen == 0 {
				plen = defaultPrefixLen(vs)
			}
			if kernelIPv6(vs) {
				mask = bits.ReverseBytes32(uint32(plen))
			} else {
				mask = ^uint32(0) << (32 - plen)
			}
			fmt.Fprintf(&b, "persistent %d %08X\n", int32(vs.Timeout*uint32(hz)), mask)
		} else {
			b.WriteString("\n")
		}
		for _, rs := range vs.RealServers {
			if rs.Address.Is4() {
				fmt.Fprintf(&b, "  -> %08X:%04X      ", ipv4Word(rs.Address), rs.Port)
			} else {
				fmt.Fprintf(&b, "  -> [%s]:%04X      ", fullIPv6(rs.Address), rs.Port)
			}
			fmt.Fprintf(&b, "%-7s %-6d %-10d %-10d\n", forwardName(rs.Forward), rs.Weight, rs.ActiveConns, rs.InactiveConns)
		}
	}
	return b.String()
}

func ipv4Word(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// fullIPv6 writes an address the way the kernel's %pI6 does: eight groups of four
// lower-case hex digits.
func fullIPv6(a netip.Addr) string {
	b := a.As16()
	var s strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			s.WriteByte(':')
		}
		fmt.Fprintf(&s, "%02x%02x", b[i], b[i+1])
	}
	return s.String()
}

// ParseProcIPVS reads /proc/net/ip_vs of a kernel with Debian's HZ (DebianKernelHZ).
func ParseProcIPVS(text string) (IPVS, error) { return ParseProcIPVSWithHZ(text, DebianKernelHZ) }

// ParseProcIPVSWithHZ reads /proc/net/ip_vs; hz converts the persistence timeout from
// jiffies to seconds. The file has no family for a firewall-mark service: it is taken
// from the first real server, else from the persistence mask, else IPv4. It has no
// scheduler flags, and no ops for IPv6 address services.
func ParseProcIPVSWithHZ(text string, hz int) (IPVS, error) {
	var (
		v    IPVS
		cur  *procService
		seen = map[ServiceKey]bool{}
	)
	// The proxier reads the whole file on every full resync (tens of thousands of lines at
	// 10,000 Services): size the list once and cut lines and fields without a slice each.
	v.Services = make([]VirtualServer, 0, max(0, strings.Count(text, "\n")-strings.Count(text, "->")))
	var fields [procMaxFields]string
	// finish settles the service read last, now that its real servers are known.
	finish := func() error {
		if cur == nil {
			return nil
		}
		vs := cur.vs
		if vs.FWMark != 0 {
			_, v4ok := ipv4MaskLen(cur.mask)
			plen := bits.ReverseBytes32(cur.mask)
			switch {
			case len(vs.RealServers) > 0 && !vs.RealServers[0].Address.Is4():
				vs.Family = 6
			case len(vs.RealServers) == 0 && vs.Persistent && (!v4ok || cur.mask == 0) && plen >= 1 && plen <= 128:
				vs.Family = 6
			}
		}
		if vs.Persistent {
			l, err := procMaskLen(cur.mask, kernelIPv6(vs))
			if err != nil {
				return &ParseError{Format: procIPVSFormat, Line: cur.line.n, Text: cur.line.text, Err: err}
			}
			vs.PrefixLen = l
		}
		if seen[vs.Key()] {
			return &ParseError{Format: procIPVSFormat, Line: cur.line.n, Text: cur.line.text, Err: expected("each service once", "a second "+vs.Key().String())}
		}
		seen[vs.Key()] = true
		v.Services = append(v.Services, vs)
		cur = nil
		return nil
	}
	n := 0
	for line := range strings.Lines(text) {
		n++
		l := textLine{n: n, text: strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")}
		f := fieldsOf(&fields, l.text)
		if len(f) == 0 || isIPVSAdmTitle(f) {
			continue
		}
		fail := func(err error) (IPVS, error) {
			return IPVS{}, &ParseError{Format: procIPVSFormat, Line: l.n, Text: l.text, Err: err}
		}
		if f[0] == "->" {
			if cur == nil {
				return fail(expected("a service line before the first real server", "a real server"))
			}
			rs, err := parseRealServerColumns(f[1:], parseProcAddrPort)
			if err != nil {
				return fail(err)
			}
			cur.vs.RealServers = append(cur.vs.RealServers, rs)
			continue
		}
		if err := finish(); err != nil {
			return IPVS{}, err
		}
		ps, err := parseProcService(f, hz)
		if err != nil {
			return fail(err)
		}
		ps.line = l
		cur = &ps
	}
	if err := finish(); err != nil {
		return IPVS{}, err
	}
	return v, nil
}

// procMaxFields is more fields than a line of the file has (a persistent service line has
// six).
const procMaxFields = 8

// fieldsOf splits s around runs of white space as strings.Fields does, into buf when the
// line is ASCII and its fields fit (always, for what the kernel writes).
func fieldsOf(buf *[procMaxFields]string, s string) []string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Fields(s) // Unicode white space splits too
		}
	}
	n, rest := 0, s
	for {
		rest = strings.TrimLeft(rest, asciiSpace)
		if rest == "" {
			return buf[:n]
		}
		if n == len(buf) {
			return strings.Fields(s)
		}
		end := strings.IndexAny(rest, asciiSpace)
		if end < 0 {
			end = len(rest)
		}
		buf[n] = rest[:end]
		n++
		rest = rest[end:]
	}
}

// asciiSpace is the ASCII white space strings.Fields splits on.
const asciiSpace = " \t\n\v\f\r"

// procService is a service line read but not settled: the mask's meaning depends on the
// family, which for a mark is known only after its real servers.
type procService struct {
	vs   VirtualServer
	mask uint32
	line textLine
}

func parseProcService(f []string, hz int) (procService, error) {
	var ps procService
	vs := &ps.vs
	if len(f) < 3 {
		return ps, expected("protocol, address:port and scheduler", fmt.Sprintf("%d fields", len(f)))
	}
	switch f[0] {
	case "TCP", "UDP", "SCTP":
		a, p, err := parseProcAddrPort(f[1])
		if err != nil {
			return ps, err
		}
		vs.Protocol, vs.Address, vs.Port, vs.Family = Protocol(f[0]), a, p, addrFamily(a)
	case "FWM":
		m, err := parseHex("a firewall mark in hex", f[1], 8)
		if err != nil || m == 0 {
			return ps, expected("a non-zero firewall mark in 8 hex digits", quoteFound(f[1]))
		}
		vs.FWMark, vs.Family = m, 4
	default:
		return ps, expected(`a service line ("TCP", "UDP", "SCTP" or "FWM") or a real server line ("->")`, quoteFound(f[0]))
	}
	if !validScheduler(f[2]) {
		return ps, expected("a scheduler name", quoteFound(f[2]))
	}
	vs.Scheduler = f[2]
	rest := f[3:]
	// The kernel prints "ops" for IPv4 and firewall-mark services only.
	if len(rest) > 0 && rest[0] == "ops" && !kernelIPv6(*vs) {
		vs.OnePacket = true
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return ps, nil
	}
	if len(rest) != 3 || rest[0] != "persistent" {
		return ps, expected(`nothing, "ops" (not for IPv6) or "persistent <jiffies> <mask>" after the scheduler`, quoteFound(strings.Join(rest, " ")))
	}
	j, err := strconv.ParseInt(rest[1], 10, 64)
	if err != nil || j < -1<<31 || j >= 1<<32 {
		return ps, expected("a timeout in jiffies", quoteFound(rest[1]))
	}
	jiffies := uint32(j) // the kernel prints the unsigned field with %d
	if hz <= 0 || jiffies%uint32(hz) != 0 {
		return ps, expected(fmt.Sprintf("a timeout in jiffies that is a multiple of HZ=%d", hz), quoteFound(rest[1]))
	}
	vs.Persistent, vs.Timeout = true, jiffies/uint32(hz)
	if ps.mask, err = parseHex("a netmask in 8 hex digits", rest[2], 8); err != nil {
		return ps, err
	}
	if vs.FWMark == 0 {
		// Check now, so the error points at this line; finish works it out again.
		_, err = procMaskLen(ps.mask, kernelIPv6(*vs))
	}
	return ps, err
}

// procMaskLen reads the persistence mask: an IPv4 netmask, or an IPv6 prefix length as
// stored by the host (little-endian hosts show 128 as 80000000).
func procMaskLen(mask uint32, ipv6 bool) (int, error) {
	if ipv6 {
		plen := int(bits.ReverseBytes32(mask))
		if plen < 1 || plen > 128 {
			plen = int(mask) // a big-endian host
		}
		if plen < 1 || plen > 128 {
			return 0, expected("an IPv6 prefix length 1-128", fmt.Sprintf("%08X", mask))
		}
		if plen == 128 {
			return 0, nil
		}
		return plen, nil
	}
	l, ok := ipv4MaskLen(mask)
	if !ok || l == 0 {
		return 0, expected("a contiguous, non-zero IPv4 netmask", fmt.Sprintf("%08X", mask))
	}
	if l == 32 {
		return 0, nil
	}
	return l, nil
}

// parseProcAddrPort reads "0A600001:01BB" or "[fd00:0000:...:0001]:01BB".
func parseProcAddrPort(s string) (netip.Addr, uint16, error) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]:")
		if end < 0 {
			return netip.Addr{}, 0, expected(`"[IPv6]:PORT" with the port in hex`, quoteFound(s))
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, 0, expected("an IPv6 address inside [ ]", quoteFound(s[1:end]))
		}
		p, err := parseHex("a port in 4 hex digits", s[end+2:], 4)
		return a, uint16(p), err
	}
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, expected(`"ADDRESS:PORT" in hex`, quoteFound(s))
	}
	w, err := parseHex("an IPv4 address in 8 hex digits", host, 8)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	p, err := parseHex("a port in 4 hex digits", port, 4)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], w)
	return netip.AddrFrom4(b), uint16(p), nil
}

// parseHex reads exactly digits hex digits.
func parseHex(what, s string, digits int) (uint32, error) {
	if len(s) != digits {
		return 0, expected(what, quoteFound(s))
	}
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, expected(what, quoteFound(s))
	}
	return uint32(n), nil
}
