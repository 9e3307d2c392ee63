package proxy

import (
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
)

// loadConfig reads one of proxy/config's testdata files.
func loadConfig(t testing.TB, name string) config.Config {
	t.Helper()
	cfg, err := config.Load([]byte(fixture.ReadRepo(t, "proxy/config/testdata/"+name)), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// svcObj is a ClusterIP Service "default/name" selecting app=<name>, with one TCP port
// named http; opts adjust it after the cluster IP is set.
func svcObj(name, clusterIP string, port int32, opts ...func(*corev1.Service)) *corev1.Service {
	base := func(s *corev1.Service) {
		s.ResourceVersion = "1"
		s.Spec.ClusterIP, s.Spec.ClusterIPs = clusterIP, []string{clusterIP}
	}
	return fixtures.Service(name, "default", name, corev1.ServiceTypeClusterIP,
		[]corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(port)}},
		append([]func(*corev1.Service){base}, opts...)...)
}

func withNodePort(np int32) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = np
	}
}

func withExternalIPs(ips ...string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.ExternalIPs = ips }
}

// withLoadBalancer makes a LoadBalancer Service with an ingress IP and source ranges.
func withLoadBalancer(np int32, ingress string, sourceRanges ...string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = np
		s.Spec.LoadBalancerSourceRanges = sourceRanges
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ingress}}
	}
}

func withProtocol(p corev1.Protocol) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Ports[0].Protocol = p }
}

// endpointObj is one ready endpoint on a node.
type endpointObj struct {
	ip, node string
	ready    bool
}

// sliceObj is the EndpointSlice "default/<svc>-<suffix>" of a Service with one port http.
func sliceObj(svc, suffix string, port int32, proto corev1.Protocol, eps ...endpointObj) *discoveryv1.EndpointSlice {
	var endpoints []discoveryv1.Endpoint
	for _, e := range eps {
		endpoints = append(endpoints, fixtures.Endpoint(e.ip, e.node, e.ready))
	}
	s := fixtures.EndpointSlice("default", svc+"-"+suffix, svc, fixtures.SlicePort("http", proto, port), endpoints...)
	s.ResourceVersion = "1"
	return s
}

func ready(ip, node string) endpointObj { return endpointObj{ip: ip, node: node, ready: true} }

func nodeObj(name, ip string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.3.0/24", PodCIDRs: []string{"10.244.3.0/24"}},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}},
	}
}
