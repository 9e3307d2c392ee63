package proxy

import (
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/conntrack"
)

// Stale UDP conntrack entries. IPVS keeps forwarding a UDP flow to the real server its
// conntrack entry names, and a client that keeps sending refreshes the entry forever, so
// after an endpoint leaves (or while a Service had none and traffic was refused) the flow
// must be forgotten for the next packet to be scheduled again. As kube-proxy v1.37 does
// (pkg/proxy/conntrack.CleanStaleEntries), once a sync applied a change to the endpoints
// of a Service with a UDP port, every UDP entry is checked against the current Services:
// an entry to a UDP Service's address and port (ClusterIP, externalIPs, load-balancer
// IPs) whose reply does not come from one of that port's serving endpoints is deleted,
// and so is an entry to its NodePort when the port has serving endpoints (a NodePort is
// matched by port number alone, so without endpoints every flow to that port on any
// address would go). Traffic policies and topology are not looked at: an entry to an
// endpoint that still serves stays, as a TCP connection would.

// hasUDPPort tells whether a Service has a UDP port, the only kind the cleanup concerns.
func hasUDPPort(svc *corev1.Service) bool {
	if svc == nil {
		return false
	}
	for _, p := range svc.Spec.Ports {
		if p.Protocol == corev1.ProtocolUDP {
			return true
		}
	}
	return false
}

// noteConntrackChanges remembers, from the Services a sync takes, whether one with a UDP
// port (before or after the change) is among them. The flag stays until a cleanup runs,
// so a failed sync does not lose it. Called with p.mu held.
func (p *Proxier) noteConntrackChanges() {
	for nn := range p.dirty {
		if p.udpServices[nn] || hasUDPPort(p.services[nn]) {
			p.conntrackPending = append(p.conntrackPending, nn)
		}
	}
	for nn := range p.dirty {
		if hasUDPPort(p.services[nn]) {
			p.udpServices[nn] = true
		} else {
			delete(p.udpServices, nn)
		}
	}
}

// cleanConntrack deletes the stale UDP entries of every family after a successful sync
// that changed a UDP Service. A failure is logged and does not fail the sync: the
// dataplane is right, and the next UDP change tries again.
func (p *Proxier) cleanConntrack() {
	if p.k.Conntrack == nil {
		return
	}
	p.mu.Lock()
	changed := p.conntrackPending
	p.conntrackPending = nil
	if len(changed) == 0 {
		p.mu.Unlock()
		return
	}
	filters := map[int]*conntrack.StaleFilter{}
	for _, fam := range p.families {
		filters[fam] = p.staleFilter(fam)
	}
	p.mu.Unlock()

	names := make([]string, 0, len(changed))
	for _, nn := range changed {
		names = append(names, nn.String())
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, fam := range p.families {
		start := time.Now()
		n, err := p.k.Conntrack.DeleteStale(fam, filters[fam])
		// Recorded whatever the outcome, as kube-proxy's reconciler records them.
		p.metrics.ConntrackDuration.WithLabelValues(familyLabel(fam)).Observe(time.Since(start).Seconds())
		p.metrics.ConntrackDeleted.WithLabelValues(familyLabel(fam)).Add(float64(n))
		if err != nil {
			p.log.Error(err, "Failed to delete stale UDP conntrack entries; the next change to a UDP Service retries",
				"ipFamily", familyLabel(fam), "services", names, "entriesDeleted", n)
			continue
		}
		p.log.V(4).Info("Deleted stale UDP conntrack entries", "ipFamily", familyLabel(fam),
			"services", names, "entriesDeleted", n, "elapsed", time.Since(start))
	}
}

// staleFilter maps every UDP Service port of family fam to its serving endpoints.
// Called with p.mu held.
func (p *Proxier) staleFilter(fam int) *conntrack.StaleFilter {
	f := conntrack.NewStaleFilter()
	addrType := discoveryv1.AddressTypeIPv4
	if fam == 6 {
		addrType = discoveryv1.AddressTypeIPv6
	}
	externalIPs := true
	if on, set := p.cfg.FeatureGates["AllowServiceExternalIPs"]; set && !on {
		externalIPs = false
	}
	for nn, svc := range p.services {
		if !hasUDPPort(svc) || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		frontends := familyAddrs(fam, svc.Spec.ClusterIPs...)
		if len(svc.Spec.ClusterIPs) == 0 {
			frontends = familyAddrs(fam, svc.Spec.ClusterIP)
		}
		if len(frontends) == 0 {
			continue // headless, or not of this family: no virtual server for it
		}
		if externalIPs {
			frontends = append(frontends, familyAddrs(fam, svc.Spec.ExternalIPs...)...)
		}
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			for _, ing := range svc.Status.LoadBalancer.Ingress {
				if ing.IPMode == nil || *ing.IPMode == corev1.LoadBalancerIPModeVIP {
					frontends = append(frontends, familyAddrs(fam, ing.IP)...)
				}
			}
		}
		for _, port := range svc.Spec.Ports {
			if port.Protocol != corev1.ProtocolUDP {
				continue
			}
			eps := servingEndpoints(p.slices[nn], addrType, port.Name)
			for _, a := range frontends {
				f.Frontends[netip.AddrPortFrom(a, uint16(port.Port))] = eps
			}
			if port.NodePort != 0 && len(eps) > 0 {
				f.NodePorts[uint16(port.NodePort)] = eps
			}
		}
	}
	return f
}

// familyAddrs parses the addresses of family fam among ips; others are left out.
func familyAddrs(fam int, ips ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err == nil && dataplane.IPFamily(a.Unmap()) == fam {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// servingEndpoints collects the serving endpoints of the UDP slice port named portName.
func servingEndpoints(bySlice []*discoveryv1.EndpointSlice, addrType discoveryv1.AddressType, portName string) conntrack.Endpoints {
	eps := conntrack.Endpoints{}
	for _, s := range bySlice {
		if s.AddressType != addrType {
			continue
		}
		for _, sp := range s.Ports {
			name := ""
			if sp.Name != nil {
				name = *sp.Name
			}
			if name != portName || sp.Port == nil || sp.Protocol == nil || *sp.Protocol != corev1.ProtocolUDP {
				continue
			}
			for _, ep := range s.Endpoints {
				if ep.Conditions.Serving != nil && !*ep.Conditions.Serving || len(ep.Addresses) == 0 {
					continue
				}
				a, err := netip.ParseAddr(ep.Addresses[0])
				if err != nil {
					continue
				}
				eps[netip.AddrPortFrom(a.Unmap(), uint16(*sp.Port))] = true
			}
		}
	}
	return eps
}
