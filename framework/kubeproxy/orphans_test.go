package kubeproxy

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

func TestOrphanVirtualServers(t *testing.T) {
	vs := func(proto dataplane.Protocol, ap string) dataplane.VirtualServer {
		a := netip.MustParseAddrPort(ap)
		return dataplane.VirtualServer{Protocol: proto, Address: a.Addr(), Port: a.Port(), Scheduler: "rr"}
	}
	svcs := []corev1.Service{
		{Spec: corev1.ServiceSpec{ClusterIPs: []string{"10.96.0.1"}, Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 443}}}},
		{Spec: corev1.ServiceSpec{ClusterIPs: []string{"10.96.108.4"}, ExternalIPs: []string{"192.0.2.7"},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30089}, {Protocol: corev1.ProtocolUDP, Port: 53}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "198.51.100.9"}}}}},
	}
	for _, tc := range []struct {
		name string
		vss  []dataplane.VirtualServer
		want []string
	}{
		{"every address and NodePort of a Service", []dataplane.VirtualServer{
			vs(dataplane.TCP, "10.96.0.1:443"), vs(dataplane.TCP, "10.96.108.4:80"), vs(dataplane.UDP, "10.96.108.4:53"),
			vs(dataplane.TCP, "192.0.2.7:80"), vs(dataplane.TCP, "198.51.100.9:80"), vs(dataplane.TCP, "10.0.2.15:30089"),
			{FWMark: 7, Family: 4, Scheduler: "rr"},
		}, nil},
		{"a deleted Service's", []dataplane.VirtualServer{vs(dataplane.TCP, "10.96.0.1:443"), vs(dataplane.TCP, "10.96.200.1:80")},
			[]string{"TCP 10.96.200.1:80"}},
		{"the right address, another port", []dataplane.VirtualServer{vs(dataplane.TCP, "10.96.0.1:80")}, []string{"TCP 10.96.0.1:80"}},
		{"the right port, another protocol", []dataplane.VirtualServer{vs(dataplane.UDP, "10.96.0.1:443"), vs(dataplane.UDP, "10.0.2.15:30089")},
			[]string{"UDP 10.96.0.1:443", "UDP 10.0.2.15:30089"}},
	} {
		got := OrphanVirtualServers(dataplane.State{IPVS: dataplane.IPVS{Services: tc.vss}}, svcs)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: OrphanVirtualServers = %q, want %q", tc.name, got, tc.want)
		}
	}
}
