package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
)

// netexec answers like agnhost netexec (test/images/agnhost/netexec in kubernetes), the
// image the services suite's backends run, for the endpoints the suites use: /hostname
// (and every unknown path, as the seed's nginx-like pods did before), /dial, /clientip,
// /echo, /healthz and /readyz over HTTP; "hostname", "echo X" and "clientip" over UDP.
// /dial dials from inside the pod's network namespace, as the container would.
//
// Termination follows netexec too: after SIGTERM (the agent's terminate) /readyz answers
// 503 while the servers keep answering everything else, until the pod's runtime stops them.
type netexec struct {
	name string
	pod  dialer

	terminating atomic.Bool

	mu      sync.Mutex
	closers []io.Closer
	wg      sync.WaitGroup
}

// dialer opens connections from inside the pod (pods.Pod).
type dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// listener opens sockets inside the pod (pods.Pod).
type listener interface {
	Listen(network, address string) (net.Listener, error)
	Do(fn func() error) error
}

func newNetexec(name string, pod dialer) *netexec { return &netexec{name: name, pod: pod} }

// terminate is SIGTERM: readiness turns 503, serving goes on.
func (n *netexec) terminate() { n.terminating.Store(true) }

// handler is the HTTP side.
func (n *netexec) handler() http.Handler {
	mux := http.NewServeMux()
	name := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, n.name)
	}
	mux.HandleFunc("/", name)
	mux.HandleFunc("/hostname", name)
	mux.HandleFunc("/hostName", name)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if n.terminating.Load() {
			http.Error(w, "terminating", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/clientip", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Query().Get("msg")) })
	mux.HandleFunc("/dial", n.dial)
	return mux
}

// dial is netexec's /dial: request=<path or UDP command>, protocol=http|udp, host, port,
// tries; it answers {"responses":[...],"errors":[...]}, each key only when it has entries
// (responses only when the last try answered, as netexec does).
func (n *netexec) dial(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	request, protocol := q.Get("request"), strings.ToLower(q.Get("protocol"))
	tries := 1
	if t := q.Get("tries"); t != "" {
		v, err := strconv.Atoi(t)
		if err != nil {
			http.Error(w, fmt.Sprintf("tries parameter is invalid. %v", err), http.StatusBadRequest)
			return
		}
		tries = v
	}
	if request == "" {
		http.Error(w, "request parameter not specified.", http.StatusBadRequest)
		return
	}
	hostPort := net.JoinHostPort(q.Get("host"), q.Get("port"))
	if _, _, err := net.SplitHostPort(hostPort); err != nil || q.Get("port") == "" {
		http.Error(w, fmt.Sprintf("host and/or port param are invalid. %v", err), http.StatusBadRequest)
		return
	}
	var try func(context.Context) (string, error)
	switch protocol {
	case "", "http":
		try = func(ctx context.Context) (string, error) { return n.dialHTTP(ctx, request, hostPort) }
	case "udp":
		try = func(ctx context.Context) (string, error) { return n.dialUDP(ctx, request, hostPort) }
	default:
		http.Error(w, fmt.Sprintf("unsupported protocol. %s", protocol), http.StatusBadRequest)
		return
	}
	var responses, errs []string
	last := ""
	for i := 0; i < tries; i++ {
		resp, err := try(r.Context())
		last = resp
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			responses = append(responses, resp)
		}
	}
	out := map[string][]string{}
	if last != "" {
		out["responses"] = responses
	}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	b, _ := json.Marshal(out)
	w.Write(b)
}

func (n *netexec) dialHTTP(ctx context.Context, request, hostPort string) (string, error) {
	c := pods.HTTPClient(n.pod, 5*time.Second)
	resp, err := c.Get(fmt.Sprintf("http://%s/%s", hostPort, request))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), err
}

func (n *netexec) dialUDP(ctx context.Context, request, hostPort string) (string, error) {
	c, err := n.pod.DialContext(ctx, "udp", hostPort)
	if err != nil {
		return "", fmt.Errorf("udp dial failed. err:%v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(request)); err != nil {
		return "", fmt.Errorf("udp connection write failed. err:%v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	k, err := c.Read(buf)
	if err != nil || k == 0 {
		return "", fmt.Errorf("reading from udp connection failed. err:'%v'", err)
	}
	return string(buf[:k]), nil
}

// udpAnswer is netexec's UDP server's answer to one datagram; ok is false when it stays
// silent (an unknown command).
func (n *netexec) udpAnswer(datagram []byte, from net.Addr) (string, bool) {
	raw := strings.TrimSpace(string(datagram))
	text := strings.ToLower(raw)
	switch {
	case text == "hostname":
		return n.name, true
	case strings.HasPrefix(text, "echo "):
		return strings.SplitN(text, " ", 2)[1], true
	case text == "clientip":
		return from.String(), true
	}
	return "", false
}

// serveTCP starts the HTTP server on a listener.
func (n *netexec) serveTCP(l net.Listener) {
	srv := &http.Server{Handler: n.handler(), ReadHeaderTimeout: 10 * time.Second}
	n.track(closerFunc(func() error { return srv.Close() }))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Warn("netexec HTTP server stopped", "pod", n.name, "addr", l.Addr(), "err", err)
		}
	}()
}

// serveUDP answers datagrams on a packet socket until it is closed.
func (n *netexec) serveUDP(pc net.PacketConn) {
	n.track(pc)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		buf := make([]byte, 2048)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if answer, ok := n.udpAnswer(buf[:k], from); ok {
				pc.WriteTo([]byte(answer), from)
			}
		}
	}()
}

// start listens on the ports inside the pod.
func (n *netexec) start(pod listener, tcp, udp []uint16) error {
	for _, port := range tcp {
		l, err := pod.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			n.close()
			return err
		}
		n.serveTCP(l)
	}
	for _, port := range udp {
		var pc net.PacketConn
		err := pod.Do(func() error {
			var err error
			pc, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
			return err
		})
		if err != nil {
			n.close()
			return fmt.Errorf("pod %s: listen udp :%d: %w", n.name, port, err)
		}
		n.serveUDP(pc)
	}
	return nil
}

func (n *netexec) track(c io.Closer) {
	n.mu.Lock()
	n.closers = append(n.closers, c)
	n.mu.Unlock()
}

// close stops every server, closing open connections (the process is gone).
func (n *netexec) close() {
	n.mu.Lock()
	cs := n.closers
	n.closers = nil
	n.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	n.wg.Wait()
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
