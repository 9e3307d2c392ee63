package pods

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestHostVethName(t *testing.T) {
	a, b := HostVethName("backend-a"), HostVethName("backend-b")
	if a == b {
		t.Fatalf("HostVethName gives %q for two pods", a)
	}
	if len(a) != 12 || !strings.HasPrefix(a, "veth") {
		t.Fatalf("HostVethName(backend-a) = %q, expected veth and 8 hex digits", a)
	}
	if again := HostVethName("backend-a"); again != a {
		t.Fatalf("HostVethName is not stable: %q then %q", a, again)
	}
}

func TestSpecValidate(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.244.1.5"), netip.MustParseAddr("fd00:10:244::5")
	tests := []struct {
		name    string
		spec    Spec
		wantErr string
		veth    string
	}{
		{name: "defaults the veth", spec: Spec{Name: "a", IPs: []netip.Addr{v4}}, veth: HostVethName("a")},
		{name: "dual-stack", spec: Spec{Name: "a", IPs: []netip.Addr{v4, v6}, HostVeth: "vetha"}, veth: "vetha"},
		{name: "no name", spec: Spec{IPs: []netip.Addr{v4}}, wantErr: "expected a name"},
		{name: "no address", spec: Spec{Name: "a"}, wantErr: "expected one or two addresses"},
		{name: "two of a family", spec: Spec{Name: "a", IPs: []netip.Addr{v4, netip.MustParseAddr("10.244.1.6")}}, wantErr: "two addresses of one family"},
		{name: "loopback", spec: Spec{Name: "a", IPs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}, wantErr: "not a usable unicast address"},
		{name: "link-local", spec: Spec{Name: "a", IPs: []netip.Addr{netip.MustParseAddr("169.254.1.1")}}, wantErr: "not a usable unicast address"},
		{name: "zero address", spec: Spec{Name: "a", IPs: []netip.Addr{{}}}, wantErr: "not a usable unicast address"},
		{name: "long veth", spec: Spec{Name: "a", IPs: []netip.Addr{v4}, HostVeth: "veth-much-too-long"}, wantErr: "longer than the kernel's 15"},
		{name: "veth named eth0", spec: Spec{Name: "a", IPs: []netip.Addr{v4}, HostVeth: "eth0"}, wantErr: "may not be called eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.validate()
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if got.HostVeth != tt.veth {
				t.Errorf("HostVeth = %q, expected %q", got.HostVeth, tt.veth)
			}
		})
	}
}

func TestPodIP(t *testing.T) {
	p := &Pod{spec: Spec{Name: "a", IPs: []netip.Addr{netip.MustParseAddr("fd00::5"), netip.MustParseAddr("10.0.0.5")}}}
	if got := p.IP(4); got != netip.MustParseAddr("10.0.0.5") {
		t.Errorf("IP(4) = %v", got)
	}
	if got := p.IP(6); got != netip.MustParseAddr("fd00::5") {
		t.Errorf("IP(6) = %v", got)
	}
	single := &Pod{spec: Spec{Name: "b", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.6")}}}
	if got := single.IP(6); got.IsValid() {
		t.Errorf("IP(6) of an IPv4-only pod = %v, expected none", got)
	}
}

func TestAskName(t *testing.T) {
	named := httptest.NewServer(NameHandler("backend-a"))
	defer named.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no such thing", http.StatusNotFound)
	}))
	defer broken.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer empty.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(strings.Repeat("x", maxNameBytes+1)))
	}))
	defer huge.Close()

	c := HTTPClient(&net.Dialer{}, 5*time.Second)
	tests := []struct {
		name, url, want, wantErr string
	}{
		{name: "named", url: named.URL, want: "backend-a"},
		{name: "named, a path", url: named.URL + "/hostname", want: "backend-a"},
		{name: "not found", url: broken.URL, wantErr: "404 Not Found, expected 200"},
		{name: "empty", url: empty.URL, wantErr: "answered 0 bytes"},
		{name: "too long", url: huge.URL, wantErr: "answered 1025 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AskName(context.Background(), c, tt.url)
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if got != tt.want {
				t.Errorf("AskName(%s) = %q; expected %q", tt.url, got, tt.want)
			}
		})
	}
}

// A session keeps asking over one connection; every request of a fresh-connection client
// opens a new one.
func TestSessionKeepsOneConnection(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	seen := func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(conns)
	}
	srv := httptest.NewUnstartedServer(NameHandler("backend-a"))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns[c.RemoteAddr().String()] = true
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	s, err := OpenSession(context.Background(), &net.Dialer{}, addr)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got, err := s.AskName(5 * time.Second); err != nil || got != "backend-a" {
			t.Fatalf("AskName = %q, %v", got, err)
		}
	}
	if got := seen(); len(got) != 1 || !got[s.LocalAddr().String()] {
		t.Fatalf("server saw connections %v, expected only the session's %s", got, s.LocalAddr())
	}
	c := HTTPClient(&net.Dialer{}, 5*time.Second)
	for range 2 {
		if _, err := AskName(context.Background(), c, srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	if got := seen(); len(got) != 3 {
		t.Fatalf("server saw %d connections, expected 3 (the session and one per fresh request)", len(got))
	}

	// A server that goes away ends the session with an error, not a hang.
	srv.CloseClientConnections()
	if got, err := s.AskName(5 * time.Second); err == nil {
		t.Fatalf("AskName after the server closed the connection = %q, expected an error", got)
	}
	s.Close()
}

func TestSessionSeesServerClosing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("backend-a"))
	}))
	defer srv.Close()
	s, err := OpenSession(context.Background(), &net.Dialer{}, strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.AskName(5 * time.Second)
	wanterr.Check(t, err, "closing the connection")
}

func TestTallyString(t *testing.T) {
	tests := []struct {
		t    Tally
		want string
	}{
		{Tally{}, ""},
		{Tally{"b": 5, "a": 5}, "a=5 b=5"},
		{Tally{"backend-b": 1, "backend-a": 9}, "backend-a=9 backend-b=1"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("%v.String() = %q, expected %q", map[string]int(tt.t), got, tt.want)
		}
	}
}
