package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
)

// loopbackPod is a pod on the test machine's own namespace: what netexec dials and listens
// through, without a network namespace.
type loopbackPod struct{}

func (loopbackPod) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}
func (loopbackPod) Listen(network, address string) (net.Listener, error) {
	return net.Listen(network, "127.0.0.1"+address)
}
func (loopbackPod) Do(fn func() error) error { return fn() }

func TestNetexecUDPAnswer(t *testing.T) {
	n := newNetexec("web-1", loopbackPod{})
	from := &net.UDPAddr{IP: net.IPv4(10, 244, 0, 5), Port: 40000}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"hostname", "web-1", true},
		{"  HOSTNAME\n", "web-1", true},
		{"echo hello", "hello", true},
		{"clientip", "10.244.0.5:40000", true},
		{"what", "", false},
		{"", "", false},
	} {
		got, ok := n.udpAnswer([]byte(tc.in), from)
		if got != tc.want || ok != tc.ok {
			t.Errorf("udpAnswer(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestNetexecDial runs two netexec emulations on loopback and has one /dial the other over
// HTTP and UDP, as the services suite's UDP spec does through a ClusterIP.
func TestNetexecDial(t *testing.T) {
	target := newNetexec("target-pod", loopbackPod{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target.serveTCP(l)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target.serveUDP(pc)
	defer target.close()

	client := httptest.NewServer(newNetexec("client-pod", loopbackPod{}).handler())
	defer client.Close()
	tcpPort := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	udpPort := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	closed := func() string { // a UDP port nobody listens on
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
	}()

	for _, tc := range []struct {
		name          string
		query         url.Values
		status        int
		wantResponses []string
		wantErrors    int
	}{
		{"udp hostname", url.Values{"request": {"hostname"}, "protocol": {"udp"}, "host": {"127.0.0.1"}, "port": {udpPort}, "tries": {"2"}},
			http.StatusOK, []string{"target-pod", "target-pod"}, 0},
		{"http hostname", url.Values{"request": {"hostname"}, "protocol": {"http"}, "host": {"127.0.0.1"}, "port": {tcpPort}},
			http.StatusOK, []string{"target-pod"}, 0},
		{"udp nobody there", url.Values{"request": {"hostname"}, "protocol": {"udp"}, "host": {"127.0.0.1"}, "port": {closed}},
			http.StatusOK, nil, 1},
		{"no request", url.Values{"protocol": {"udp"}, "host": {"127.0.0.1"}, "port": {udpPort}}, http.StatusBadRequest, nil, 0},
		{"bad tries", url.Values{"request": {"hostname"}, "host": {"127.0.0.1"}, "port": {udpPort}, "tries": {"x"}}, http.StatusBadRequest, nil, 0},
		{"sctp", url.Values{"request": {"hostname"}, "protocol": {"sctp"}, "host": {"127.0.0.1"}, "port": {udpPort}}, http.StatusBadRequest, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(client.URL + "/dial?" + tc.query.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			var out map[string][]string
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if got := out["responses"]; len(got) != len(tc.wantResponses) || (len(got) > 0 && got[0] != tc.wantResponses[0]) {
				t.Errorf("responses %q, want %q", got, tc.wantResponses)
			}
			if len(out["errors"]) != tc.wantErrors {
				t.Errorf("errors %q, want %d", out["errors"], tc.wantErrors)
			}
		})
	}
}

func TestNetexecReadyzAfterTerminate(t *testing.T) {
	n := newNetexec("web-1", loopbackPod{})
	srv := httptest.NewServer(n.handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 64)
		k, _ := resp.Body.Read(b)
		return resp.StatusCode, string(b[:k])
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before SIGTERM = %d, want 200", code)
	}
	n.terminate()
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after SIGTERM = %d, want 503 (netexec turns unready and keeps serving)", code)
	}
	if code, body := get("/hostname"); code != http.StatusOK || body != "web-1" {
		t.Errorf("/hostname after SIGTERM = %d %q, want 200 web-1", code, body)
	}
}
