package proxy

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// nodeEnv is the part of desired.Input the Node and the node's addresses give.
type nodeEnv struct {
	labels   map[string]string
	nodeIPs  []netip.Addr
	podCIDRs []netip.Prefix
}

// nodeEnvFrom reads a Node object: labels, InternalIPs (then ExternalIPs) and pod CIDRs.
func nodeEnvFrom(n *corev1.Node) nodeEnv {
	var e nodeEnv
	if n == nil {
		return e
	}
	e.labels = n.Labels
	for _, typ := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type != typ {
				continue
			}
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				e.nodeIPs = append(e.nodeIPs, ip.Unmap())
			}
		}
	}
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, s := range cidrs {
		if p, err := netip.ParsePrefix(s); err == nil {
			e.podCIDRs = append(e.podCIDRs, p)
		}
	}
	return e
}

// nodeIP picks the node's primary IP of a family: bindAddress when it is set and of that
// family, else the Node's first address of it.
func (e nodeEnv) nodeIP(family int, bind netip.Addr) netip.Addr {
	if bind.IsValid() && !bind.IsUnspecified() && dataplane.IPFamily(bind) == family {
		return bind.Unmap()
	}
	for _, a := range e.nodeIPs {
		if dataplane.IPFamily(a) == family {
			return a
		}
	}
	return netip.Addr{}
}
