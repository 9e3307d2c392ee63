package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// forwardProxy is the proxy through which the host's kube-apiserver reaches pod and node
// addresses in the guest: QEMU user networking forwards only host ports into the guest, so
// the apiserver's pods/proxy and services/proxy requests (which honour HTTP_PROXY and
// HTTPS_PROXY) come here through one such forward and are dialled from the first node's
// network namespace, which routes to every node and podCIDR.
//
// One port speaks two protocols, told apart by the first byte. SOCKS5 (CONNECT only) is
// what the apiserver is given: its proxy handler keeps the client's Host header (the
// apiserver's own 127.0.0.1:port), and Go's transport writes that Host, not the target, into
// the absolute URI of a plain-http request to an HTTP proxy, so an HTTP proxy cannot know
// where such a request goes; through SOCKS5 the transport dials the target itself. HTTP
// (absolute-URI relaying, CONNECT) serves curl -x and other clients that send the target.
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
	// rw.Reader first: bytes the client sent right behind its request.
	tunnel(client, target, rw.Reader)
}

func closeWrite(c net.Conn) {
	if bc, ok := c.(*bufferedConn); ok {
		c = bc.Conn
	}
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
		return
	}
	c.Close()
}

// serveForwardProxy serves the proxy on l until ctx ends: SOCKS5 connections itself, the
// others through an HTTP server.
func serveForwardProxy(ctx context.Context, l net.Listener, peer netip.Addr) error {
	p := newForwardProxy(peer)
	httpConns := &connListener{addr: l.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
		l.Close()
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(httpConns) }()
	slog.Info("serving the host's forward proxy (SOCKS5 and HTTP)", "listen", l.Addr().String(), "peer", peer)
	var err error
	for {
		var c net.Conn
		c, err = l.Accept()
		if err != nil {
			break
		}
		go p.sniff(c, httpConns)
	}
	httpConns.close()
	if ctx.Err() != nil {
		err = nil
	}
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && !errors.Is(serr, net.ErrClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("forward proxy: %w", err)
	}
	return nil
}

// sniff hands c to the SOCKS5 handler or to the HTTP server by its first byte.
func (p *forwardProxy) sniff(c net.Conn, httpConns *connListener) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	bc := &bufferedConn{Conn: c, r: br}
	if first[0] == socksVersion {
		p.socks(bc)
		return
	}
	if !httpConns.put(bc) {
		c.Close()
	}
}

// bufferedConn is a connection whose first bytes were read ahead into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// connListener feeds connections accepted elsewhere to an http.Server.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *connListener) put(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) close() { l.once.Do(func() { close(l.done) }) }

func (l *connListener) Close() error   { l.close(); return nil }
func (l *connListener) Addr() net.Addr { return l.addr }

// SOCKS5 (RFC 1928), the part the proxy speaks: no authentication, CONNECT.
const (
	socksVersion        = 5
	socksNoAuth         = 0
	socksNoAcceptable   = 0xff
	socksConnect        = 1
	socksSucceeded      = 0
	socksNotAllowed     = 2
	socksHostUnreach    = 4
	socksCmdUnsupported = 7
	socksAtypUnsupp     = 8
	socksIPv4           = 1
	socksDomain         = 3
	socksIPv6           = 4
)

// socks serves one SOCKS5 connection: the greeting, one CONNECT, then the tunnel.
func (p *forwardProxy) socks(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	reply := func(code byte) { c.Write([]byte{socksVersion, code, 0, socksIPv4, 0, 0, 0, 0, 0, 0}) }
	// The greeting: the version (the request's is checked), then the methods offered.
	var ver [1]byte
	if _, err := io.ReadFull(c, ver[:]); err != nil {
		return
	}
	methods, err := readCounted(c)
	if err != nil {
		return
	}
	if !bytes.Contains(methods, []byte{socksNoAuth}) {
		c.Write([]byte{socksVersion, socksNoAcceptable})
		return
	}
	c.Write([]byte{socksVersion, socksNoAuth})
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil || ap.Addr().Unmap() != p.peer {
		slog.Warn("forward proxy: SOCKS connection refused: not from the host's forward", "from", c.RemoteAddr().String(), "peer", p.peer)
		reply(socksNotAllowed)
		return
	}
	if req[0] != socksVersion || req[1] != socksConnect {
		reply(socksCmdUnsupported)
		return
	}
	var host string
	switch req[3] {
	case socksIPv4, socksIPv6:
		b := make([]byte, 4)
		if req[3] == socksIPv6 {
			b = make([]byte, 16)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		a, _ := netip.AddrFromSlice(b)
		host = a.String()
	case socksDomain:
		b, err := readCounted(c)
		if err != nil {
			return
		}
		host = string(b)
	default:
		reply(socksAtypUnsupp)
		return
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(port[0])<<8|int(port[1])))
	t, err := p.dial(context.Background(), "tcp", target)
	if err != nil {
		slog.Warn("forward proxy: SOCKS CONNECT failed", "target", target, "err", err)
		reply(socksHostUnreach)
		return
	}
	reply(socksSucceeded)
	c.SetDeadline(time.Time{})
	tunnel(c, t, c)
}

// readCounted reads a SOCKS5 field that its count byte leads: the greeting's methods, a
// domain name.
func readCounted(r io.Reader) ([]byte, error) {
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	b := make([]byte, n[0])
	_, err := io.ReadFull(r, b)
	return b, err
}

// tunnel copies from (client's reader, normally the client) to target and back until both
// directions end, then closes both.
func tunnel(client net.Conn, target net.Conn, from io.Reader) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		io.Copy(target, from)
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
