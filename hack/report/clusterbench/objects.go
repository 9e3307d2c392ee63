// Package clusterbench measures a kube-proxy in a running cluster from the outside, the
// same way for upstream kube-proxy and the reference proxier: it creates N selector-less
// Services with one EndpointSlice of two endpoints each through the API server, then times
// how long the node's kernel takes to hold them (polled through framework/node) and how
// long the proxy's own syncs took (its /metrics), one endpoint change, the proxy's RSS and
// its iptables rule counts; then, optionally, a churn phase (churn.go): endpoint changes at
// sig-scalability's 20 per second, timed by the proxy's network programming latency
// histogram and by reads of the node's kernel. Run measures each proxy at each N on its own
// fresh lab cluster and writes the side-by-side table (`ipvs-e2e bench cluster`, make
// bench-cluster).
//
// Everything that reads text the proxy or the node prints (Prometheus metrics, ipvsadm,
// /proc/<pid>/status, iptables-save) is a pure function here, tested on real outputs.
package clusterbench

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
)

// Namespace holds the benchmark's objects.
const Namespace = "clusterbench"

// ManagedBy marks the EndpointSlices as ours, so the endpointslice controller (which
// manages only slices labelled with its own name) leaves them alone.
const ManagedBy = "clusterbench.ipvs-e2e.io"

// Ports of every benchmark Service and of its endpoints. Counting the kernel's virtual
// servers on ServicePort and real servers on TargetPort leaves the cluster's own Services
// (kubernetes, 10.96.0.1:443) out of the count.
const (
	ServicePort = 80
	TargetPort  = 8080
)

// MaxServices bounds N: endpoint addresses come from EndpointBase onward, two per
// Service, and must stay inside its /16.
const MaxServices = 20000

// EndpointBase is the first endpoint address. The addresses belong to no pod: the proxy
// programs them all the same, which is what is measured.
var EndpointBase = netip.MustParseAddr("10.244.16.0")

// ChangeAddress is the endpoint the one-endpoint change adds, outside every Service's pair.
var ChangeAddress = netip.MustParseAddr("10.244.250.1")

// ServiceName is the i-th Service's (and its slice's) name.
func ServiceName(i int) string { return fmt.Sprintf("bench-%05d", i) }

// EndpointAddress is the j-th (0 or 1) endpoint of the i-th Service.
func EndpointAddress(i, j int) netip.Addr {
	b := EndpointBase.As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n += uint32(2*i + j)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// Service is the i-th benchmark Service: ClusterIP, no selector (so no controller writes
// its EndpointSlices), the cluster allocating the IP.
func Service(i int) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName(i), Namespace: Namespace},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{
				Name: "http", Protocol: corev1.ProtocolTCP, Port: ServicePort, TargetPort: intstr.FromInt32(TargetPort),
			}},
		},
	}
}

// EndpointSlice is the i-th Service's one slice: two ready endpoints on nodeName (local
// endpoints, as the notes' upstream numbers had), plus the given extra addresses.
func EndpointSlice(i int, nodeName string, extra ...netip.Addr) *discoveryv1.EndpointSlice {
	addrs := []netip.Addr{EndpointAddress(i, 0), EndpointAddress(i, 1)}
	addrs = append(addrs, extra...)
	eps := make([]discoveryv1.Endpoint, 0, len(addrs))
	for _, a := range addrs {
		eps = append(eps, fixtures.Endpoint(a.String(), nodeName, true))
	}
	s := fixtures.EndpointSlice(Namespace, ServiceName(i), ServiceName(i), fixtures.SlicePort("http", corev1.ProtocolTCP, TargetPort), eps...)
	s.Labels[discoveryv1.LabelManagedBy] = ManagedBy
	return s
}
