package labe2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseIPVSConnsLabCapture(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "proc-net-ip_vs_conn.txt"))
	if err != nil {
		t.Fatal(err)
	}
	conns, err := parseIPVSConns(string(data))
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
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, expected one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
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
	data, err := os.ReadFile(filepath.Join("testdata", "proc-net-ip_vs_conn.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(data))
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
