package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// startProxy serves a forwardProxy for peer on the loopback and returns its address.
func startProxy(t *testing.T, peer string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveForwardProxy(ctx, l, netip.MustParseAddr(peer)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveForwardProxy: %v", err)
		}
	})
	return l.Addr().String()
}

func TestForwardProxyRelays(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s body=%q proxy-connection=%q", r.Method, r.URL.Path, b, r.Header.Get("Proxy-Connection"))
	}))
	defer target.Close()
	proxy := startProxy(t, "127.0.0.1")
	pu, _ := url.Parse("http://" + proxy)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name, method, body, want string
	}{
		{"GET", http.MethodGet, "", `GET /hostname body="" proxy-connection=""`},
		{"POST with a body", http.MethodPost, "ping", `POST /echo body="ping" proxy-connection=""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/hostname"
			if tc.method == http.MethodPost {
				path = "/echo"
			}
			req, _ := http.NewRequest(tc.method, target.URL+path, strings.NewReader(tc.body))
			req.Header.Set("Proxy-Connection", "keep-alive")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != tc.want {
				t.Fatalf("through the proxy: %d %q; expected 200 %q", resp.StatusCode, b, tc.want)
			}
		})
	}
}

func TestForwardProxyConnect(t *testing.T) {
	target := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls ok")
	}))
	defer target.Close()
	proxy := startProxy(t, "127.0.0.1")
	pu, _ := url.Parse("http://" + proxy)
	tr := target.Client().Transport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(pu)
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(target.URL + "/")
	if err != nil {
		t.Fatalf("https through CONNECT: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "tls ok" {
		t.Fatalf("https through CONNECT: %d %q; expected 200 \"tls ok\"", resp.StatusCode, b)
	}
}

func TestForwardProxyRefuses(t *testing.T) {
	// A port nothing listens on, for the dial failures.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	allowed := startProxy(t, "127.0.0.1")
	other := startProxy(t, "10.0.2.2")
	for _, tc := range []struct {
		name, proxy, request string
		wantStatus           int
		wantBody             string
	}{
		{"origin-form request", allowed, "GET /hostname HTTP/1.1\r\nHost: x\r\n\r\n", 400, "expected an absolute URI"},
		{"https in absolute form", allowed, "GET https://10.244.0.2/ HTTP/1.1\r\nHost: 10.244.0.2\r\n\r\n", 400, "for https use CONNECT"},
		{"CONNECT without a port", allowed, "CONNECT 10.244.0.2 HTTP/1.1\r\nHost: 10.244.0.2\r\n\r\n", 400, "expected host:port"},
		{"CONNECT to nothing", allowed, "CONNECT " + closed + " HTTP/1.1\r\nHost: " + closed + "\r\n\r\n", 502, "CONNECT " + closed},
		{"GET to nothing", allowed, "GET http://" + closed + "/ HTTP/1.1\r\nHost: " + closed + "\r\n\r\n", 502, "GET http://" + closed},
		{"a peer other than the forward's", other, "GET http://" + closed + "/ HTTP/1.1\r\nHost: " + closed + "\r\n\r\n", 403, "serves only the host's forward (peer 10.0.2.2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", tc.proxy, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.request)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(b), tc.wantBody) {
				t.Fatalf("%q: %d %q; expected %d with %q", tc.request, resp.StatusCode, b, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

// TestForwardProxySOCKS is the apiserver's case: a Go transport with HTTP_PROXY=socks5://
// and a request whose Host header is the apiserver's own address (pods/proxy keeps it).
func TestForwardProxySOCKS(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s host=%s", r.Method, r.URL.Path, r.Host)
	}))
	defer target.Close()
	allowed := startProxy(t, "127.0.0.1")
	other := startProxy(t, "10.0.2.2")
	for _, tc := range []struct {
		name, proxy, url, want, wantErr string
	}{
		{"from the forward", allowed, target.URL, "GET /hostname host=127.0.0.1:6443", ""},
		// A name goes to the proxy as a SOCKS domain field, resolved there.
		{"a domain name", allowed, strings.Replace(target.URL, "127.0.0.1", "localhost", 1), "GET /hostname host=127.0.0.1:6443", ""},
		{"from another peer", other, target.URL, "", "connection not allowed by ruleset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pu, _ := url.Parse("socks5://" + tc.proxy)
			client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 10 * time.Second}
			req, _ := http.NewRequest(http.MethodGet, tc.url+"/hostname", nil)
			req.Host = "127.0.0.1:6443"
			resp, err := client.Do(req)
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tc.want {
				t.Fatalf("through SOCKS5: %q; expected %q", b, tc.want)
			}
		})
	}
}
