package dataplane

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestProcIPVSModelRoundTrip(t *testing.T) {
	m := IPVS{Services: []VirtualServer{
		{Protocol: UDP, Family: 4, Address: addr("255.255.255.255"), Port: 65535, Scheduler: "sed", Persistent: true, Timeout: 86400 * 31, PrefixLen: 8,
			RealServers: []RealServer{{Address: addr("fd00::1"), Port: 1, Forward: Tunnel, Weight: 65535, ActiveConns: 1, InactiveConns: 2}}},
		{FWMark: 0xdeadbeef, Family: 6, Scheduler: "rr", Persistent: true, Timeout: 1, PrefixLen: 48},
		{FWMark: 1, Family: 4, Scheduler: "rr", Persistent: true, Timeout: 120},
		{FWMark: 2, Family: 6, Scheduler: "rr", RealServers: []RealServer{{Address: addr("fd00::5"), Port: 80, Forward: Local, Weight: 1}}},
	}}
	for _, hz := range []int{100, 250, 1000} {
		parse := func(text string) (IPVS, error) { return ParseProcIPVSWithHZ(text, hz) }
		checkReadsAs(t, fmt.Sprintf("FormatProcIPVS(m, %d)", hz), parse, FormatProcIPVS(m, hz), m)
	}
}

func TestParseProcIPVSBadInput(t *testing.T) {
	checkBadInput(t, "/proc/net/ip_vs", ParseProcIPVS, []badInput{
		{name: "dotted address", text: "TCP  10.96.0.1:443 rr\n", line: 1, want: "an IPv4 address in 8 hex digits"},
		{name: "decimal port", text: "TCP  0A600001:443 rr\n", line: 1, want: "a port in 4 hex digits"},
		{name: "real server first", text: "  -> 0AF40304:0050      Masq    1      0          0\n", line: 1, want: "a service line before"},
		{name: "jiffies not a multiple of HZ", text: "TCP  0A600001:01BB rr persistent 10801 FFFFFFFF\n", line: 1, want: "multiple of HZ=250"},
		{name: "holey mask", text: "\nTCP  0A600001:01BB rr persistent 2500 FF00FF00\n", line: 2, want: "contiguous"},
		{name: "bad ipv6 mask", text: "TCP  [fd00:0000:0000:0000:0000:0000:0000:0001]:01BB rr persistent 2500 FFFFFFFF\n", line: 1, want: "IPv6 prefix length"},
		{name: "flags are not in proc", text: "TCP  0A600001:01BB sh sh-port\n", line: 1, want: `nothing, "ops" (not for IPv6) or "persistent <jiffies> <mask>"`},
		{name: "no ops for IPv6", text: "UDP  [fd00:0000:0000:0000:0000:0000:0000:0001]:0035 rr ops \n", line: 1, want: `"ops" (not for IPv6)`},
		{name: "fwmark in decimal", text: "FWM  1 rr\n", line: 1, want: "8 hex digits"},
		{name: "duplicate", text: "TCP  0A600001:01BB rr\nTCP  0A600001:01BB wlc\n", line: 2, want: "each service once"},
		{name: "bad forwarding", text: "TCP  0A600001:01BB rr\n  -> 0AF40304:0050      Bypass  1      0          0\n", line: 2, want: "forwarding method"},
	})
}

func TestFieldsOfAgreesWithStringsFields(t *testing.T) {
	for _, s := range []string{
		"", "   ", "TCP  0A600001:0050 rr", "\tFWM  00000001 rr persistent 360 FFFFFFFF\r",
		"  -> 0AF40005:1F90      Masq    1      0          0",
		"a b c d e f g h", "a b c d e f g h i j", " a\u00a0b\u2003c ", "x\vy\fz",
	} {
		var buf [procMaxFields]string
		got, want := fieldsOf(&buf, s), strings.Fields(s)
		if !slices.Equal(got, want) {
			t.Errorf("fieldsOf(%q) = %q, strings.Fields gives %q", s, got, want)
		}
	}
}
