package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/desired"
)

// ServiceHealthCheck is what one Service's health check node port serves.
type ServiceHealthCheck struct {
	// Port is the Service's spec.healthCheckNodePort.
	Port uint16
	// LocalEndpoints counts the Service's ready endpoints on this node.
	LocalEndpoints int
}

// ServiceHealthServers answers the health check node ports of Services with
// externalTrafficPolicy Local, as kube-proxy's service health server does: any request gets
// 200 while the node has a ready local endpoint for the Service and the proxier is healthy,
// 503 otherwise, so that a cloud load balancer sends traffic only to nodes that can keep
// the client's source IP. It is safe for concurrent use.
type ServiceHealthServers struct {
	health *Health
	log    klog.Logger

	mu      sync.Mutex
	addrs   []netip.Addr
	servers map[types.NamespacedName]*serviceHealthServer
	wg      sync.WaitGroup
}

// serviceHealthServer is one Service's listeners, one per listen address.
type serviceHealthServer struct {
	nn    types.NamespacedName
	port  uint16
	https []*http.Server
	local atomic.Int64
}

// NewServiceHealthServers returns an empty set; health (nil: always healthy) is the
// proxier's, reported as serviceProxyHealthy.
func NewServiceHealthServers(health *Health, log klog.Logger) *ServiceHealthServers {
	if log.GetSink() == nil {
		log = klog.Background()
	}
	return &ServiceHealthServers{health: health, log: log, servers: map[types.NamespacedName]*serviceHealthServer{}}
}

// Sync makes the set serve exactly the wanted Services, each on every address of addrs
// (an unspecified address means all of that family's). A Service whose port and the
// addresses stay keeps its listeners and only its count changes; one whose port changed
// is closed and reopened; one no longer wanted is closed. A port that cannot be opened
// is logged with its Service and tried again at the next Sync.
func (s *ServiceHealthServers) Sync(addrs []netip.Addr, wanted map[types.NamespacedName]ServiceHealthCheck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Equal(addrs, s.addrs) {
		if len(s.servers) > 0 {
			s.log.V(2).Info("Reopening health check node ports on new addresses", "addresses", addrs, "previous", s.addrs)
		}
		for nn, srv := range s.servers {
			srv.close(s.log)
			delete(s.servers, nn)
		}
		s.addrs = slices.Clone(addrs)
	}
	for nn, srv := range s.servers {
		if w, ok := wanted[nn]; !ok || w.Port != srv.port {
			s.log.V(2).Info("Closing health check node port", "service", nn, "port", srv.port)
			srv.close(s.log)
			delete(s.servers, nn)
		}
	}
	for nn, w := range wanted {
		srv := s.servers[nn]
		if srv == nil {
			var err error
			srv, err = s.open(nn, w.Port)
			if err != nil {
				s.log.Error(err, "Failed to open the health check node port; retrying at the next sync. Is another process listening on it?", "service", nn, "port", w.Port)
				continue
			}
			s.log.V(2).Info("Opened health check node port", "service", nn, "port", w.Port, "addresses", s.addrs)
			s.servers[nn] = srv
		}
		if old := srv.local.Swap(int64(w.LocalEndpoints)); old != int64(w.LocalEndpoints) {
			s.log.V(3).Info("Reporting local endpoints on the health check node port", "service", nn, "port", w.Port, "localEndpoints", w.LocalEndpoints)
		}
	}
}

// Listening returns, for each Service served, the addresses its port is open on.
func (s *ServiceHealthServers) Listening() map[types.NamespacedName][]netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[types.NamespacedName][]netip.AddrPort, len(s.servers))
	for nn, srv := range s.servers {
		for _, a := range s.addrs {
			out[nn] = append(out[nn], netip.AddrPortFrom(a, srv.port))
		}
	}
	return out
}

// Close stops every listener and waits for their goroutines.
func (s *ServiceHealthServers) Close() {
	s.mu.Lock()
	for nn, srv := range s.servers {
		srv.close(s.log)
		delete(s.servers, nn)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// open listens on port at every address; on a failure it closes what it opened, so that
// the retry (or another Service taking the port) starts clean. Called with s.mu held.
func (s *ServiceHealthServers) open(nn types.NamespacedName, port uint16) (*serviceHealthServer, error) {
	srv := &serviceHealthServer{nn: nn, port: port}
	for _, a := range s.addrs {
		network := "tcp4"
		if a.Is6() && !a.Is4In6() {
			network = "tcp6"
		}
		addr := netip.AddrPortFrom(a.Unmap(), port).String()
		l, err := (&net.ListenConfig{}).Listen(context.Background(), network, addr)
		if err != nil {
			srv.close(s.log)
			return nil, fmt.Errorf("listen on %s for the health check of Service %s: %w", addr, nn, err)
		}
		h := &http.Server{Handler: s.handler(srv), ReadHeaderTimeout: 10 * time.Second}
		srv.https = append(srv.https, h)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := h.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error(err, "Health check node port stopped serving; it reopens when the Service's port changes or the proxier restarts", "service", nn, "address", addr)
			}
		}()
	}
	return srv, nil
}

func (srv *serviceHealthServer) close(log klog.Logger) {
	for _, h := range srv.https {
		if err := h.Close(); err != nil {
			log.Error(err, "Closing a health check node port", "service", srv.nn, "port", srv.port)
		}
	}
	srv.https = nil
}

// serviceHealthBody is the JSON kube-proxy answers on a health check node port.
type serviceHealthBody struct {
	Service struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"service"`
	LocalEndpoints      int  `json:"localEndpoints"`
	ServiceProxyHealthy bool `json:"serviceProxyHealthy"`
}

func (s *ServiceHealthServers) handler(srv *serviceHealthServer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		count := int(srv.local.Load())
		healthy := s.health == nil || s.health.Status().Healthy
		var b serviceHealthBody
		b.Service.Namespace, b.Service.Name = srv.nn.Namespace, srv.nn.Name
		b.LocalEndpoints, b.ServiceProxyHealthy = count, healthy
		// Tab-indented, which is byte for byte what kube-proxy writes.
		body, err := json.MarshalIndent(b, "", "\t")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// Load balancers that weigh nodes (kube-proxy's header) read the count here.
		w.Header().Set("X-Load-Balancing-Endpoint-Weight", strconv.Itoa(count))
		code := http.StatusOK
		if count == 0 || !healthy {
			code = http.StatusServiceUnavailable
		}
		w.WriteHeader(code)
		_, _ = w.Write(body)
	})
}

// serviceHealthCheck tells whether svc needs a health check node port on this proxier -
// type LoadBalancer with externalTrafficPolicy Local and a cluster IP of a proxied family,
// as kube-proxy's service tracker decides - and counts its ready local endpoints from its
// slices. Addresses are counted once per family however many ports or slices list them
// (kube-proxy: 10.0.0.1:80 and 10.0.0.1:443 are one endpoint); a dual-stack Service
// reports the larger family's count, which is what each of kube-proxy's per-family
// servers reports for dual-stack pods.
func serviceHealthCheck(svc *corev1.Service, svcSlices []*discoveryv1.EndpointSlice, nodeName string, families []int) (ServiceHealthCheck, bool) {
	spec := &svc.Spec
	if spec.Type != corev1.ServiceTypeLoadBalancer || spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		return ServiceHealthCheck{}, false
	}
	if spec.HealthCheckNodePort <= 0 || spec.HealthCheckNodePort > 65535 {
		return ServiceHealthCheck{}, false
	}
	ips := spec.ClusterIPs
	if len(ips) == 0 && spec.ClusterIP != "" {
		ips = []string{spec.ClusterIP}
	}
	proxied := false
	for _, raw := range ips {
		if a, err := netip.ParseAddr(raw); err == nil && slices.Contains(families, dataplane.IPFamily(a)) {
			proxied = true
		}
	}
	if !proxied {
		return ServiceHealthCheck{}, false
	}
	local := map[int]map[netip.Addr]bool{}
	for _, sl := range svcSlices {
		fam := sliceFamily(sl)
		if !slices.Contains(families, fam) || !hasValidPort(sl) {
			continue
		}
		for i := range sl.Endpoints {
			ep := &sl.Endpoints[i]
			// Ready only: a node whose local endpoints all terminate must fail the check.
			if ep.NodeName == nil || *ep.NodeName != nodeName || (ep.Conditions.Ready != nil && !*ep.Conditions.Ready) || len(ep.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil || dataplane.IPFamily(a) != fam {
				continue
			}
			if local[fam] == nil {
				local[fam] = map[netip.Addr]bool{}
			}
			local[fam][a.Unmap()] = true
		}
	}
	hc := ServiceHealthCheck{Port: uint16(spec.HealthCheckNodePort)}
	for _, addrs := range local {
		hc.LocalEndpoints = max(hc.LocalEndpoints, len(addrs))
	}
	return hc, true
}

// hasValidPort tells whether a slice's endpoints reach kube-proxy's endpoints map at all:
// they enter it through a port with a number.
func hasValidPort(s *discoveryv1.EndpointSlice) bool {
	for _, p := range s.Ports {
		if p.Port != nil && *p.Port > 0 && *p.Port <= 65535 {
			return true
		}
	}
	return false
}

// serviceHealthAddresses is where health check node ports listen: Options'
// ServiceHealthAddresses when set, otherwise as kube-proxy decides per family - the
// unspecified address (every address of the family) when nodePortAddresses selects all,
// else the node's addresses, loopback included, that nodePortAddresses selects.
func (p *Proxier) serviceHealthAddresses(envs map[int]desired.Input) []netip.Addr {
	if len(p.serviceHealthAddrs) > 0 {
		return p.serviceHealthAddrs
	}
	var out []netip.Addr
	for _, fam := range p.families {
		env := envs[fam]
		prefixes := p.cfg.NodePortPrefixes(fam, env.NodeIP)
		if len(prefixes) == 1 && prefixes[0].Bits() == 0 {
			out = append(out, prefixes[0].Addr())
			continue
		}
		loopback := netip.IPv6Loopback()
		if fam == 4 {
			loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		for _, a := range append(slices.Clone(env.NodeAddresses), loopback) {
			if slices.ContainsFunc(prefixes, func(pre netip.Prefix) bool { return pre.Contains(a) }) {
				out = append(out, a)
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// syncServiceHealth brings the wanted health checks up to date with the Services in (all
// of them, or those that changed) and hands them to the servers. Called by Sync.
func (p *Proxier) syncServiceHealth(envs map[int]desired.Input, in serviceInputs) {
	if in.all {
		clear(p.healthChecks)
	}
	for nn, svc := range in.services {
		if svc == nil {
			delete(p.healthChecks, nn)
			continue
		}
		if hc, ok := serviceHealthCheck(svc, in.slices[nn], p.nodeName, p.families); ok {
			p.healthChecks[nn] = hc
		} else {
			delete(p.healthChecks, nn)
		}
	}
	p.serviceHealth.Sync(p.serviceHealthAddresses(envs), p.healthChecks)
}
