package explain

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Services are a cluster's Services, to name the one behind each virtual server.
type Services struct {
	items []corev1.Service
}

// ListServices reads the Services of every namespace.
func ListServices(ctx context.Context, c kubernetes.Interface) (*Services, error) {
	list, err := c.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the Services of every namespace (to name each virtual server's): %w", err)
	}
	return &Services{items: list.Items}, nil
}

// Match is the Service port a virtual server is for.
type Match struct {
	Role      Role
	Namespace string
	Name      string
	// Port is the Service port's name, or its number when it has none.
	Port string
	Type corev1.ServiceType
}

func (m Match) String() string {
	return fmt.Sprintf("Service %s/%s port %s (type %s)", m.Namespace, m.Name, m.Port, m.Type)
}

// Find names the Service port of a virtual server: one whose ClusterIP, load-balancer
// ingress IP or external IP and port are the virtual server's, or, when the address is
// one NodePorts listen on (nodeAddress), whose NodePort is its port.
func (s *Services) Find(proto dataplane.Protocol, addr netip.Addr, port uint16, nodeAddress bool) (Match, bool) {
	addr = addr.Unmap()
	has := func(list []string) bool {
		for _, a := range list {
			if ip, err := netip.ParseAddr(a); err == nil && ip.Unmap() == addr {
				return true
			}
		}
		return false
	}
	for _, svc := range s.items {
		var ingress []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			ingress = append(ingress, in.IP)
		}
		clusterIPs := svc.Spec.ClusterIPs
		if len(clusterIPs) == 0 && svc.Spec.ClusterIP != "" {
			clusterIPs = []string{svc.Spec.ClusterIP}
		}
		for _, p := range svc.Spec.Ports {
			if string(p.Protocol) != string(proto) {
				continue
			}
			m := Match{Namespace: svc.Namespace, Name: svc.Name, Port: p.Name, Type: svc.Spec.Type}
			if m.Port == "" {
				m.Port = strconv.Itoa(int(p.Port))
			}
			samePort := uint16(p.Port) == port
			switch {
			case samePort && has(clusterIPs):
				m.Role = ClusterIP
			case samePort && has(ingress):
				m.Role = LoadBalancer
			case samePort && has(svc.Spec.ExternalIPs):
				m.Role = ExternalIP
			case nodeAddress && p.NodePort != 0 && uint16(p.NodePort) == port:
				m.Role = NodePort
			default:
				continue
			}
			return m, true
		}
	}
	return Match{}, false
}
