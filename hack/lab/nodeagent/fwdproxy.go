package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync"
	"time"
)

// forwardProxy is a plain HTTP forward proxy through which the host's kube-apiserver
// reaches pod and node addresses in the guest: QEMU user networking forwards only host
// ports into the guest, so the apiserver's pods/proxy and services/proxy requests (which
// honour HTTP_PROXY and HTTPS_PROXY) come here through one such forward and are dialled
// from the first node's network namespace, which routes to every node and podCIDR. It
// relays absolute-URI requests (GET, POST, ...) and tunnels CONNECT.
//
// It serves only peer: QEMU's user-network gateway, the source of every connection a
// host forward makes. The proxy listens in the guest, so anything else reaching it (a pod,
// another node) is not the host's apiserver and is refused.
type forwardProxy struct {
	peer netip.Addr
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	rp   *httputil.ReverseProxy
}

func newForwardProxy(peer netip.Addr) *forwardProxy {
	d := &net.Dialer{Timeout: 10 * time.Second}
	p := &forwardProxy{peer: peer, dial: d.DialContext}
	p.rp = &httputil.ReverseProxy{
		// The request's URL is already the target's (absolute-form): keep it as is.
		Rewrite:   func(*httputil.ProxyRequest) {},
		Transport: &http.Transport{Proxy: nil, DialContext: p.dialContext, ForceAttemptHTTP2: false},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			slog.Warn("forward proxy: relaying failed", "url", r.URL.String(), "err", err)
			http.Error(w, fmt.Sprintf("lab forward proxy: %s %s: %v", r.Method, r.URL, err), http.StatusBadGateway)
		},
	}
	return p
}

func (p *forwardProxy) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return p.dial(ctx, network, addr)
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || ap.Addr().Unmap() != p.peer {
		http.Error(w, fmt.Sprintf("lab forward proxy: connection from %s refused: it serves only the host's forward (peer %s)", r.RemoteAddr, p.peer), http.StatusForbidden)
		return
	}
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Host == "" {
		http.Error(w, fmt.Sprintf("lab forward proxy: %s %q: expected an absolute URI (http://host:port/path), as a client sends to a proxy", r.Method, r.RequestURI), http.StatusBadRequest)
		return
	}
	if r.URL.Scheme != "http" {
		http.Error(w, fmt.Sprintf("lab forward proxy: %s %s: expected an http URL; for %s use CONNECT", r.Method, r.URL, r.URL.Scheme), http.StatusBadRequest)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// connect tunnels a CONNECT request: the client's bytes to the target and back.
func (p *forwardProxy) connect(w http.ResponseWriter, r *http.Request) {
	if _, _, err := net.SplitHostPort(r.Host); err != nil {
		http.Error(w, fmt.Sprintf("lab forward proxy: CONNECT %q: expected host:port", r.Host), http.StatusBadRequest)
		return
	}
	target, err := p.dial(r.Context(), "tcp", r.Host)
	if err != nil {
		http.Error(w, fmt.Sprintf("lab forward proxy: CONNECT %s: %v", r.Host, err), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		target.Close()
		http.Error(w, "lab forward proxy: CONNECT needs HTTP/1.1", http.StatusHTTPVersionNotSupported)
		return
	}
	client, rw, err := hj.Hijack()
	if err != nil {
		target.Close()
		slog.Warn("forward proxy: hijacking a CONNECT", "target", r.Host, "err", err)
		return
	}
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		client.Close()
		target.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		// rw.Reader first: bytes the client sent right behind its request.
		io.Copy(target, rw.Reader)
		closeWrite(target)
	}()
	go func() {
		defer wg.Done()
		io.Copy(client, target)
		closeWrite(client)
	}()
	wg.Wait()
	client.Close()
	target.Close()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
		return
	}
	c.Close()
}

// serveForwardProxy serves the proxy on l until ctx ends.
func serveForwardProxy(ctx context.Context, l net.Listener, peer netip.Addr) error {
	srv := &http.Server{Handler: newForwardProxy(peer), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	slog.Info("serving the host's forward proxy", "listen", l.Addr().String(), "peer", peer)
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("forward proxy: %w", err)
	}
	return nil
}
