//go:build e2e

package services

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/framework/e2e"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

var _ = Describe("scaling from 1 to 200 Services", Ordered, e2e.Labels("scale"), func() {
	const total = 200
	var (
		ns    string
		first map[string][]string // kube-proxy's nat rules per node with one Service
	)
	BeforeAll(func(ctx SpecContext) {
		ns = namespace(ctx, "scale")
		// The baseline must hold this Describe's Service only: the namespaces of earlier
		// specs are deleted in the background, and kube-proxy keeps their rules (external
		// IPs, load balancers) until their Services are gone.
		Eventually(ctx, func(g Gomega) {
			list, err := suite.Env.Client.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			var others []string
			for _, s := range list.Items {
				if s.Namespace != ns && !(s.Namespace == metav1.NamespaceDefault && s.Name == "kubernetes") {
					others = append(others, s.Namespace+"/"+s.Name)
				}
			}
			g.Expect(others).To(BeEmpty(), "Services of earlier specs still exist")
		}).WithTimeout(suite.Env.Wait()).WithPolling(e2e.Poll).Should(Succeed())
		deploy(ctx, fixtures.Backend("web", ns, fixtures.BackendOptions{Replicas: 1}))
	})

	It("with one Service, records kube-proxy's nat rules on every node", func(ctx SpecContext) {
		s := createService(ctx, fixtures.Service("scale-0", ns, "web", corev1.ServiceTypeClusterIP, []corev1.ServicePort{fixtures.HTTPPort(servicePort)}))
		first = map[string][]string{}
		since := map[string]time.Time{}
		suite.Env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(s.Spec.ClusterIP, servicePort), match.WithRealServerCount(1)))
			// The baseline is the rules once they have held for settle: kube-proxy programs
			// IPVS before it restores iptables at the end of the same sync (seconds under
			// TCG), so the virtual server shows before that sync's rules do (the
			// KUBE-LOOP-BACK masquerade comes with the first local endpoint).
			rules := natRules(st)
			if !slices.Equal(rules, first[n.Name()]) {
				first[n.Name()], since[n.Name()] = rules, time.Now()
			}
			g.Expect(time.Since(since[n.Name()])).To(BeNumerically(">=", settle), "kube-proxy's nat rules on node %s still settling", n.Name())
		})
	})

	It(fmt.Sprintf("with %d Services, has every virtual server and the same nat rule count", total), func(ctx SpecContext) {
		var vips []string
		for i := 1; i < total; i++ {
			s := createService(ctx, fixtures.Service(fmt.Sprintf("scale-%d", i), ns, "web", corev1.ServiceTypeClusterIP, []corev1.ServicePort{fixtures.HTTPPort(servicePort)}))
			vips = append(vips, s.Spec.ClusterIP)
		}
		for _, n := range suite.Env.Nodes {
			suite.Env.OnNode(ctx, n, func(g Gomega, st dataplane.State) {
				for _, vip := range vips {
					g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(vip, servicePort), match.WithRealServerCount(1)))
				}
				set, _ := st.IPSet("KUBE-CLUSTER-IP")
				g.Expect(len(set.Members)).To(BeNumerically(">=", total))
				g.Expect(natRules(st)).To(ConsistOf(first[n.Name()]),
					"kube-proxy's nat rules on node %s changed with the Services (expected the 1-Service rules)", n.Name())
			})
			AddReportEntry("nat rules "+n.Name(), fmt.Sprintf("1 Service: %d; %d Services: %d", len(first[n.Name()]), total, len(first[n.Name()])))
		}
	})
})

var _ = Describe("graceful termination", Ordered, e2e.Labels("graceful"), func() {
	var (
		pods []corev1.Pod
		vip  string
		ns   string
	)
	BeforeAll(func(ctx SpecContext) {
		ns = namespace(ctx, "graceful")
		// The pods keep serving 30 s after SIGTERM while their endpoints turn terminating.
		pods, vip = webBackends(ctx, ns, "web", fixtures.BackendOptions{Replicas: 2, DelayShutdown: 30})
		suite.Env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(vip, servicePort), withRealServers(pods, backendTarget)...))
		})
	})

	It("takes a terminating pod out of rotation (removed, or weight 0 while it has connections) and keeps serving", func(ctx SpecContext) {
		gone, stays := pods[0], pods[1]
		Expect(suite.Env.Client.CoreV1().Pods(ns).Delete(ctx, gone.Name, metav1.DeleteOptions{})).To(Succeed())
		goneAddr := hostPort(gone.Status.PodIP, backendTarget)

		By("the pod shows as terminating and its endpoint turns terminating")
		Eventually(ctx, func(g Gomega) {
			p, err := suite.Env.Client.CoreV1().Pods(ns).Get(ctx, gone.Name, metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred(), "pod %s must still exist during its grace period", gone.Name)
			g.Expect(p.DeletionTimestamp).NotTo(BeNil())
			g.Expect(terminatingEndpoint(ctx, ns, "web", gone.Status.PodIP)).To(BeTrue(), "endpoint %s terminating in the EndpointSlice", gone.Status.PodIP)
		}).WithTimeout(suite.Env.Wait()).WithPolling(e2e.Poll).Should(Succeed())
		// Checked first: the pod serves for its 30 s shutdown delay only.
		Expect(e2e.HostnameVia(ctx, suite.Env.Node(gone.Spec.NodeName), addrPort(gone.Status.PodIP, backendTarget))).To(Equal(gone.Name),
			"the terminating pod keeps serving on its own address during its shutdown delay")

		suite.Env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(vip, servicePort),
				match.WithRealServer(hostPort(stays.Status.PodIP, backendTarget), dataplane.Masq, 1)))
			vs, ok := st.IPVS.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: mustAddr(vip), Port: uint16(servicePort)})
			g.Expect(ok).To(BeTrue())
			for _, rs := range vs.RealServers {
				if rs.Key().String() == goneAddr {
					g.Expect(rs.Weight).To(BeZero(), "terminating real server %s still has weight %d", goneAddr, rs.Weight)
				}
			}
		})
		By("new connections never reach the terminating pod")
		// The Deployment replaces the deleted pod: its replacement may answer too.
		n := suite.Env.Nodes[0]
		for i := 0; i < 10; i++ {
			Expect(e2e.HostnameVia(ctx, n, addrPort(vip, servicePort))).NotTo(Equal(gone.Name), "request %d through %s", i, vip)
		}
	})
})

// terminatingEndpoint tells whether the Service's EndpointSlices list the address as a
// terminating endpoint.
func terminatingEndpoint(ctx context.Context, ns, service, ip string) (bool, error) {
	list, err := suite.Env.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return false, err
	}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if slices.Contains(ep.Addresses, ip) {
				return ep.Conditions.Terminating != nil && *ep.Conditions.Terminating, nil
			}
		}
	}
	return false, nil
}

// settle is how long kube-proxy's rules must hold unchanged to count as a baseline: more
// than one sync of a small cluster under TCG.
const settle = 10 * time.Second

// natRules are kube-proxy's rules in the nat table, as "chain: spec" lines.
func natRules(st dataplane.State) []string {
	var out []string
	for _, t := range kubeproxy.OwnRules(st.IPTables).Tables {
		if t.Name != "nat" {
			continue
		}
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				out = append(out, c.Name+": "+r.Spec)
			}
		}
	}
	return out
}

// reconfigure edits the kube-proxy ConfigMap (fields by path, "ipvs.scheduler") and
// restarts kube-proxy, and puts the old values back after the spec container.
func reconfigure(ctx context.Context, fields map[string]string) {
	GinkgoHelper()
	env := suite.Env
	conf, err := kubeproxy.ReadConfig(ctx, env.KubeProxy)
	Expect(err).NotTo(HaveOccurred())
	old := map[string]string{}
	for path := range fields {
		v, ok := conf.Get(path)
		Expect(ok).To(BeTrue(), "config.conf has no %s", path)
		old[path] = v
	}
	DeferCleanup(func(ctx SpecContext) {
		Expect(kubeproxy.Reconfigure(ctx, env.KubeProxy, old)).To(Succeed())
	}, NodeTimeout(5*time.Minute))
	Expect(kubeproxy.Reconfigure(ctx, env.KubeProxy, fields)).To(Succeed())
	_, err = kubeproxy.VerifyMode(ctx, env.KubeProxy, "ipvs")
	Expect(err).NotTo(HaveOccurred())
}

var _ = Describe("the scheduler, changed through the ConfigMap", Ordered, e2e.Labels("scheduler"), func() {
	var (
		pods []corev1.Pod
		vip  string
	)
	BeforeAll(func(ctx SpecContext) {
		pods, vip = webBackends(ctx, namespace(ctx, "scheduler"), "web", fixtures.BackendOptions{Replicas: 3})
	})

	for _, sched := range []string{"wrr", "sh", "mh"} {
		It(fmt.Sprintf("uses %s on every virtual server after `scheduler: %q` and a kube-proxy restart", sched, sched), func(ctx SpecContext) {
			reconfigure(ctx, map[string]string{"ipvs.scheduler": sched})
			suite.Env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
				g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(vip, servicePort),
					append(withRealServers(pods, backendTarget), match.WithScheduler(sched))...))
				if sched == "mh" {
					// kube-proxy sets the source-hash flag for mh: ipvsadm prints "mh (mh-port)".
					vs, _ := st.IPVS.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: mustAddr(vip), Port: uint16(servicePort)})
					g.Expect(vs.SchedFlags&dataplane.SchedFlag2).NotTo(BeZero(), "mh without the mh-port flag:\n%s",
						strings.Join(dataplane.IPVSBlock(vs), "\n"))
				}
			})
			Eventually(ctx, func() (string, error) {
				return e2e.HostnameVia(ctx, suite.Env.Nodes[0], addrPort(vip, servicePort))
			}).WithTimeout(suite.Env.Wait()).WithPolling(e2e.Poll).Should(BeElementOf(podNames(pods)))
		})
	}
})

var _ = Describe("strictARP", Ordered, e2e.Labels("strictarp"), func() {
	It("sets arp_ignore=1 and arp_announce=2 on every node", func(ctx SpecContext) {
		reconfigure(ctx, map[string]string{"ipvs.strictARP": "true"})
		for _, n := range suite.Env.Nodes {
			for sysctl, want := range map[string]string{"arp_ignore": "1", "arp_announce": "2"} {
				Eventually(ctx, func() (string, error) {
					out, err := node.Output(ctx, n, "cat", "/proc/sys/net/ipv4/conf/all/"+sysctl)
					return strings.TrimSpace(string(out)), err
				}).WithTimeout(suite.Env.Wait()).WithPolling(e2e.Poll).Should(Equal(want), "net.ipv4.conf.all.%s on node %s", sysctl, n.Name())
			}
		}
		AddReportEntry("strictARP", "kube-proxy sets the sysctls at start and never resets them: after strictARP goes back to false "+
			"they stay 1 and 2 until the node restarts (the kind node image's own default is arp_ignore=0)")
	})
})

var _ = Describe("the KubeProxyIPVS feature gate (Kubernetes 1.37+)", Ordered, e2e.Labels("gate"), func() {
	It("makes kube-proxy refuse mode ipvs when it is off, with the validation message", func(ctx SpecContext) {
		env := suite.Env
		if env.Minor < 37 {
			Skip(fmt.Sprintf("Kubernetes 1.%d has no KubeProxyIPVS gate (it arrived in 1.37)", env.Minor))
		}
		conf, err := kubeproxy.ReadConfig(ctx, env.KubeProxy)
		Expect(err).NotTo(HaveOccurred())
		if _, ok := conf.Get("featureGates.KubeProxyIPVS"); !ok {
			Fail("config.conf sets no featureGates.KubeProxyIPVS to flip; the provider's config should enable it explicitly on 1.37+ (kind's does)")
		}
		DeferCleanup(func(ctx SpecContext) {
			Expect(kubeproxy.Reconfigure(ctx, env.KubeProxy, map[string]string{"featureGates.KubeProxyIPVS": "true"})).To(Succeed())
			_, err := kubeproxy.VerifyMode(ctx, env.KubeProxy, "ipvs")
			Expect(err).NotTo(HaveOccurred())
		}, NodeTimeout(5*time.Minute))

		err = kubeproxy.Reconfigure(ctx, env.KubeProxy, map[string]string{"featureGates.KubeProxyIPVS": "false"})
		if env.KubeProxyRelease.Upstream() {
			Expect(err).To(MatchError(And(
				ContainSubstring("must be iptables, nftables or blank"),
				ContainSubstring("KubeProxyIPVS feature gate"))))
		} else {
			// Another implementation of ipvs mode refuses in its own words; it must name the gate.
			Expect(err).To(MatchError(ContainSubstring("KubeProxyIPVS")), "%s must refuse mode ipvs with the gate off", env.KubeProxyRelease)
		}
		AddReportEntry("gate off", err.Error())
	})
})

// mustAddr parses an address the API server returned.
func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
