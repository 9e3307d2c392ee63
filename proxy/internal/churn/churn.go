// Package churn generates random sequences of Service and EndpointSlice changes as a
// cluster's controllers would write them for one node: every Service type the IPVS proxier
// handles, endpoints appearing, leaving and changing condition. The property tests that
// compare a proxier's incremental syncs with a full sync from scratch feed these changes to
// the proxier under test and the current objects to the fresh one. The same seed always
// gives the same sequence, so a failure is reproduced from its seed and step.
package churn

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// Op is the kind of a change.
type Op int

const (
	// SetService creates or updates a Service.
	SetService Op = iota
	// DeleteService deletes a Service; its slices stay until changed or deleted, as they
	// do until the garbage collector runs.
	DeleteService
	// SetSlice creates or updates an EndpointSlice.
	SetSlice
	// DeleteSlice deletes an EndpointSlice.
	DeleteSlice
)

// Labels the proxier's informers filter on (kube-proxy's label selector).
const (
	labelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	labelHeadless         = corev1.IsHeadlessService
)

// Change is one write to the API server. Service or Slice is set, per Op.
type Change struct {
	Op      Op
	Service *corev1.Service
	Slice   *discoveryv1.EndpointSlice
	// Created is true when a Set creates the object rather than updating it.
	Created bool
	// What says in one line what changed, for failure messages.
	What string
}

// Options describe the node the changes are for. The zero value of a field takes the
// default named beside it.
type Options struct {
	Namespace string // "default"
	// LocalNode is the node the proxier runs on; OtherNode hosts the remote endpoints.
	LocalNode, OtherNode string // "node1", "node2"
	// LocalPods and OtherPods are the pod CIDRs endpoints are drawn from (the first 8
	// addresses after the network address).
	LocalPods, OtherPods netip.Prefix // 10.244.3.0/24, 10.244.1.0/24
	// NodeCIDR is a load-balancer source range holding the node's address, which the
	// proxier treats differently from one that does not (KUBE-LOAD-BALANCER-SOURCE-IP).
	NodeCIDR netip.Prefix // 172.18.0.0/16
	// Services is how many Service names the changes draw from.
	Services int // 12
}

func (o Options) withDefaults() Options {
	o.Namespace = cmp.Or(o.Namespace, "default")
	o.LocalNode = cmp.Or(o.LocalNode, "node1")
	o.OtherNode = cmp.Or(o.OtherNode, "node2")
	if !o.LocalPods.IsValid() {
		o.LocalPods = netip.MustParsePrefix("10.244.3.0/24")
	}
	if !o.OtherPods.IsValid() {
		o.OtherPods = netip.MustParsePrefix("10.244.1.0/24")
	}
	if !o.NodeCIDR.IsValid() {
		o.NodeCIDR = netip.MustParsePrefix("172.18.0.0/16")
	}
	o.Services = cmp.Or(o.Services, 12)
	return o
}

// World is the API server's Services and EndpointSlices as the changes leave them.
type World struct {
	opts     Options
	rng      *rand.Rand
	services map[string]*corev1.Service
	slices   map[string]*discoveryv1.EndpointSlice
}

// New returns an empty world whose changes are drawn from rng.
func New(rng *rand.Rand, opts Options) *World {
	return &World{opts: opts.withDefaults(), rng: rng, services: map[string]*corev1.Service{}, slices: map[string]*discoveryv1.EndpointSlice{}}
}

// Objects returns copies of the current Services and EndpointSlices, sorted by name:
// what a fresh proxier lists.
func (w *World) Objects() []runtime.Object {
	var out []runtime.Object
	for _, name := range slices.Sorted(maps.Keys(w.services)) {
		out = append(out, w.services[name].DeepCopy())
	}
	for _, name := range slices.Sorted(maps.Keys(w.slices)) {
		out = append(out, w.slices[name].DeepCopy())
	}
	return out
}

// Len returns how many Services and EndpointSlices exist.
func (w *World) Len() (services, slices int) { return len(w.services), len(w.slices) }

// Next draws a change, applies it to the world and returns it. The objects in the change
// are the caller's to keep.
func (w *World) Next() Change {
	i := w.rng.IntN(w.opts.Services)
	name := serviceName(i)
	switch r := w.rng.IntN(100); {
	case r < 30 || (r < 38 && w.services[name] == nil):
		return w.setService(i)
	case r < 38:
		svc := w.services[name]
		delete(w.services, name)
		return Change{Op: DeleteService, Service: svc.DeepCopy(), What: "delete service " + name}
	case r < 73:
		return w.setSlice(w.sliceOwner(i))
	case r < 90 && len(w.slices) > 0:
		return w.flipEndpoint()
	case len(w.slices) > 0:
		s := w.slices[w.pick(slices.Sorted(maps.Keys(w.slices)))]
		delete(w.slices, s.Name)
		return Change{Op: DeleteSlice, Slice: s.DeepCopy(), What: "delete slice " + s.Name}
	default:
		return w.setSlice(w.sliceOwner(i))
	}
}

// sliceOwner picks the Service a new slice belongs to: mostly an existing one, so that
// most changes reach the dataplane; else i, which may not exist (yet or any more).
func (w *World) sliceOwner(i int) int {
	if len(w.services) == 0 || w.rng.IntN(5) == 0 {
		return i
	}
	var j int
	if _, err := fmt.Sscanf(w.pick(slices.Sorted(maps.Keys(w.services))), "svc%d", &j); err != nil {
		panic("churn: a Service name not made by serviceName: " + err.Error())
	}
	return j
}

func serviceName(i int) string { return fmt.Sprintf("svc%02d", i) }

// headless tells whether Service i is headless: its clusterIP is fixed at creation, so a
// name is headless or not for the whole sequence.
func headless(i int) bool { return i%6 == 5 }

func clusterIP(i int) string { return netip.AddrFrom4([4]byte{10, 96, 1, byte(i + 1)}).String() }

// Pools shared by the Services so that two of them can claim the same virtual server or
// address (the proxier must settle it the same way incrementally and from scratch).
var (
	externalIPs  = []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"}
	ingressIPs   = []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}
	servicePorts = []int32{80, 443, 53, 8080}
)

// setService creates Service i or rewrites everything about it but its name and clusterIP.
func (w *World) setService(i int) Change {
	name := serviceName(i)
	rng := w.rng
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.opts.Namespace},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			Selector:        map[string]string{"app": name},
			SessionAffinity: corev1.ServiceAffinityNone,
			IPFamilies:      []corev1.IPFamily{corev1.IPv4Protocol},
		},
	}
	var what []string
	if headless(i) {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
		what = append(what, "headless")
	} else {
		svc.Spec.ClusterIP = clusterIP(i)
		switch r := rng.IntN(10); {
		case r < 4:
		case r < 7:
			svc.Spec.Type = corev1.ServiceTypeNodePort
		default:
			svc.Spec.Type = corev1.ServiceTypeLoadBalancer
		}
		what = append(what, string(svc.Spec.Type))
	}
	svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}

	// Ports: one to three, distinct by port and protocol, named when more than one.
	n := 1 + rng.IntN(3)
	allocate := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && rng.IntN(6) == 0 {
		svc.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
		allocate = false
		what = append(what, "no node ports")
	}
	seen := map[string]bool{}
	for j := 0; len(svc.Spec.Ports) < n && j < 8; j++ {
		p := corev1.ServicePort{
			Protocol: pick(rng, []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolTCP, corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolUDP, corev1.ProtocolSCTP}),
			Port:     pick(rng, servicePorts),
		}
		key := fmt.Sprint(p.Protocol, p.Port)
		if seen[key] {
			continue
		}
		seen[key] = true
		p.TargetPort = intstr.FromInt32(p.Port + 8000)
		if allocate {
			// Node ports are unique per Service and port, as the API server allocates them.
			p.NodePort = 30000 + int32(i)*4 + int32(len(svc.Spec.Ports))
		}
		svc.Spec.Ports = append(svc.Spec.Ports, p)
	}
	if len(svc.Spec.Ports) > 1 || rng.IntN(2) == 0 {
		for j := range svc.Spec.Ports {
			svc.Spec.Ports[j].Name = fmt.Sprintf("p%d", j)
		}
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s/%d", p.Protocol, p.Port))
	}
	what = append(what, strings.Join(ports, ","))

	if !headless(i) {
		if rng.IntN(4) == 0 {
			svc.Spec.ExternalIPs = pickSome(rng, externalIPs)
			what = append(what, "externalIPs "+strings.Join(svc.Spec.ExternalIPs, ","))
		}
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			for _, ip := range pickSome(rng, ingressIPs) {
				ing := corev1.LoadBalancerIngress{IP: ip}
				switch rng.IntN(6) {
				case 0:
					ing.IPMode = ptr.To(corev1.LoadBalancerIPModeVIP)
				case 1:
					ing.IPMode = ptr.To(corev1.LoadBalancerIPModeProxy)
				}
				svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, ing)
				mode := ""
				if ing.IPMode != nil {
					mode = "(" + string(*ing.IPMode) + ")"
				}
				what = append(what, "ingress "+ip+mode)
			}
			ranges := pick(rng, [][]string{nil, nil, {"203.0.113.0/24"}, {w.opts.NodeCIDR.String()}, {"0.0.0.0/0"}, {"203.0.113.0/24", w.opts.NodeCIDR.String()}})
			if len(ranges) > 0 {
				svc.Spec.LoadBalancerSourceRanges = ranges
				what = append(what, "sourceRanges "+strings.Join(ranges, ","))
			}
		}
		externallyAccessible := svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.ExternalIPs) > 0
		if externallyAccessible {
			svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			if rng.IntN(5) < 2 {
				svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				what = append(what, "eTP Local")
				if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
					svc.Spec.HealthCheckNodePort = 32000 + int32(i)
				}
			}
		}
		switch rng.IntN(4) {
		case 0:
			svc.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
			what = append(what, "iTP Local")
		case 1:
		default:
			svc.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
		}
		if rng.IntN(4) == 0 {
			timeout := pick(rng, []int32{10800, 60})
			svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			svc.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(timeout)}}
			what = append(what, fmt.Sprintf("ClientIP affinity %ds", timeout))
		}
	}
	if rng.IntN(20) == 0 {
		// Another proxy's Service: kube-proxy's informers never deliver it.
		svc.Labels = map[string]string{labelServiceProxyName: "another-proxy"}
		what = append(what, "service-proxy-name another-proxy")
	}

	_, existed := w.services[name]
	w.services[name] = svc
	verb := "update"
	if !existed {
		verb = "create"
	}
	return Change{Op: SetService, Service: svc.DeepCopy(), Created: !existed, What: fmt.Sprintf("%s service %s: %s", verb, name, strings.Join(what, ", "))}
}

// sliceName is one of Service i's two slices.
func sliceName(i int, suffix string) string { return serviceName(i) + "-" + suffix }

// setSlice writes one of Service i's slices with new endpoints. Its ports follow the
// Service's (or are made up while the Service does not exist); now and then one is left
// out, as while the controller catches up with a Service change.
func (w *World) setSlice(i int) Change {
	rng := w.rng
	name := sliceName(i, pick(rng, []string{"a", "a", "b"}))
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: w.opts.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: serviceName(i), discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if headless(i) {
		s.Labels[labelHeadless] = ""
	}
	svc := w.services[serviceName(i)]
	var ports []corev1.ServicePort
	if svc != nil {
		ports = svc.Spec.Ports
	} else {
		ports = []corev1.ServicePort{{Name: pick(rng, []string{"", "p0"}), Protocol: pick(rng, []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP}), Port: pick(rng, servicePorts)}}
	}
	drop := -1
	if len(ports) > 1 && rng.IntN(8) == 0 {
		drop = rng.IntN(len(ports))
	}
	for j, p := range ports {
		if j == drop {
			continue
		}
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Protocol: ptr.To(p.Protocol), Port: ptr.To(p.Port + 8000)})
	}
	for range rng.IntN(5) {
		if ep := w.endpoint(); !hasAddress(s, ep.Addresses[0]) {
			s.Endpoints = append(s.Endpoints, ep)
		}
	}
	return w.storeSlice(s, fmt.Sprintf("%d endpoints %s", len(s.Endpoints), endpointsText(s)))
}

func (w *World) storeSlice(s *discoveryv1.EndpointSlice, what string) Change {
	_, existed := w.slices[s.Name]
	w.slices[s.Name] = s
	verb := "update"
	if !existed {
		verb = "create"
	}
	return Change{Op: SetSlice, Slice: s.DeepCopy(), Created: !existed, What: fmt.Sprintf("%s slice %s: %s", verb, s.Name, what)}
}

// flipEndpoint changes one endpoint of an existing slice: its condition (ready, serving,
// terminating), or it comes or goes.
func (w *World) flipEndpoint() Change {
	s := w.slices[w.pick(slices.Sorted(maps.Keys(w.slices)))].DeepCopy()
	ep := w.endpoint()
	switch {
	case !hasAddress(s, ep.Addresses[0]) && (len(s.Endpoints) == 0 || w.rng.IntN(5) == 0):
		s.Endpoints = append(s.Endpoints, ep)
		return w.storeSlice(s, "endpoint "+endpointText(ep)+" added")
	case len(s.Endpoints) == 0:
		return w.storeSlice(s, "unchanged (rewritten as is)")
	case w.rng.IntN(4) == 0:
		j := w.rng.IntN(len(s.Endpoints))
		gone := s.Endpoints[j]
		s.Endpoints = slices.Delete(s.Endpoints, j, j+1)
		return w.storeSlice(s, "endpoint "+endpointText(gone)+" removed")
	default:
		j := w.rng.IntN(len(s.Endpoints))
		before := endpointText(s.Endpoints[j])
		s.Endpoints[j].Conditions = w.conditions()
		return w.storeSlice(s, "endpoint "+before+" now "+endpointText(s.Endpoints[j]))
	}
}

// hasAddress tells whether a slice already lists an address: the controller lists a pod
// once per slice (addresses do repeat across slices, as while a pod moves between them).
func hasAddress(s *discoveryv1.EndpointSlice, addr string) bool {
	return slices.ContainsFunc(s.Endpoints, func(ep discoveryv1.Endpoint) bool { return slices.Contains(ep.Addresses, addr) })
}

// endpoint is a pod on this node or the other one; addresses repeat across slices and
// Services, as after pods are rescheduled.
func (w *World) endpoint() discoveryv1.Endpoint {
	rng := w.rng
	cidr, node := w.opts.LocalPods, w.opts.LocalNode
	if rng.IntN(2) == 0 {
		cidr, node = w.opts.OtherPods, w.opts.OtherNode
	}
	addr := cidr.Addr()
	for range 1 + rng.IntN(8) {
		addr = addr.Next()
	}
	ep := discoveryv1.Endpoint{Addresses: []string{addr.String()}, Conditions: w.conditions(), NodeName: ptr.To(node)}
	if rng.IntN(10) == 0 {
		ep.Hints = &discoveryv1.EndpointHints{ForNodes: []discoveryv1.ForNode{{Name: pick(rng, []string{w.opts.LocalNode, w.opts.OtherNode})}}}
	}
	return ep
}

// conditions are the states the EndpointSlice controller reports a pod in.
func (w *World) conditions() discoveryv1.EndpointConditions {
	switch r := w.rng.IntN(20); {
	case r < 9: // ready
		return discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}
	case r < 11: // unset: ready, as the API documents
		return discoveryv1.EndpointConditions{}
	case r < 14: // terminating, still serving
		return discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
	case r < 17: // terminating, no longer serving
		return discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(true)}
	default: // not ready yet
		return discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(false)}
	}
}

func endpointsText(s *discoveryv1.EndpointSlice) string {
	var parts []string
	for _, ep := range s.Endpoints {
		parts = append(parts, endpointText(ep))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// endpointText is "10.244.3.2@node1(ready)", with "serving", "terminating" or "-" for the
// conditions that hold, and the node hint if any.
func endpointText(ep discoveryv1.Endpoint) string {
	c := ep.Conditions
	var conds []string
	if c.Ready == nil && c.Serving == nil && c.Terminating == nil {
		conds = append(conds, "unset")
	}
	for _, f := range []struct {
		name string
		v    *bool
	}{{"ready", c.Ready}, {"serving", c.Serving}, {"terminating", c.Terminating}} {
		if f.v != nil && *f.v {
			conds = append(conds, f.name)
		}
	}
	if len(conds) == 0 {
		conds = append(conds, "-")
	}
	text := strings.Join(ep.Addresses, ",") + "@" + ptr.Deref(ep.NodeName, "") + "(" + strings.Join(conds, ",") + ")"
	if ep.Hints != nil {
		for _, h := range ep.Hints.ForNodes {
			text += "[hint " + h.Name + "]"
		}
	}
	return text
}

func (w *World) pick(names []string) string { return names[w.rng.IntN(len(names))] }

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// pickSome returns one or two distinct elements of xs, in xs's order.
func pickSome(rng *rand.Rand, xs []string) []string {
	a, b := rng.IntN(len(xs)), rng.IntN(len(xs))
	if a == b || rng.IntN(2) == 0 {
		return []string{xs[a]}
	}
	return []string{xs[min(a, b)], xs[max(a, b)]}
}
