package controlplane

import (
	_ "embed"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// Captured with a Python process listening on 127.0.0.1:33571 and connected to it;
// 0.0.0.0:2024 is another listener of the machine. The same process listened on [::1]:39367
// and [::]:57687.
var (
	//go:embed testdata/proc-net-tcp.txt
	procNetTCP []byte
	//go:embed testdata/proc-net-tcp6.txt
	procNetTCP6 []byte
)

func TestParseProcNetTCP(t *testing.T) {
	type row struct {
		local string
		state uint8
		inode uint64
	}
	tests := []struct {
		file string
		data []byte
		want []row
	}{
		{"proc-net-tcp.txt", procNetTCP, []row{
			{"127.0.0.1:33571", tcpListen, 151388},
			{"0.0.0.0:2024", tcpListen, 640},
			{"127.0.0.1:48824", 0x06, 0},
			{"127.0.0.1:58162", 0x01, 151395},
			{"127.0.0.1:60172", 0x06, 0},
			{"127.0.0.1:43601", 0x06, 0},
			{"127.0.0.1:33571", 0x01, 0},
		}},
		{"proc-net-tcp6.txt", procNetTCP6, []row{
			{"[::1]:39367", tcpListen, 151386},
			{"[::]:57687", tcpListen, 151387},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			socks, err := parseProcNetTCP(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, s := range socks {
				got = append(got, row{s.Local.String(), s.State, s.Inode})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("parseProcNetTCP =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestParseProcNetTCPErrors(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "is empty"},
		{"no header", "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n", "header"},
		{"short row", header + "   0: 0100007F:0CEA 00000000:0000 0A\n", "expected at least 10 fields"},
		{"bad address", header + "   0: 0100007:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n", "8 or 32 hex digits"},
		{"no port", header + "   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n", "expected ADDR:PORT"},
		{"bad port", header + "   0: 0100007F:XYZ 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n", "port"},
		{"bad state", header + "   0: 0100007F:0CEA 00000000:0000 ZZ 00000000:00000000 00:00000000 00000000 0 0 1 1\n", "state"},
		{"bad inode", header + "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x 1\n", "inode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseProcNetTCP([]byte(tt.in))
			wanterr.Check(t, err, tt.wantErr)
		})
	}
}

func FuzzParseProcNetTCP(f *testing.F) {
	f.Add(procNetTCP)
	f.Add(procNetTCP6)
	f.Fuzz(func(t *testing.T, data []byte) {
		socks, err := parseProcNetTCP(data)
		if err != nil {
			return
		}
		for _, s := range socks {
			if !s.Local.IsValid() {
				t.Fatalf("accepted an invalid address: %+v", s)
			}
		}
	})
}

// Listeners must see this process's own sockets, on the addresses they were bound to.
func TestListenersOfThisProcess(t *testing.T) {
	var want []netip.AddrPort
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if strings.Contains(addr, "::1") {
				continue // no IPv6 loopback here
			}
			t.Fatal(err)
		}
		defer l.Close()
		want = append(want, netip.MustParseAddrPort(l.Addr().String()))
	}
	got, err := Listeners(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("Listeners(self) = %v, missing %v", got, w)
		}
	}
}
