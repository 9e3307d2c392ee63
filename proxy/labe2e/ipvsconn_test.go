package labe2e

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ipvsConn is one line of /proc/net/ip_vs_conn: an entry of IPVS's connection table.
type ipvsConn struct {
	// Protocol is TCP, UDP or SCTP, or IP for a persistence template.
	Protocol string
	// Client is the source the connection came from, Virtual the virtual server it was sent
	// to, Real the real server IPVS sent it on to (FromIP/FPrt, ToIP/TPrt, DestIP/DPrt).
	Client, Virtual, Real netip.AddrPort
	// State is IPVS's TCP state (ESTABLISHED, TIME_WAIT, ...), UDP or NONE for templates.
	State string
	// Expires is the seconds left before the entry expires.
	Expires int
	// PEName and PEData are the persistence engine's, when one is used (sip).
	PEName, PEData string
}

// ipvsConnHeader is the first line the kernel prints (ip_vs_conn_seq_show).
const ipvsConnHeader = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData"

// parseIPVSConns reads /proc/net/ip_vs_conn. The kernel prints IPv4 addresses as 8 hex
// digits in network order, IPv6 ones in full colon form (%pI6), ports as 4 hex digits,
// then the state, the expiry in seconds and, for entries of a persistence engine, its name
// and data.
func parseIPVSConns(text string) ([]ipvsConn, error) {
	var conns []ipvsConn
	for i, line := range strings.Split(text, "\n") {
		if i == 0 {
			if line != ipvsConnHeader {
				return nil, fmt.Errorf("/proc/net/ip_vs_conn line 1: expected the header %q, got %q", ipvsConnHeader, line)
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 9 && len(f) != 11 {
			return nil, fmt.Errorf("/proc/net/ip_vs_conn line %d: expected 9 fields (11 with a persistence engine), got %d: %q", i+1, len(f), line)
		}
		c := ipvsConn{Protocol: f[0], State: f[7]}
		var err error
		for j, ap := range []*netip.AddrPort{&c.Client, &c.Virtual, &c.Real} {
			if *ap, err = procAddrPort(f[1+2*j], f[2+2*j]); err != nil {
				return nil, fmt.Errorf("/proc/net/ip_vs_conn line %d: %w: %q", i+1, err, line)
			}
		}
		if c.Expires, err = strconv.Atoi(f[8]); err != nil || c.Expires < 0 {
			return nil, fmt.Errorf("/proc/net/ip_vs_conn line %d: expected the seconds to expiry, got %q: %q", i+1, f[8], line)
		}
		if len(f) == 11 {
			c.PEName, c.PEData = f[9], f[10]
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// procAddrPort reads an address (8 hex digits, or full IPv6) and a port (4 hex digits).
func procAddrPort(addr, port string) (netip.AddrPort, error) {
	var a netip.Addr
	if strings.Contains(addr, ":") {
		var err error
		if a, err = netip.ParseAddr(addr); err != nil || !a.Is6() || a.Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("expected an IPv6 address, got %q", addr)
		}
	} else {
		b, err := hex.DecodeString(addr)
		if err != nil || len(b) != 4 {
			return netip.AddrPort{}, fmt.Errorf("expected an IPv4 address as 8 hex digits, got %q", addr)
		}
		a = netip.AddrFrom4([4]byte(b))
	}
	if len(port) != 4 {
		return netip.AddrPort{}, fmt.Errorf("expected a port as 4 hex digits, got %q", port)
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("expected a port as 4 hex digits, got %q", port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}
