package labe2e

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
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

func TestParseIPVSConnsLabCapture(t *testing.T) {
	conns, err := parseIPVSConns(fixture.Read(t, "proc-net-ip_vs_conn.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 5 {
		t.Fatalf("parsed %d entries, expected 5: %+v", len(conns), conns)
	}
	ap := netip.MustParseAddrPort
	want := map[int]ipvsConn{
		2: {Protocol: "TCP", Client: ap("10.96.20.11:0"), Virtual: ap("10.96.20.11:80"), Real: ap("10.244.3.11:8080"), State: "ASSURED", Expires: 10799},
		4: {Protocol: "TCP", Client: ap("10.244.3.20:50370"), Virtual: ap("10.96.20.10:80"), Real: ap("10.244.3.11:8080"), State: "ESTABLISHED", Expires: 899},
		0: {Protocol: "TCP", Client: ap("10.96.20.11:56416"), Virtual: ap("10.96.20.11:80"), Real: ap("10.244.3.11:8080"), State: "TIME_WAIT", Expires: 119},
	}
	for i, w := range want {
		if conns[i] != w {
			t.Errorf("entry %d = %+v, expected %+v", i, conns[i], w)
		}
	}
}

func TestParseIPVSConns(t *testing.T) {
	tests := []struct {
		name, text, wantErr string
		want                []ipvsConn
	}{
		{name: "empty table", text: ipvsConnHeader + "\n"},
		{
			name: "IPv6 with a persistence engine",
			text: ipvsConnHeader + "\nUDP fd00:0010:0096:0000:0000:0000:0000:000a 13C4 fd00:0010:0096:0000:0000:0000:0000:000a 13C4 fd00:0010:0244:0001:0000:0000:0000:0005 13C4 UDP         299 sip 1234@example\n",
			want: []ipvsConn{{Protocol: "UDP", Client: netip.MustParseAddrPort("[fd00:10:96::a]:5060"), Virtual: netip.MustParseAddrPort("[fd00:10:96::a]:5060"),
				Real: netip.MustParseAddrPort("[fd00:10:244:1::5]:5060"), State: "UDP", Expires: 299, PEName: "sip", PEData: "1234@example"}},
		},
		{name: "nothing", text: "", wantErr: "line 1: expected the header"},
		{name: "other file", text: "IP Virtual Server version 1.2.1 (size=4096)\n", wantErr: "expected the header"},
		{name: "short line", text: ipvsConnHeader + "\nTCP 0AF40314 C4C2 0A60140A 0050\n", wantErr: "line 2: expected 9 fields"},
		{name: "bad address", text: ipvsConnHeader + "\nTCP 0AF403 C4C2 0A60140A 0050 0AF4030B 1F90 ESTABLISHED 899\n", wantErr: "IPv4 address as 8 hex digits"},
		{name: "bad IPv6", text: ipvsConnHeader + "\nTCP fe80::1%eth0 C4C2 0A60140A 0050 0AF4030B 1F90 ESTABLISHED 899\n", wantErr: "expected an IPv6 address"},
		{name: "bad port", text: ipvsConnHeader + "\nTCP 0AF40314 C4 0A60140A 0050 0AF4030B 1F90 ESTABLISHED 899\n", wantErr: "port as 4 hex digits"},
		{name: "bad expiry", text: ipvsConnHeader + "\nTCP 0AF40314 C4C2 0A60140A 0050 0AF4030B 1F90 ESTABLISHED -1\n", wantErr: "seconds to expiry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseIPVSConns(tt.text)
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, expected %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("entry %d = %+v, expected %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// FuzzParseIPVSConns: the parser never panics, and what it accepts has valid addresses.
func FuzzParseIPVSConns(f *testing.F) {
	f.Add(fixture.Read(f, "proc-net-ip_vs_conn.txt"))
	f.Add(ipvsConnHeader + "\n")
	f.Add(ipvsConnHeader + "\nUDP fd00:0010:0096:0000:0000:0000:0000:000a 13C4 fd00::a 13C4 fd00::5 13C4 UDP 299 sip x\n")
	f.Fuzz(func(t *testing.T, text string) {
		conns, err := parseIPVSConns(text)
		if err != nil {
			return
		}
		for _, c := range conns {
			if !c.Client.IsValid() || !c.Virtual.IsValid() || !c.Real.IsValid() || c.Expires < 0 {
				t.Fatalf("accepted an entry with invalid fields: %+v", c)
			}
		}
	})
}
