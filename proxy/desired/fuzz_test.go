package desired

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// FuzzCompute puts arbitrary text where Services and EndpointSlices carry addresses,
// ranges and protocols (text this proxier does not control): Compute must not panic, and
// whatever it programs must be well formed.
func FuzzCompute(f *testing.F) {
	f.Add("10.96.0.10", "192.0.2.10", "198.51.100.0/24", "203.0.113.10", "10.244.1.1", "TCP", int32(80), int32(30080), 4)
	f.Add("fd00::10", "2001:db8::1", "::/0", "2001:db8::2", "fd00:10:244::1", "SCTP", int32(9999), int32(0), 6)
	f.Add("010.096.000.010", "::ffff:1.2.3.4", " 10.0.0.1/32 ", "", "10.244.1.1", "UDP", int32(53), int32(65535), 4)
	f.Add("None", "x", "10.0.0/8", "lb", "banana", "", int32(-1), int32(70000), 4)
	f.Fuzz(func(t *testing.T, clusterIP, extIP, srcRange, lbIP, epAddr, proto string, port, np int32, family int) {
		if family != 6 {
			family = 4
		}
		svc := service("fuzz", clusterIP, externalIPs(extIP), loadBalancer(lbIP), func(s *corev1.Service) {
			s.Spec.Ports[0].Protocol = corev1.Protocol(proto)
			s.Spec.Ports[0].Port = port
			s.Spec.Ports[0].NodePort = np
			s.Spec.LoadBalancerSourceRanges = []string{srcRange}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		})
		sl := endpointSlice("fuzz", "fuzz-1", port, ep(epAddr, "node1"))
		sl.Ports[0].Protocol = (*corev1.Protocol)(&proto)
		sl.AddressType = discoveryv1.AddressTypeIPv4
		if family == 6 {
			sl.AddressType = discoveryv1.AddressTypeIPv6
		}
		res := Compute(Input{
			Services: []*corev1.Service{svc}, Slices: []*discoveryv1.EndpointSlice{sl},
			NodeName: "node1", NodeIP: netip.MustParseAddr("172.18.0.3"),
			NodeAddresses: addrs("172.18.0.3", "fc00::3"), Family: family, Config: defaultConfig(t),
		})
		for _, v := range res.State.IPVS.Services {
			if !v.Address.IsValid() || dataplane.IPFamily(v.Address) != family || v.Port == 0 || v.Protocol == "" {
				t.Errorf("malformed virtual server %+v", v)
			}
			for _, r := range v.RealServers {
				if !r.Address.IsValid() || dataplane.IPFamily(r.Address) != family || r.Port == 0 {
					t.Errorf("malformed real server %+v in %s", r, v.Key())
				}
			}
		}
		for _, set := range res.State.IPSets {
			for _, m := range set.Members {
				if p, err := dataplane.ParseMember(set.Type, m.String()); err != nil || p != m {
					t.Errorf("member %+v of %s does not read back as itself (%+v, %v)", m, set.Name, p, err)
				}
			}
		}
	})
}
