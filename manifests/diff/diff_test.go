package diff

import (
	"context"
	"io/fs"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/e2e-framework/klient/decoder"
)

// Every Service of every scenario pins what the API server would otherwise allocate, inside
// the lab's ranges, and no two scenarios share an address or a port.
func TestServicesArePinned(t *testing.T) {
	files, err := fs.Glob(FS, "*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("manifests: %v, %v", files, err)
	}
	serviceCIDR := netip.MustParsePrefix("10.96.0.0/16")
	usedIP := map[string]string{}
	usedPort := map[int32]string{}
	claim := func(file string, ip string, port int32) {
		if ip != "" {
			if other, dup := usedIP[ip]; dup {
				t.Errorf("%s: address %s already used by %s", file, ip, other)
			}
			usedIP[ip] = file
		}
		if port != 0 {
			if other, dup := usedPort[port]; dup {
				t.Errorf("%s: port %d already used by %s", file, port, other)
			}
			usedPort[port] = file
		}
	}
	for _, f := range files {
		objs, err := decoder.DecodeAllFiles(context.Background(), FS, f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(objs) == 0 {
			t.Errorf("%s: no objects", f)
		}
		for _, o := range objs {
			s, ok := o.(*corev1.Service)
			if !ok {
				t.Errorf("%s: %T: expected Services only (backends come from fixtures.Backend)", f, o)
				continue
			}
			if s.Spec.ClusterIP == corev1.ClusterIPNone {
				continue
			}
			ip, err := netip.ParseAddr(s.Spec.ClusterIP)
			if err != nil || !serviceCIDR.Contains(ip) {
				t.Errorf("%s: service %s: clusterIP %q: expected a pinned address in %s", f, s.Name, s.Spec.ClusterIP, serviceCIDR)
			}
			claim(f, s.Spec.ClusterIP, 0)
			for _, ip := range s.Spec.ExternalIPs {
				claim(f, ip, 0)
			}
			if ing := s.Annotations[IngressIPAnnotation]; ing != "" {
				claim(f, ing, 0)
			}
			external := s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
			for _, p := range s.Spec.Ports {
				if external && (p.NodePort < 30000 || p.NodePort > 32767) {
					t.Errorf("%s: service %s port %s: nodePort %d: expected a pinned one in 30000-32767", f, s.Name, p.Name, p.NodePort)
				}
				claim(f, "", p.NodePort)
			}
			if s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
				if s.Spec.HealthCheckNodePort == 0 {
					t.Errorf("%s: service %s: healthCheckNodePort not pinned", f, s.Name)
				}
				claim(f, "", s.Spec.HealthCheckNodePort)
			}
		}
	}
}
