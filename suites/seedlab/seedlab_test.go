//go:build e2e

package seedlab

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/framework/e2e"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// seedNodePortRule is section 4.1.4's `iptables -t nat -S KUBE-NODE-PORT` line, verbatim.
const seedNodePortRule = `-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`

// natBudget is the seed's "no more than 20 iptables rules" (section 1.3), held by the
// rules kube-proxy owns in the nat table.
const natBudget = 20

var _ = Describe("the seed's section 4 on every node", Ordered, Label(e2e.LabelSeedLab), func() {
	var (
		env       *e2e.Env
		clusterIP string
		podIP     string
		vip       string // clusterIP:80
		backend   string // podIP:80
	)

	BeforeAll(func(ctx SpecContext) {
		env = suite.Env
		ns, del, err := env.Namespace(ctx, "ipvs-e2e-seedlab")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { Expect(del(ctx)).To(Succeed()) })

		By("4.1.2: kubectl apply -f service-ipvs.yml (nginx-test labelled app: my-nginx, NodePort service-test1 80:30089)")
		seed, err := fixtures.ApplySeed(ctx, env.Resources, ns, "", env.Wait())
		Expect(err).NotTo(HaveOccurred())
		clusterIP, podIP = seed.Service.Spec.ClusterIP, seed.Pod.Status.PodIP
		vip, backend = net.JoinHostPort(clusterIP, "80"), net.JoinHostPort(podIP, "80")
		AddReportEntry("seed objects", fmt.Sprintf("service-test1 ClusterIP %s, nginx-test %s on node %s, image %s",
			clusterIP, podIP, seed.Pod.Spec.NodeName, seed.Pod.Spec.Containers[0].Image))
	})

	It("3.3: runs kube-proxy in ipvs mode on every node, per its log and /proxyMode", Label("mode"), func(ctx SpecContext) {
		modes, err := kubeproxy.VerifyMode(ctx, env.KubeProxy, "ipvs")
		Expect(err).NotTo(HaveOccurred())
		conf, err := kubeproxy.ReadConfig(ctx, env.KubeProxy)
		Expect(err).NotTo(HaveOccurred())
		if sched, _ := conf.Get("ipvs.scheduler"); sched == "" {
			By("the scheduler is empty in config.conf, so each kube-proxy logs the seed's line")
			for _, m := range modes {
				Expect(m.Log.SchedulerDefaulted).To(BeTrue(), "node %s: pod %s did not log %q", m.Node, m.Pod, kubeproxy.MsgSchedulerDefaulted)
			}
		}
		for _, m := range modes {
			AddReportEntry("mode "+m.Node, fmt.Sprintf("/proxyMode %s, log: Using %s Proxier", m.ProxyMode, m.Log.Mode))
		}
	})

	It("3.3.2: leaves no iptables-mode chains behind the switch", Label("switch"), func(ctx SpecContext) {
		if r := env.Switch; r != nil {
			AddReportEntry("ConfigMap switch", r.String())
			if env.Config.KeepLeftovers {
				Expect(r.Leftovers).NotTo(BeEmpty(), "leftovers were kept on purpose but none were found")
				Skip("iptables-mode chains kept on purpose (IPVS_E2E_KEEP_LEFTOVERS); listed in the switch report")
			}
		}
		env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(kubeproxy.FindLeftovers(st.IPTables)).To(BeEmpty())
		})
	})

	It("4.1.3: has the ClusterIP virtual server with rr (or the configured scheduler) and the pod as a Masq real server of weight 1", func(ctx SpecContext) {
		env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, vip,
				match.WithScheduler(env.Config.ExpectedScheduler()), match.WithRealServer(backend, dataplane.Masq, 1), match.WithRealServerCount(1)))
		})
	})

	It("has a NodePort virtual server on every node address, port 30089", func(ctx SpecContext) {
		env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			internal, err := env.InternalIP(ctx, n.Name())
			g.Expect(err).NotTo(HaveOccurred())
			addrs := kubeproxy.NodePortAddresses(st, false)
			g.Expect(addrs).To(ContainElement(netip.MustParseAddr(internal)), "the node's InternalIP is a local address")
			for _, a := range addrs {
				g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, net.JoinHostPort(a.String(), "30089"),
					match.WithScheduler(env.Config.ExpectedScheduler()), match.WithRealServer(backend, dataplane.Masq, 1)))
			}
			g.Expect(st).To(match.HaveIPSetMember("KUBE-NODE-PORT-TCP", "30089"))
		})
	})

	It("binds the ClusterIP on kube-ipvs0 and lists it in KUBE-CLUSTER-IP", func(ctx SpecContext) {
		env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveAddressOn(dataplane.KubeIPVSInterface, clusterIP))
			g.Expect(st).To(match.HaveIPSetMember("KUBE-CLUSTER-IP", clusterIP+",tcp:80"))
			g.Expect(st).To(match.HaveIPSetMember("KUBE-IPVS-IPS", clusterIP))
		})
	})

	It("4.1.4: has the seed's KUBE-NODE-PORT rule, verbatim", func(ctx SpecContext) {
		env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveRule("nat", "KUBE-NODE-PORT", seedNodePortRule))
		})
	})

	It("has no KUBE-SVC- or KUBE-SEP- chains: the Service lives in IPVS", func(ctx SpecContext) {
		if env.Config.KeepLeftovers && env.Switch != nil && len(env.Switch.Leftovers) > 0 {
			Skip("iptables-mode chains kept on purpose (IPVS_E2E_KEEP_LEFTOVERS); see the switch report")
		}
		env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveNoChainWithPrefix("nat", "KUBE-SVC-"))
			g.Expect(st).To(match.HaveNoChainWithPrefix("nat", "KUBE-SEP-"))
		})
	})

	It(fmt.Sprintf("keeps kube-proxy's nat rules within %d (section 1.3)", natBudget), func(ctx SpecContext) {
		counts := map[string]string{}
		env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			own := kubeproxy.OwnRules(st.IPTables)
			leftover := kubeproxy.LeftoverRules(st.IPTables, "nat")
			g.Expect(own.RuleCount("nat")-leftover).To(BeNumerically("<=", natBudget),
				"kube-proxy nat rules on node %s (leftovers of the switch not counted: %d):\n%s",
				n.Name(), leftover, dataplane.FormatIPTablesSave(own))
			if leftover == 0 {
				g.Expect(own).To(match.HaveAtMostRules("nat", "", natBudget))
			}
			counts[n.Name()] = fmt.Sprintf("kube-proxy %d (budget %d), all %d, leftovers %d",
				own.RuleCount("nat"), natBudget, st.IPTables.RuleCount("nat"), leftover)
		})
		for _, name := range cluster.NodeNames(env.Nodes) {
			AddReportEntry("nat rules "+name, counts[name])
		}
	})

	It("carries traffic through the ClusterIP from every node", Label("traffic"), func(ctx SpecContext) {
		for _, n := range env.Nodes {
			Eventually(ctx, func() (string, error) {
				return e2e.CurlFromNode(ctx, n, "http://"+vip+"/")
			}).WithTimeout(env.Wait()).WithPolling(e2e.Poll).Should(Not(BeEmpty()), "curl http://%s/ from node %s", vip, n.Name())
		}
	})

	It("carries traffic through NodePort 30089 from the host", Label("traffic"), func(ctx SpecContext) {
		ap, err := env.Provider.HostEndpoint(ctx, fixtures.SeedNodePort)
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func() (int, error) {
			code, _, err := e2e.HTTPFromHost(ctx, ap, "/")
			return code, err
		}).WithTimeout(env.Wait()).WithPolling(e2e.Poll).Should(Equal(200), "GET http://%s/ from the host", ap)
	})

	It("reports the ipvs deprecation of an upstream kube-proxy from 1.35 on (log line and IPVSDeprecation event), as a note", Label("deprecation"), func(ctx SpecContext) {
		var note string
		Eventually(ctx, func() error {
			events, err := kubeproxy.DeprecationEvents(ctx, env.KubeProxy)
			if err != nil {
				return err
			}
			note, err = env.CheckDeprecation(events)
			return err
		}).WithTimeout(env.Wait()).WithPolling(e2e.Poll).Should(Succeed())
		AddReportEntry("deprecation", note)
		GinkgoWriter.Println(strings.TrimSpace(note))
	})
})
