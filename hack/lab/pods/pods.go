// Package pods stands in for Kubernetes Pods on one Linux node without a container
// runtime: each pod is a network namespace joined to the root namespace by a veth pair,
// routed the way point-to-point CNI plugins (Calico, kindnet's ptp) route pods, with an
// HTTP server that answers with the pod's name. Tests and the lab cluster's node agent use
// it to send real traffic through IPVS to real endpoints and tell which one answered.
//
// Addressing: the pod's eth0 holds the pod's addresses as /32 (/128) and a default route via
// a link-local gateway (169.254.1.1, fe80::1) that no interface owns; static neighbour
// entries on both ends resolve the gateway to the host veth and the pod addresses to eth0,
// so no ARP or NDP answers are needed and the host veth needs no address. Leaving the host
// side without an address matters for kube-proxy: IPVS mode puts NodePorts on every node
// address, and a gateway address on each veth would add one virtual server per pod.
//
// The root namespace must forward (net.ipv4.ip_forward=1, net.ipv6.conf.all.forwarding=1)
// for pods to reach each other or Services; kube-proxy and this project's proxier set the
// IPv4 one at start. It also needs a global address of each family its pods use, as a node
// has: packets from the root namespace to a pod take their source address from it.
package pods

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Gateways are the next hops pods route through: link-local addresses no interface holds,
// resolved by static neighbour entries to the host side of the pod's veth.
var (
	GatewayIPv4 = netip.MustParseAddr("169.254.1.1")
	GatewayIPv6 = netip.MustParseAddr("fe80::1")
)

// PodInterface is the name of the pod's end of the veth pair.
const PodInterface = "eth0"

// Spec describes a pod to create.
type Spec struct {
	// Name is what the pod's servers answer; it is also hashed into the host veth's name.
	Name string
	// IPs are the pod's addresses, at most one per family (dual-stack pods have two).
	IPs []netip.Addr
	// HostVeth names the root namespace's end of the veth pair; empty means HostVethName(Name).
	HostVeth string
}

// HostVethName is the default name of a pod's host-side veth: "veth" and 8 hex digits of
// a hash of the pod's name, within the kernel's 15-character limit and stable across runs
// so that a leftover from a crashed run is recognisable.
func HostVethName(pod string) string {
	h := fnv.New32a()
	h.Write([]byte(pod))
	return fmt.Sprintf("veth%08x", h.Sum32())
}

// validate checks a spec before anything is created and fills in defaults.
func (s Spec) validate() (Spec, error) {
	if s.Name == "" {
		return s, fmt.Errorf("pod spec: expected a name, got none")
	}
	if len(s.IPs) == 0 || len(s.IPs) > 2 {
		return s, fmt.Errorf("pod %s: expected one or two addresses (one per family), got %d", s.Name, len(s.IPs))
	}
	seen := map[bool]bool{}
	for _, ip := range s.IPs {
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() || ip.IsLinkLocalUnicast() {
			return s, fmt.Errorf("pod %s: %v is not a usable unicast address for a pod", s.Name, ip)
		}
		if seen[ip.Is4()] {
			return s, fmt.Errorf("pod %s: two addresses of one family (%v): expected at most one IPv4 and one IPv6", s.Name, s.IPs)
		}
		seen[ip.Is4()] = true
	}
	if s.HostVeth == "" {
		s.HostVeth = HostVethName(s.Name)
	}
	if len(s.HostVeth) > 15 {
		return s, fmt.Errorf("pod %s: host veth name %q is longer than the kernel's 15 characters", s.Name, s.HostVeth)
	}
	if s.HostVeth == PodInterface {
		return s, fmt.Errorf("pod %s: the host veth may not be called %s", s.Name, PodInterface)
	}
	s.IPs = slices.Clone(s.IPs)
	return s, nil
}

// Pod is a network namespace standing in for a Pod. Its methods are safe for concurrent use.
type Pod struct {
	spec Spec
	ns   nsHandle

	mu      sync.Mutex
	servers []*Server
	deleted bool
}

// Name returns the pod's name.
func (p *Pod) Name() string { return p.spec.Name }

// IPs returns the pod's addresses.
func (p *Pod) IPs() []netip.Addr { return slices.Clone(p.spec.IPs) }

// IP returns the pod's address of the family (4 or 6), or the zero Addr.
func (p *Pod) IP(family int) netip.Addr {
	for _, ip := range p.spec.IPs {
		if (family == 4) == ip.Is4() {
			return ip
		}
	}
	return netip.Addr{}
}

// HostVeth returns the name of the root namespace's end of the pod's veth pair.
func (p *Pod) HostVeth() string { return p.spec.HostVeth }

// String names the pod and its addresses.
func (p *Pod) String() string { return fmt.Sprintf("pod %s %v", p.spec.Name, p.spec.IPs) }

// Dialer opens connections; *net.Dialer (the root namespace) and *Pod (inside a pod) are
// Dialers, so one helper can send traffic from either.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// DialContext opens a connection from inside the pod: the socket is created on a thread
// in the pod's namespace and keeps belonging to it, whichever goroutine uses it later.
func (p *Pod) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := p.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return c, nil
}

// Listen opens a listener inside the pod's namespace.
func (p *Pod) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := p.Do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return l, nil
}

// Serve starts an HTTP server on the port (every address of the pod) that answers every
// request with the pod's name (NameHandler). Delete stops it; so does Server.Close.
func (p *Pod) Serve(port uint16) (*Server, error) {
	p.mu.Lock()
	deleted := p.deleted
	p.mu.Unlock()
	if deleted {
		return nil, fmt.Errorf("%s: serve on port %d: the pod was deleted", p, port)
	}
	l, err := p.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, err
	}
	s := startServer(l, NameHandler(p.spec.Name))
	p.mu.Lock()
	p.servers = append(p.servers, s)
	p.mu.Unlock()
	return s, nil
}

// Server is an HTTP server running in a pod.
type Server struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
	err  error
}

func startServer(l net.Listener, h http.Handler) *Server {
	s := &Server{
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		addr: l.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != http.ErrServerClosed {
			s.err = err
		}
	}()
	return s
}

// Addr is the address the server listens on (in the pod's namespace).
func (s *Server) Addr() net.Addr { return s.addr }

// Close stops the server at once, closing open connections too (a pod being killed), and
// returns the error serving stopped with, if it stopped on its own.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if s.err != nil {
		return s.err
	}
	return err
}

// HTTPClient is a client that dials through d and opens a fresh connection for every
// request, so that each request is a new IPVS connection and goes where the scheduler
// sends it. Proxies from the environment are not used.
func HTTPClient(d Dialer, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       d.DialContext,
			DisableKeepAlives: true,
		},
	}
}
