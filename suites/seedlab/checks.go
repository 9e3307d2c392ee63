//go:build e2e

package seedlab

import (
	"fmt"
	"net"
	"strconv"
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
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
)

// Checks registers the seed tutorial's section 4 on every node as one Ordered container
// titled text: its own namespace with the seed's Service and Pod (deleted after its last
// spec), kube-proxy's mode, the tutorial's checks (framework/tutorial) of every node's
// dataplane, the traffic checks and the deprecation note. suiteEnv gives the suite's Env
// when the specs run. The seedlab suite runs it once; the swap suite (suites/swap) once per
// proxy the kube-proxy DaemonSet runs.
func Checks(text string, suiteEnv func() *e2e.Env) bool {
	return Describe(text, Ordered, Label(e2e.LabelSeedLab), func() {
		var (
			env   *e2e.Env
			facts tutorial.Facts
		)

		BeforeAll(func(ctx SpecContext) {
			env = suiteEnv()
			ns, del, err := env.Namespace(ctx, "ipvs-e2e-seedlab")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func(ctx SpecContext) { Expect(del(ctx)).To(Succeed()) })

			By("4.1.2: kubectl apply -f service-ipvs.yml (nginx-test labelled app: my-nginx, NodePort service-test1 80:30089)")
			seed, err := fixtures.ApplySeed(ctx, env.Resources, ns, "", env.Wait())
			Expect(err).NotTo(HaveOccurred())
			facts = tutorial.Facts{Namespace: ns, ClusterIP: seed.Service.Spec.ClusterIP, PodIP: seed.Pod.Status.PodIP,
				Scheduler: env.Config.ExpectedScheduler()}
			AddReportEntry("seed objects", fmt.Sprintf("service-test1 ClusterIP %s, nginx-test %s on node %s, image %s",
				facts.ClusterIP, facts.PodIP, seed.Pod.Spec.NodeName, seed.Pod.Spec.Containers[0].Image))
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

		// The tutorial's checks of the node's dataplane (framework/tutorial), each on every node.
		for _, c := range tutorial.Checks {
			if len(c.Needs) == 0 {
				continue // the traffic checks, below
			}
			It(c.Asserts, Label(c.ID), func(ctx SpecContext) {
				seen := map[string]string{}
				env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
					internal, err := env.InternalIP(ctx, n.Name())
					g.Expect(err).NotTo(HaveOccurred())
					v := c.Judge(facts, tutorial.Node{Name: n.Name(), Address: internal, State: st})
					expectPass(g, v)
					seen[n.Name()] = v.Name
				})
				for _, name := range cluster.NodeNames(env.Nodes) {
					AddReportEntry(c.ID+" on "+name, seen[name])
				}
			})
		}

		It("lists the ClusterIP in the sets KUBE-CLUSTER-IP and KUBE-IPVS-IPS", func(ctx SpecContext) {
			env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
				g.Expect(st).To(match.HaveIPSetMember("KUBE-CLUSTER-IP", facts.ClusterIP+",tcp:80"))
				g.Expect(st).To(match.HaveIPSetMember("KUBE-IPVS-IPS", facts.ClusterIP))
			})
		})

		It(check(tutorial.TrafficClusterIP).Asserts, Label("traffic", tutorial.TrafficClusterIP), func(ctx SpecContext) {
			for _, n := range env.Nodes {
				Eventually(ctx, func(g Gomega) {
					out, err := e2e.CurlFromNode(ctx, n, "http://"+net.JoinHostPort(facts.ClusterIP, "80")+"/")
					expectPass(g, check(tutorial.TrafficClusterIP).Judge(facts, shown(n.Name(), "", tutorial.ShownCurlClusterIP, out, err)))
				}).WithTimeout(env.Wait()).WithPolling(e2e.Poll).Should(Succeed(), "node %s", n.Name())
			}
		})

		// The ClusterIP's virtual server counts the request: its counters (ipvsdump -Ln --stats,
		// which prints ipvsadm's listing) before and after one GET, judged by the tutorial's
		// check. The kernel adds its per-CPU counters up every 2 seconds, hence the Eventually.
		It(check(tutorial.TrafficCounters).Asserts, Label("traffic", tutorial.TrafficCounters), func(ctx SpecContext) {
			stats := func(n node.Node) (string, error) {
				out, err := node.Output(ctx, n, node.DefaultIPVSDumpPath, "-Ln", "--stats", "--exact")
				return string(out), err
			}
			f := facts
			f.Requests = 1
			for _, n := range env.Nodes {
				before, err := stats(n)
				Expect(err).NotTo(HaveOccurred(), "node %s", n.Name())
				_, err = e2e.CurlFromNode(ctx, n, "http://"+net.JoinHostPort(facts.ClusterIP, "80")+"/")
				Expect(err).NotTo(HaveOccurred(), "node %s", n.Name())
				Eventually(ctx, func(g Gomega) {
					after, err := stats(n)
					g.Expect(err).NotTo(HaveOccurred())
					expectPass(g, check(tutorial.TrafficCounters).Judge(f, tutorial.Node{Name: n.Name(), Transcript: map[string]tutorial.Output{
						tutorial.ShownStatsBefore: {Text: before}, tutorial.ShownStatsAfter: {Text: after}}}))
				}).WithTimeout(env.Wait()).WithPolling(e2e.Poll).Should(Succeed(), "node %s", n.Name())
			}
		})

		It(check(tutorial.TrafficNodePort).Asserts, Label("traffic", tutorial.TrafficNodePort), func(ctx SpecContext) {
			for _, n := range env.Nodes {
				internal, err := env.InternalIP(ctx, n.Name())
				Expect(err).NotTo(HaveOccurred())
				Eventually(ctx, func(g Gomega) {
					out, err := e2e.CurlFromNode(ctx, n, fmt.Sprintf("http://%s/", net.JoinHostPort(internal, strconv.Itoa(fixtures.SeedNodePort))))
					expectPass(g, check(tutorial.TrafficNodePort).Judge(facts, shown(n.Name(), internal, tutorial.ShownCurlNodePort, out, err)))
				}).WithTimeout(env.Wait()).WithPolling(e2e.Poll).Should(Succeed(), "node %s", n.Name())
			}
		})

		It(check(tutorial.TrafficHost).Asserts, Label("traffic", tutorial.TrafficHost), func(ctx SpecContext) {
			ap, err := env.Provider.HostEndpoint(ctx, fixtures.SeedNodePort)
			Expect(err).NotTo(HaveOccurred())
			f := facts
			f.HostEndpoint = ap.String()
			Eventually(ctx, func(g Gomega) {
				code, body, err := e2e.HTTPFromHost(ctx, ap, "/")
				if err == nil && code != 200 {
					err = fmt.Errorf("HTTP status %d", code)
				}
				expectPass(g, check(tutorial.TrafficHost).Judge(f, shown("", "", tutorial.ShownCurlHost, body, err)))
			}).WithTimeout(env.Wait()).WithPolling(e2e.Poll).Should(Succeed())
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
}

// expectPass is the Gomega side of a tutorial verdict: a failure shows what the node showed.
func expectPass(g Gomega, v tutorial.Verdict) {
	g.Expect(v.Pass).To(BeTrue(), "%s\n%s", v.Name, v.Detail)
}

// check is the tutorial's check of an ID; the IDs are the package's constants.
func check(id string) tutorial.Check {
	c, ok := tutorial.Lookup(id)
	if !ok {
		panic("framework/tutorial has no check " + id)
	}
	return c
}

// shown is a node whose transcript holds one command's output.
func shown(name, address, cmd, out string, err error) tutorial.Node {
	o := tutorial.Output{Text: out}
	if err != nil {
		o.Failure = err.Error()
	}
	return tutorial.Node{Name: name, Address: address, Transcript: map[string]tutorial.Output{cmd: o}}
}
