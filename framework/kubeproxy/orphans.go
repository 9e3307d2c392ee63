package kubeproxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// OrphanVirtualServers lists, as "TCP 10.96.0.10:80", the virtual servers of a node that no
// Service accounts for: neither on one of a Service's addresses (cluster, external,
// load-balancer) with one of its ports, nor on one of its NodePorts. A proxy that has
// caught up with the API server leaves none; firewall-mark virtual servers are never
// kube-proxy's and are not listed.
func OrphanVirtualServers(st dataplane.State, svcs []corev1.Service) []string {
	addrPorts, nodePorts := map[string]bool{}, map[string]bool{}
	for _, svc := range svcs {
		addrs := append(slices.Clone(svc.Spec.ClusterIPs), svc.Spec.ExternalIPs...)
		for _, in := range svc.Status.LoadBalancer.Ingress {
			addrs = append(addrs, in.IP)
		}
		for _, p := range svc.Spec.Ports {
			proto := protocolOf(p.Protocol)
			for _, a := range addrs {
				if ip, err := netip.ParseAddr(a); err == nil {
					addrPorts[fmt.Sprintf("%s %s", proto, netip.AddrPortFrom(ip, uint16(p.Port)))] = true
				}
			}
			if p.NodePort != 0 {
				nodePorts[fmt.Sprintf("%s %d", proto, p.NodePort)] = true
			}
		}
	}
	var out []string
	for _, vs := range st.IPVS.Services {
		if vs.FWMark != 0 {
			continue
		}
		key := fmt.Sprintf("%s %s", vs.Protocol, netip.AddrPortFrom(vs.Address, vs.Port))
		if !addrPorts[key] && !nodePorts[fmt.Sprintf("%s %d", vs.Protocol, vs.Port)] {
			out = append(out, key)
		}
	}
	return out
}

// protocolOf is a Service port's protocol as the IPVS model spells it; empty is TCP, the
// API's default.
func protocolOf(p corev1.Protocol) dataplane.Protocol {
	if p == "" {
		return dataplane.TCP
	}
	return dataplane.Protocol(strings.ToUpper(string(p)))
}
