//go:build e2e

// Package services checks what kube-proxy in ipvs mode programs for the Service features
// beyond the seed: ExternalIPs, LoadBalancer source ranges, session affinity, traffic
// policies, UDP, scale, graceful termination, the scheduler and strictARP through the
// ConfigMap, and the 1.37 KubeProxyIPVS gate. Each feature has its own label
// (e2e.Labels); specs that restart kube-proxy are labelled disruptive, long ones slow.
package services

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/e2e"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
)

var suite = e2e.NewSuite("services")

func TestServices(t *testing.T) {
	suite.Run(t, "services: kube-proxy ipvs mode beyond the seed")
}

// namespace creates the namespace of one Describe, deleted after it.
func namespace(ctx context.Context, feature string) string {
	GinkgoHelper()
	ns, del, err := suite.Env.Namespace(ctx, "ipvs-e2e-"+feature)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) { Expect(del(ctx)).To(Succeed()) })
	return ns
}

// deploy creates a backend Deployment and waits until as many of its pods as it asks for
// are ready (failing at once on a pod that cannot start); it returns them.
func deploy(ctx context.Context, d *appsv1.Deployment) []corev1.Pod {
	GinkgoHelper()
	env := suite.Env
	Expect(env.Resources.Create(ctx, d)).To(Succeed())
	pods, err := fixtures.WaitPodsReady(ctx, env.Resources, d.Namespace, d.Spec.Selector.MatchLabels, int(*d.Spec.Replicas), env.Wait())
	Expect(err).NotTo(HaveOccurred(), "deployment %s/%s", d.Namespace, d.Name)
	return pods
}

// createService creates a Service and returns it as stored (ClusterIP, NodePorts).
func createService(ctx context.Context, s *corev1.Service) *corev1.Service {
	GinkgoHelper()
	got, err := suite.Env.Client.CoreV1().Services(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return got
}

// webBackends deploys the "web" backends in ns and the ClusterIP Service name in front of
// them on servicePort; it returns the ready pods and the Service's ClusterIP.
func webBackends(ctx context.Context, ns, name string, o fixtures.BackendOptions, edits ...func(*corev1.Service)) ([]corev1.Pod, string) {
	GinkgoHelper()
	pods := deploy(ctx, fixtures.Backend("web", ns, o))
	s := createService(ctx, fixtures.Service(name, ns, "web", corev1.ServiceTypeClusterIP, []corev1.ServicePort{fixtures.HTTPPort(servicePort)}, edits...))
	return pods, s.Spec.ClusterIP
}

// hostPort joins an address and a port the way the matchers take them.
func hostPort(ip string, port int32) string { return net.JoinHostPort(ip, strconv.Itoa(int(port))) }

func addrPort(ip string, port int32) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port))
}

// backendAddrs are the pods' address:port for a target port.
func backendAddrs(pods []corev1.Pod, port int32) []string {
	var out []string
	for _, p := range pods {
		out = append(out, hostPort(p.Status.PodIP, port))
	}
	return out
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}
