package churn

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func newWorld(seed uint64) *World {
	return New(rand.New(rand.NewPCG(seed, 1)), Options{})
}

// The same seed gives the same changes: a failure is replayed from its seed.
func TestSameSeedSameChanges(t *testing.T) {
	a, b := newWorld(42), newWorld(42)
	for step := range 500 {
		ca, cb := a.Next(), b.Next()
		if !reflect.DeepEqual(ca, cb) {
			t.Fatalf("step %d: the same seed gave different changes:\n%s\n%s", step, ca.What, cb.What)
		}
	}
	if !reflect.DeepEqual(a.Objects(), b.Objects()) {
		t.Error("the same seed left different objects")
	}
	c := newWorld(43)
	same := true
	for range 50 {
		if !reflect.DeepEqual(newWorld(42).Next(), c.Next()) {
			same = false
		}
	}
	if same {
		t.Error("seeds 42 and 43 gave the same changes")
	}
}

// Every change is one the API server would accept and the controllers would write: what
// is immutable stays, allocations stay unique, creates and deletes match what exists.
func TestChangesAreValid(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			w := newWorld(seed)
			services := map[string]*corev1.Service{}
			slicesByName := map[string]*discoveryv1.EndpointSlice{}
			clusterIPs := map[string]string{}
			for step := range 2000 {
				c := w.Next()
				fail := func(format string, args ...any) {
					t.Helper()
					t.Fatalf("step %d (%s): %s", step, c.What, fmt.Sprintf(format, args...))
				}
				switch c.Op {
				case SetService:
					svc := c.Service
					applyChange(services, "Service", svc.Name, svc, c.Created, fail)
					if ip, ok := clusterIPs[svc.Name]; ok && ip != svc.Spec.ClusterIP {
						fail("clusterIP changed from %s to %s; it is immutable", ip, svc.Spec.ClusterIP)
					}
					clusterIPs[svc.Name] = svc.Spec.ClusterIP
					checkService(t, svc, fail)
				case DeleteService:
					applyChange(services, "Service", c.Service.Name, nil, false, fail)
				case SetSlice:
					applyChange(slicesByName, "slice", c.Slice.Name, c.Slice, c.Created, fail)
					checkSlice(t, c.Slice, fail)
				case DeleteSlice:
					applyChange(slicesByName, "slice", c.Slice.Name, nil, false, fail)
				}
				nodePorts := map[int32]string{}
				for _, svc := range services {
					for _, p := range svc.Spec.Ports {
						if p.NodePort == 0 {
							continue
						}
						if other, ok := nodePorts[p.NodePort]; ok {
							fail("node port %d given to both %s and %s", p.NodePort, other, svc.Name)
						}
						nodePorts[p.NodePort] = svc.Name
					}
				}
			}
			if got, want := len(w.Objects()), len(services)+len(slicesByName); got != want {
				t.Errorf("Objects() lists %d objects; the changes leave %d", got, want)
			}
		})
	}
}

// applyChange applies a set (obj) or, when obj is nil, a delete of the object of kind
// called name to objs, and fails unless it fits what exists: Created says whether a set
// makes a new object, and only an existing object is deleted.
func applyChange[T any](objs map[string]*T, kind, name string, obj *T, created bool, fail func(string, ...any)) {
	_, existed := objs[name]
	switch {
	case obj == nil && !existed:
		fail("deletes a %s that does not exist", kind)
	case obj != nil && existed == created:
		fail("Created = %t, but the %s existed: %t", created, kind, existed)
	}
	if obj == nil {
		delete(objs, name)
	} else {
		objs[name] = obj
	}
}

func checkService(t *testing.T, svc *corev1.Service, fail func(string, ...any)) {
	t.Helper()
	spec := svc.Spec
	if spec.ClusterIP == corev1.ClusterIPNone && (spec.Type != corev1.ServiceTypeClusterIP || len(spec.ExternalIPs) > 0) {
		fail("a headless Service of type %s with externalIPs %v", spec.Type, spec.ExternalIPs)
	}
	if len(spec.Ports) == 0 {
		fail("no ports")
	}
	seen := map[string]bool{}
	for _, p := range spec.Ports {
		key := fmt.Sprint(p.Protocol, p.Port)
		if seen[key] {
			fail("port %s twice", key)
		}
		seen[key] = true
		if len(spec.Ports) > 1 && p.Name == "" {
			fail("an unnamed port among several")
		}
		allocated := spec.Type == corev1.ServiceTypeNodePort || (spec.Type == corev1.ServiceTypeLoadBalancer &&
			(spec.AllocateLoadBalancerNodePorts == nil || *spec.AllocateLoadBalancerNodePorts))
		if allocated != (p.NodePort != 0) {
			fail("type %s port %s has node port %d", spec.Type, key, p.NodePort)
		}
	}
	external := spec.Type != corev1.ServiceTypeClusterIP || len(spec.ExternalIPs) > 0
	if external != (spec.ExternalTrafficPolicy != "") {
		fail("externalTrafficPolicy %q on a Service externally accessible: %t", spec.ExternalTrafficPolicy, external)
	}
	wantHC := spec.Type == corev1.ServiceTypeLoadBalancer && spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if wantHC != (spec.HealthCheckNodePort != 0) {
		fail("healthCheckNodePort %d on type %s with externalTrafficPolicy %q", spec.HealthCheckNodePort, spec.Type, spec.ExternalTrafficPolicy)
	}
	if spec.Type != corev1.ServiceTypeLoadBalancer && (len(svc.Status.LoadBalancer.Ingress) > 0 || len(spec.LoadBalancerSourceRanges) > 0) {
		fail("load-balancer ingress or source ranges on type %s", spec.Type)
	}
}

func checkSlice(t *testing.T, s *discoveryv1.EndpointSlice, fail func(string, ...any)) {
	t.Helper()
	owner := s.Labels[discoveryv1.LabelServiceName]
	if !strings.HasPrefix(s.Name, owner+"-") || owner == "" {
		fail("slice %s labelled for Service %q", s.Name, owner)
	}
	var i int
	if _, err := fmt.Sscanf(owner, "svc%d", &i); err != nil {
		fail("owner %q: %v", owner, err)
	}
	if _, ok := s.Labels[labelHeadless]; ok != headless(i) {
		fail("headless label %t on a slice of a Service that is headless: %t", ok, headless(i))
	}
	pods := []netip.Prefix{netip.MustParsePrefix("10.244.3.0/24"), netip.MustParsePrefix("10.244.1.0/24")}
	seen := map[string]bool{}
	for _, ep := range s.Endpoints {
		if len(ep.Addresses) != 1 {
			fail("endpoint with addresses %v", ep.Addresses)
		}
		a := netip.MustParseAddr(ep.Addresses[0])
		if !slices.ContainsFunc(pods, func(p netip.Prefix) bool { return p.Contains(a) }) {
			fail("endpoint %s outside the pod CIDRs", a)
		}
		if seen[a.String()] {
			fail("endpoint %s twice in one slice", a)
		}
		seen[a.String()] = true
		local := pods[0].Contains(a)
		if node := *ep.NodeName; (node == "node1") != local {
			fail("endpoint %s on %s", a, node)
		}
	}
	for _, p := range s.Ports {
		if p.Protocol == nil || p.Port == nil || p.Name == nil {
			fail("slice port without name, protocol or port: %+v", p)
		}
	}
}

// Over a long sequence every case the property tests are meant to cover comes up.
func TestChangesCoverEveryCase(t *testing.T) {
	w := newWorld(7)
	seen := map[string]bool{}
	note := func(cond bool, what string) {
		if cond {
			seen[what] = true
		}
	}
	for range 3000 {
		c := w.Next()
		note(c.Op == SetService && c.Created, "create Service")
		note(c.Op == SetService && !c.Created, "update Service")
		note(c.Op == DeleteService, "delete Service")
		note(c.Op == SetSlice && c.Created, "create slice")
		note(c.Op == SetSlice && !c.Created, "update slice")
		note(c.Op == DeleteSlice, "delete slice")
		note(strings.Contains(c.What, " now "), "endpoint condition flip")
		note(strings.Contains(c.What, " added"), "endpoint added")
		note(strings.Contains(c.What, " removed"), "endpoint removed")
		if svc := c.Service; c.Op == SetService {
			spec := svc.Spec
			note(spec.Type == corev1.ServiceTypeClusterIP && spec.ClusterIP != corev1.ClusterIPNone, "ClusterIP")
			note(spec.Type == corev1.ServiceTypeNodePort, "NodePort")
			note(spec.Type == corev1.ServiceTypeLoadBalancer, "LoadBalancer")
			note(spec.ClusterIP == corev1.ClusterIPNone, "headless")
			note(len(spec.Ports) > 1, "multi-port")
			for _, p := range spec.Ports {
				note(true, string(p.Protocol))
			}
			note(len(spec.ExternalIPs) > 0, "externalIPs")
			note(len(svc.Status.LoadBalancer.Ingress) > 0, "load-balancer ingress")
			for _, ing := range svc.Status.LoadBalancer.Ingress {
				note(ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeProxy, "ipMode Proxy")
			}
			note(slices.Contains(spec.LoadBalancerSourceRanges, "203.0.113.0/24"), "source range without the node")
			note(slices.Contains(spec.LoadBalancerSourceRanges, "172.18.0.0/16"), "source range with the node")
			note(spec.AllocateLoadBalancerNodePorts != nil && !*spec.AllocateLoadBalancerNodePorts, "no load-balancer node ports")
			note(spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal, "eTP Local")
			note(spec.InternalTrafficPolicy != nil && *spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal, "iTP Local")
			note(spec.SessionAffinity == corev1.ServiceAffinityClientIP, "ClientIP affinity")
			note(svc.Labels[labelServiceProxyName] != "", "another proxy's Service")
		}
		if s := c.Slice; c.Op == SetSlice {
			for _, ep := range s.Endpoints {
				cond := ep.Conditions
				is := func(p *bool) bool { return p != nil && *p }
				note(is(cond.Ready), "ready endpoint")
				note(cond.Ready == nil && cond.Serving == nil && cond.Terminating == nil, "endpoint with unset conditions")
				note(!is(cond.Ready) && is(cond.Serving) && is(cond.Terminating), "serving terminating endpoint")
				note(cond.Ready != nil && !is(cond.Serving) && is(cond.Terminating), "terminating endpoint not serving")
				note(cond.Ready != nil && !is(cond.Serving) && !is(cond.Terminating), "not ready endpoint")
				note(ep.Hints != nil, "topology hint")
				note(*ep.NodeName == "node1", "local endpoint")
				note(*ep.NodeName == "node2", "remote endpoint")
			}
		}
		// Two Services claiming the same external IP and port at once.
		owners := map[string]string{}
		for _, o := range w.Objects() {
			svc, ok := o.(*corev1.Service)
			if !ok {
				continue
			}
			for _, ip := range svc.Spec.ExternalIPs {
				for _, p := range svc.Spec.Ports {
					key := fmt.Sprint(ip, p.Protocol, p.Port)
					note(owners[key] != "" && owners[key] != svc.Name, "shared external virtual server")
					owners[key] = svc.Name
				}
			}
		}
	}
	for _, want := range []string{
		"create Service", "update Service", "delete Service", "create slice", "update slice", "delete slice",
		"endpoint condition flip", "endpoint added", "endpoint removed",
		"ClusterIP", "NodePort", "LoadBalancer", "headless", "multi-port", "TCP", "UDP", "SCTP",
		"externalIPs", "load-balancer ingress", "ipMode Proxy", "source range without the node", "source range with the node",
		"no load-balancer node ports", "eTP Local", "iTP Local", "ClientIP affinity", "another proxy's Service",
		"ready endpoint", "endpoint with unset conditions", "serving terminating endpoint", "terminating endpoint not serving",
		"not ready endpoint", "topology hint", "local endpoint", "remote endpoint", "shared external virtual server",
	} {
		if !seen[want] {
			t.Errorf("3000 changes never had a %s", want)
		}
	}
}

// Objects are copies: what a caller does with them leaves the world alone.
func TestObjectsAreCopies(t *testing.T) {
	w := newWorld(1)
	for range 50 {
		w.Next()
	}
	before := w.Objects()
	for _, o := range w.Objects() {
		switch o := o.(type) {
		case *corev1.Service:
			o.Spec.ClusterIP = "1.2.3.4"
		case *discoveryv1.EndpointSlice:
			o.Endpoints = nil
		}
	}
	if !reflect.DeepEqual(before, w.Objects()) {
		t.Error("changing the returned objects changed the world")
	}
}
