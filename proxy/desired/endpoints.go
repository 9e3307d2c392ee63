package desired

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels kube-proxy's informers filter on: Services carrying the proxy-name label belong to
// another proxy, and EndpointSlices of headless Services are never proxied.
const (
	LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	LabelHeadless         = corev1.IsHeadlessService
	labelZone             = corev1.LabelTopologyZone
)

// endpoint is one address:port of a Service port with the conditions that pick it.
type endpoint struct {
	addr        netip.Addr
	port        uint16
	local       bool
	ready       bool
	serving     bool
	terminating bool
	zoneHints   []string
	nodeHints   []string
	// seq keeps the order endpoints were read in, to resolve duplicates as kube-proxy does.
	seq int
}

func (e *endpoint) key() netip.AddrPort { return netip.AddrPortFrom(e.addr, e.port) }

// SlicesByService groups EndpointSlices by the Service they belong to (namespace and the
// kubernetes.io/service-name label), sorted by slice name so results do not depend on
// informer order. Slices kube-proxy would never see are left out; the ones that are
// malformed are reported.
func SlicesByService(all []*discoveryv1.EndpointSlice) (map[types.NamespacedName][]*discoveryv1.EndpointSlice, []Skip) {
	out := make(map[types.NamespacedName][]*discoveryv1.EndpointSlice)
	var skipped []Skip
	for _, s := range all {
		if s == nil {
			continue
		}
		if _, headless := s.Labels[LabelHeadless]; headless {
			continue // kube-proxy's informer filters these out
		}
		svc := s.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			skipped = append(skipped, sliceSkip(s, "no "+discoveryv1.LabelServiceName+" label: kube-proxy cannot tell which Service it belongs to"))
			continue
		}
		if s.Name == "" || s.Namespace == "" {
			skipped = append(skipped, sliceSkip(s, "no name or namespace"))
			continue
		}
		nn := types.NamespacedName{Namespace: s.Namespace, Name: svc}
		out[nn] = append(out[nn], s)
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	}
	return out, skipped
}

// portEndpoints collects, from slices of this proxier's address type, the endpoints of one
// Service port (by port name and protocol), deduplicated by address and port the way
// kube-proxy's EndpointSliceCache does: a later non-terminating copy replaces an earlier
// one, a terminating copy never replaces.
func (e *Env) portEndpoints(slicesOfSvc []*discoveryv1.EndpointSlice, portName string, proto corev1.Protocol) []endpoint {
	var eps []endpoint
	seq := 0
	for _, s := range slicesOfSvc {
		if s.AddressType != e.addressType {
			continue
		}
		for _, p := range s.Ports {
			if p.Name == nil || *p.Name != portName || sliceProtocol(p) != proto {
				continue
			}
			if p.Port == nil || *p.Port <= 0 || *p.Port > 65535 {
				continue // reported once per slice by checkSlice
			}
			for i := range s.Endpoints {
				ep := &s.Endpoints[i]
				if len(ep.Addresses) == 0 {
					continue // reported by checkSlice
				}
				addr, ok := parseIP(ep.Addresses[0])
				if !ok || dataplane.IPFamily(addr) != e.family {
					continue // reported by checkSlice
				}
				c := ep.Conditions
				x := endpoint{
					addr:        addr,
					port:        uint16(*p.Port),
					local:       e.nodeName != "" && ep.NodeName != nil && *ep.NodeName == e.nodeName,
					ready:       c.Ready == nil || *c.Ready,
					serving:     c.Serving == nil || *c.Serving,
					terminating: c.Terminating != nil && *c.Terminating,
					seq:         seq,
				}
				seq++
				if h := ep.Hints; h != nil {
					for _, z := range h.ForZones {
						x.zoneHints = append(x.zoneHints, z.Name)
					}
					for _, n := range h.ForNodes {
						x.nodeHints = append(x.nodeHints, n.Name)
					}
				}
				eps = append(eps, x)
			}
		}
	}
	if len(eps) < 2 {
		return eps
	}
	slices.SortStableFunc(eps, func(a, b endpoint) int { return a.key().Compare(b.key()) })
	out := eps[:0]
	for i := 0; i < len(eps); {
		j := i + 1
		for j < len(eps) && eps[j].key() == eps[i].key() {
			j++
		}
		pick := i
		for k := i; k < j; k++ {
			if !eps[k].terminating {
				pick = k
			}
		}
		out = append(out, eps[pick])
		i = j
	}
	return out
}

// checkSlice reports what kube-proxy ignores in a slice of this proxier's address type.
func (e *Env) checkSlice(s *discoveryv1.EndpointSlice, skips *[]Skip) {
	if s.AddressType != e.addressType {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			*skips = append(*skips, sliceSkip(s, "addressType FQDN: kube-proxy only proxies IP endpoints"))
		}
		return
	}
	for _, p := range s.Ports {
		switch {
		case p.Name == nil:
			*skips = append(*skips, sliceSkip(s, "a port has no name (nil); ignored"))
		case p.Port == nil || *p.Port <= 0 || *p.Port > 65535:
			*skips = append(*skips, sliceSkip(s, "port "+quote(*p.Name)+" has no valid number; ignored"))
		}
	}
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		if len(ep.Addresses) == 0 {
			*skips = append(*skips, sliceSkip(s, "an endpoint has no address; ignored"))
			continue
		}
		addr, ok := parseIP(ep.Addresses[0])
		switch {
		case !ok:
			*skips = append(*skips, sliceSkip(s, "endpoint address "+quote(ep.Addresses[0])+" is not an IP; ignored"))
		case dataplane.IPFamily(addr) != e.family:
			*skips = append(*skips, sliceSkip(s, "endpoint address "+quote(ep.Addresses[0])+" is not of the slice's address type "+string(s.AddressType)+"; ignored"))
		}
	}
}

func sliceProtocol(p discoveryv1.EndpointPort) corev1.Protocol {
	if p.Protocol == nil {
		return corev1.ProtocolTCP // the API's default
	}
	return *p.Protocol
}

// portPolicy is what picks a Service port's endpoints, as kube-proxy's ServicePort holds it.
type portPolicy struct {
	internalLocal        bool
	externalLocal        bool
	externallyAccessible bool
}

func (p portPolicy) usesClusterEndpoints() bool {
	return !p.internalLocal || p.externallyAccessible
}

func (p portPolicy) usesLocalEndpoints() bool {
	return p.internalLocal || (p.externalLocal && p.externallyAccessible)
}

// anyUsable tells whether an endpoint anywhere could serve: ready, or serving and
// terminating (kube-proxy's hasAnyEndpoints).
func anyUsable(eps []endpoint) bool {
	for i := range eps {
		if eps[i].ready || (eps[i].serving && eps[i].terminating) {
			return true
		}
	}
	return false
}

// categorize splits endpoints as kube-proxy's CategorizeEndpoints does: cluster endpoints
// are the ready ones (narrowed by topology hints), or the serving-terminating ones when none
// is ready; local endpoints are the local ready ones, or the local serving-terminating ones
// when none is ready.
func (e *Env) categorize(eps []endpoint, pol portPolicy) (cluster, local []endpoint) {
	if len(eps) == 0 {
		return nil, nil
	}
	if pol.usesClusterEndpoints() {
		mode := e.topologyMode(eps)
		for _, ep := range eps {
			if ep.ready && e.availableForTopology(&ep, mode) {
				cluster = append(cluster, ep)
			}
		}
		if len(cluster) == 0 {
			for _, ep := range eps {
				if ep.serving && ep.terminating {
					cluster = append(cluster, ep)
				}
			}
		}
	}
	if !pol.usesLocalEndpoints() {
		return cluster, nil
	}
	var localReady, localServingTerminating bool
	for _, ep := range eps {
		if !ep.local {
			continue
		}
		if ep.ready {
			localReady = true
		} else if ep.serving && ep.terminating {
			localServingTerminating = true
		}
	}
	for _, ep := range eps {
		if !ep.local {
			continue
		}
		if (localReady && ep.ready) || (!localReady && localServingTerminating && ep.serving && ep.terminating) {
			local = append(local, ep)
		}
	}
	return cluster, local
}

const (
	topologyNone     = ""
	topologySameNode = "PreferSameNode"
	topologySameZone = "PreferSameZone"
)

// topologyMode is kube-proxy's topologyModeFromHints: node hints win when every ready
// endpoint has one and one names this node; zone hints likewise for this node's zone.
func (e *Env) topologyMode(eps []endpoint) string {
	hasReady, allNode, forNode, allZone, forZone := false, true, false, true, false
	for i := range eps {
		ep := &eps[i]
		if !ep.ready {
			continue
		}
		hasReady = true
		if len(ep.nodeHints) == 0 {
			allNode = false
		} else if slices.Contains(ep.nodeHints, e.nodeName) {
			forNode = true
		}
		if len(ep.zoneHints) == 0 {
			allZone = false
		} else if slices.Contains(ep.zoneHints, e.zone) {
			forZone = true
		}
	}
	switch {
	case !hasReady:
		return topologyNone
	case allNode && forNode:
		return topologySameNode
	case allZone && forZone:
		return topologySameZone
	}
	return topologyNone
}

func (e *Env) availableForTopology(ep *endpoint, mode string) bool {
	switch mode {
	case topologySameNode:
		return slices.Contains(ep.nodeHints, e.nodeName)
	case topologySameZone:
		return slices.Contains(ep.zoneHints, e.zone)
	}
	return true
}

// realServers turns endpoints (sorted by address and port) into Masq real servers of
// weight 1, the only kind kube-proxy creates.
func realServers(eps []endpoint) []dataplane.RealServer {
	if len(eps) == 0 {
		return nil
	}
	out := make([]dataplane.RealServer, len(eps))
	for i := range eps {
		out[i] = dataplane.RealServer{Address: eps[i].addr, Port: eps[i].port, Forward: dataplane.Masq, Weight: 1}
	}
	return out
}
