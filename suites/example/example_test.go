//go:build e2e

package example

import (
	"net"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

var _ = Describe("a ClusterIP Service", Label("example"), func() {
	It("is a virtual server on every node, with each ready pod as a Masq real server", func(ctx SpecContext) {
		env := suite.Env
		ns, del, err := env.Namespace(ctx, "ipvs-e2e-example")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { Expect(del(ctx)).To(Succeed()) })

		// Two agnhost pods and a Service in front of them.
		Expect(env.Resources.Create(ctx, fixtures.Backend("web", ns, fixtures.BackendOptions{Replicas: 2}))).To(Succeed())
		svc, err := env.Client.CoreV1().Services(ns).Create(ctx,
			fixtures.Service("web", ns, "web", corev1.ServiceTypeClusterIP, []corev1.ServicePort{fixtures.HTTPPort(80)}),
			metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		// EveryNode reads each node's dataplane until the assertions hold or the wait ends.
		env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, net.JoinHostPort(svc.Spec.ClusterIP, "80"),
				match.WithScheduler(env.Config.ExpectedScheduler()), match.WithRealServerCount(2)))
			g.Expect(st).To(match.HaveIPSetMember("KUBE-CLUSTER-IP", svc.Spec.ClusterIP+",tcp:80"))
		})
	})
})
