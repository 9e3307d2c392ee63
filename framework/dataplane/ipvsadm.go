package dataplane

import (
	"fmt"
	"net/netip"
	"strings"
)

// ipvsadmFormat names the format in parse errors.
const ipvsadmFormat = "ipvsadm -Ln"

// IPVSAdmHeader is the title `ipvsadm -Ln` prints before the services: the version line
// (list_all) and the two column lines (print_title). The kernel's IPVS version has been
// 1.2.1 and its connection table 4096 entries by default for many years.
const IPVSAdmHeader = "IP Virtual Server version 1.2.1 (size=4096)\n" +
	"Prot LocalAddress:Port Scheduler Flags\n" +
	"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"

// FormatIPVSAdm prints the IPVS table exactly as `ipvsadm -Ln` (ipvsadm 1.31) does, with
// the title when header is true. Services and real servers are printed in the given order
// (ipvsadm sorts them; call IPVS.Sort first to get its order).
//
// The layout is that of ipvsadm.c: print_title for the column lines and print_service_entry
// for each service: the name is "%-4s %s" of protocol and address (cut to 33 bytes for
// IPv4) or "FWM  %u[ IPv6]", then " scheduler", " (flags)" from print_sched_flags,
// " persistent N", " mask M" (dotted for IPv4, a length for IPv6) and " ops"; each real
// server is "  -> %-28s %-7s %-6d %-10u %-10u" (address cut to 28 bytes for IPv4), so the
// line ends in padding spaces, as ipvsadm's does.
func FormatIPVSAdm(v IPVS, header bool) string {
	var b strings.Builder
	if header {
		b.WriteString(IPVSAdmHeader)
	}
	for _, vs := range v.Services {
		b.WriteString(ipvsadmServiceName(vs))
		b.WriteString(" ")
		b.WriteString(vs.Scheduler)
		if vs.SchedFlags&(SchedFlag1|SchedFlag2|SchedFlag3) != 0 {
			b.WriteString(" (" + strings.Join(schedFlagNames(vs.Scheduler, vs.SchedFlags), ",") + ")")
		}
		writePersistence(&b, vs, "persistent", "mask", "ops")
		b.WriteString("\n")
		for _, rs := range vs.RealServers {
			name := formatAddrPort(rs.Address, rs.Port)
			if rs.Address.Is4() && len(name) > 28 {
				name = name[:28]
			}
			fmt.Fprintf(&b, "  -> %-28s %-7s %-6d %-10d %-10d\n",
				name, forwardName(rs.Forward), rs.Weight, rs.ActiveConns, rs.InactiveConns)
		}
	}
	return b.String()
}

// ipvsadmServiceName is the service column of `ipvsadm -Ln`.
func ipvsadmServiceName(vs VirtualServer) string {
	if vs.FWMark != 0 {
		return fwmarkName(vs, "FWM  ", " IPv6")
	}
	proto := string(vs.Protocol)
	if proto == "" {
		proto = "?" // ipvsadm's protocol_name for an unknown protocol
	}
	name := fmt.Sprintf("%-4s %s", proto, formatAddrPort(vs.Address, vs.Port))
	if !kernelIPv6(vs) && len(name) > 33 {
		name = name[:33]
	}
	return name
}

// forwardName is the Forward column; ipvsadm prints glibc's "(null)" for a method it does
// not know, and so do we for an unset one.
func forwardName(f Forwarding) string {
	if f == "" {
		return "(null)"
	}
	return string(f)
}

// FormatIPVSAdmTimeouts prints the timeouts as `ipvsadm -Ln --timeout` does (list_timeout).
func FormatIPVSAdmTimeouts(t Timeouts) string {
	return fmt.Sprintf("Timeout (tcp tcpfin udp): %d %d %d\n", t.TCP, t.TCPFin, t.UDP)
}

// ParseIPVSAdm reads `ipvsadm -Ln` output, with or without its title lines. Columns may be
// separated by any run of spaces (text pasted into documents often loses the alignment),
// blank lines and trailing " # ..." notes are ignored. Counters are kept as read.
func ParseIPVSAdm(text string) (IPVS, error) {
	var v IPVS
	seen := map[ServiceKey]bool{}
	for l, fields := range fieldLines(text) {
		fail := func(err error) (IPVS, error) {
			return IPVS{}, &ParseError{Format: ipvsadmFormat, Line: l.n, Text: l.text, Err: err}
		}
		if c, ok := counterTitle(fields); ok {
			return fail(expected(`the title "Prot LocalAddress:Port Scheduler Flags"`, "the title of "+c.format+" (read it with "+c.parser+")"))
		}
		if isIPVSAdmTitle(fields) {
			continue
		}
		if fields[0] == "->" {
			if err := addRealServer(&v, func() (RealServer, error) { return parseRealServerColumns(fields[1:], parseAddrPort) }); err != nil {
				return fail(err)
			}
			continue
		}
		vs, err := parseIPVSAdmService(fields)
		if err == nil {
			err = addService(&v, seen, vs)
		}
		if err != nil {
			return fail(err)
		}
	}
	return v, nil
}

// addService appends vs to v unless seen holds its key already: a listing names each
// service once.
func addService(v *IPVS, seen map[ServiceKey]bool, vs VirtualServer) error {
	if seen[vs.Key()] {
		return expected("each service once", "a second "+vs.Key().String())
	}
	seen[vs.Key()] = true
	v.Services = append(v.Services, vs)
	return nil
}

// addRealServer reads a real server line with parse and appends it to the last service of
// v: the one it is listed under.
func addRealServer(v *IPVS, parse func() (RealServer, error)) error {
	if len(v.Services) == 0 {
		return expected("a service line before the first real server", "a real server")
	}
	rs, err := parse()
	if err != nil {
		return err
	}
	last := &v.Services[len(v.Services)-1]
	last.RealServers = append(last.RealServers, rs)
	return nil
}

// isIPVSAdmTitle recognises the three title lines, whatever their spacing.
func isIPVSAdmTitle(f []string) bool {
	switch {
	case len(f) >= 4 && f[0] == "IP" && f[1] == "Virtual" && f[2] == "Server" && f[3] == "version":
		return true
	case len(f) >= 2 && f[0] == "Prot" && f[1] == "LocalAddress:Port":
		return true
	case len(f) >= 2 && f[0] == "->" && f[1] == "RemoteAddress:Port":
		return true
	}
	return false
}

// parseIPVSAdmService reads "TCP 10.96.0.1:443 rr [(flags)] [persistent N [mask M]] [ops]"
// or "FWM 1 [IPv6] rr ...".
func parseIPVSAdmService(f []string) (VirtualServer, error) {
	vs, rest, err := parseIPVSAdmServiceName(f, "scheduler")
	if err != nil {
		return vs, err
	}
	if c := rest[0][0]; c >= '0' && c <= '9' {
		// Every scheduler's name starts with a letter: this is the line of a counter
		// listing (ipvsadm -Ln --stats or --rate), whose numbers take the scheduler's place.
		return vs, expected("a scheduler name", quoteFound(rest[0])+", a number: ipvsadm -Ln --stats or --rate output is read by ParseIPVSAdmStats or ParseIPVSAdmRate")
	}
	if !validScheduler(rest[0]) {
		return vs, expected("a scheduler name", quoteFound(rest[0]))
	}
	vs.Scheduler = rest[0]
	return vs, parseServiceOptions(&vs, rest[1:])
}

// parseIPVSAdmServiceName reads the service column that every ipvsadm listing starts a
// service line with, "TCP 10.96.0.1:443" or "FWM 1 [IPv6]", and returns the fields after
// it, at least one: next names what must follow.
func parseIPVSAdmServiceName(f []string, next string) (VirtualServer, []string, error) {
	var vs VirtualServer
	var rest []string
	switch f[0] {
	case "TCP", "UDP", "SCTP":
		if len(f) < 3 {
			return vs, nil, expected("protocol, address:port and "+next, fmt.Sprintf("%d fields", len(f)))
		}
		a, p, err := parseAddrPort(f[1])
		if err != nil {
			return vs, nil, err
		}
		vs.Protocol, vs.Address, vs.Port, vs.Family = Protocol(f[0]), a, p, addrFamily(a)
		rest = f[2:]
	case "FWM":
		if len(f) < 3 {
			return vs, nil, expected("FWM, mark and "+next, fmt.Sprintf("%d fields", len(f)))
		}
		m, err := parseFWMark(f[1])
		if err != nil {
			return vs, nil, err
		}
		vs.FWMark, vs.Family = m, 4
		rest = f[2:]
		if rest[0] == "IPv6" {
			vs.Family = 6
			rest = rest[1:]
			if len(rest) == 0 {
				return vs, nil, expected(next+" after IPv6", "end of line")
			}
		}
	default:
		return vs, nil, expected(`a service line ("TCP", "UDP", "SCTP" or "FWM") or a real server line ("->")`, quoteFound(f[0]))
	}
	return vs, rest, nil
}

// addrFamily is the Family of a service read with its address: 6 for any IPv6 address,
// IPv4-mapped ones included, as the kernel holds those as AF_INET6.
func addrFamily(a netip.Addr) int {
	if a.Is6() {
		return 6
	}
	return 4
}

// parseServiceOptions reads what follows the scheduler on a service line.
func parseServiceOptions(vs *VirtualServer, opts []string) error {
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		switch {
		case strings.HasPrefix(o, "("):
			if !strings.HasSuffix(o, ")") || len(o) < 2 {
				return expected(`scheduler flags as "(flag,flag)"`, quoteFound(o))
			}
			flags, err := parseSchedFlags(vs.Scheduler, o[1:len(o)-1])
			if err != nil {
				return err
			}
			vs.SchedFlags = flags
		case o == "persistent":
			if i+1 == len(opts) {
				return expected("a timeout after persistent", "end of line")
			}
			i++
			t, err := parseDecimal("a persistence timeout in seconds", opts[i], 32)
			if err != nil {
				return err
			}
			vs.Persistent, vs.Timeout = true, uint32(t)
		case o == "mask":
			if !vs.Persistent {
				return expected("mask only after persistent N", quoteFound(o))
			}
			if i+1 == len(opts) {
				return expected("a netmask after mask", "end of line")
			}
			i++
			l, err := parseMask(opts[i], kernelIPv6(*vs))
			if err != nil {
				return err
			}
			vs.PrefixLen = l
		case o == "ops":
			vs.OnePacket = true
		case o == "pe":
			return expected("no persistence engine (the model does not hold one)", quoteFound("pe"))
		default:
			return expected("(flags), persistent, mask or ops", quoteFound(o))
		}
	}
	return nil
}

// parseRealServerColumns reads the columns after "->" that `ipvsadm -Ln` and
// /proc/net/ip_vs share: "ADDRESS:PORT Masq 1 0 0". Only the address is written
// differently, so the caller passes its reader.
func parseRealServerColumns(f []string, parseAddr func(string) (netip.Addr, uint16, error)) (RealServer, error) {
	var rs RealServer
	if len(f) != 5 {
		return rs, expected("address:port, forward, weight, active and inactive connections after ->", fmt.Sprintf("%d fields", len(f)))
	}
	a, p, err := parseAddr(f[0])
	if err != nil {
		return rs, err
	}
	rs.Address, rs.Port = a, p
	if rs.Forward, err = parseForwarding(f[1]); err != nil {
		return rs, err
	}
	if rs.Weight, err = parseWeight(f[2]); err != nil {
		return rs, err
	}
	if rs.ActiveConns, err = parseCounter("an active connection count", f[3]); err != nil {
		return rs, err
	}
	if rs.InactiveConns, err = parseCounter("an inactive connection count", f[4]); err != nil {
		return rs, err
	}
	return rs, nil
}

// parseForwarding returns the method's constant, never a piece of s: a real server kept
// from a parsed text would otherwise keep the whole text (megabytes of /proc/net/ip_vs at
// 10,000 services) alive.
func parseForwarding(s string) (Forwarding, error) {
	for _, f := range [...]Forwarding{Masq, Route, Tunnel, Local} {
		if s == string(f) {
			return f, nil
		}
	}
	return "", expected("a forwarding method (Masq, Route, Tunnel or Local)", quoteFound(s))
}

// parseWeight reads a real server weight; the kernel keeps it in an int and ipvsadm
// accepts 0-65535.
func parseWeight(s string) (int, error) {
	n, err := parseDecimal("a weight 0-65535", s, 16)
	return int(n), err
}

func parseCounter(what, s string) (int, error) {
	n, err := parseDecimal(what, s, 32)
	return int(n), err
}

// ParseIPVSAdmTimeouts reads `ipvsadm -Ln --timeout`: "Timeout (tcp tcpfin udp): 900 120 300".
func ParseIPVSAdmTimeouts(text string) (Timeouts, error) {
	const format = "ipvsadm -Ln --timeout"
	var t Timeouts
	found := false
	for l, f := range fieldLines(text) {
		fail := func(err error) (Timeouts, error) {
			return Timeouts{}, &ParseError{Format: format, Line: l.n, Text: l.text, Err: err}
		}
		if found {
			return fail(expected("one Timeout line", "another line"))
		}
		if len(f) != 7 || f[0] != "Timeout" || f[1] != "(tcp" || f[2] != "tcpfin" || f[3] != "udp):" {
			return fail(expected(`"Timeout (tcp tcpfin udp): N N N"`, quoteFound(strings.Join(f, " "))))
		}
		var vals [3]uint32
		for i, s := range f[4:] {
			n, err := parseDecimal("a timeout in seconds", s, 32)
			if err != nil {
				return fail(err)
			}
			vals[i] = uint32(n)
		}
		t = Timeouts{TCP: vals[0], TCPFin: vals[1], UDP: vals[2]}
		found = true
	}
	if !found {
		return Timeouts{}, &ParseError{Format: format, Err: expected(`a "Timeout (tcp tcpfin udp):" line`, "none")}
	}
	return t, nil
}
