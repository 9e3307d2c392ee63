//go:build e2e

package services

import (
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/framework/e2e"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Documentation addresses (RFC 5737 TEST-NET-3) for externalIPs and load-balancer ingress:
// nothing else on a kind network uses them.
const (
	externalIP    = "203.0.113.10"
	lbDeniedIP    = "203.0.113.20"
	lbAllowedIP   = "203.0.113.21"
	deniedRange   = "192.0.2.0/24"
	servicePort   = int32(80)
	udpPort       = int32(5353)
	backendTarget = int32(fixtures.BackendHTTPPort)
)

// withRealServers are the matcher options for every backend as a Masq real server of weight 1.
func withRealServers(pods []corev1.Pod, port int32) []match.VirtualServerOption {
	opts := []match.VirtualServerOption{match.WithRealServerCount(len(pods))}
	for _, a := range backendAddrs(pods, port) {
		opts = append(opts, match.WithRealServer(a, dataplane.Masq, 1))
	}
	return opts
}

var _ = Describe("ExternalIPs", Ordered, e2e.Labels("externalips"), func() {
	var pods []corev1.Pod
	BeforeAll(func(ctx SpecContext) {
		ns := namespace(ctx, "externalips")
		pods = deploy(ctx, fixtures.Backend("web", ns, fixtures.BackendOptions{Replicas: 2}))
		createService(ctx, fixtures.Service("ext", ns, "web", corev1.ServiceTypeClusterIP,
			[]corev1.ServicePort{fixtures.HTTPPort(servicePort)},
			func(s *corev1.Service) { s.Spec.ExternalIPs = []string{externalIP} }))
	})

	It("programs a virtual server per external IP, binds it on kube-ipvs0 and lists it in KUBE-EXTERNAL-IP", func(ctx SpecContext) {
		suite.Env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(externalIP, servicePort), withRealServers(pods, backendTarget)...))
			g.Expect(st).To(match.HaveAddressOn(dataplane.KubeIPVSInterface, externalIP))
			g.Expect(st).To(match.HaveIPSetMember("KUBE-EXTERNAL-IP", fmt.Sprintf("%s,tcp:%d", externalIP, servicePort)))
			g.Expect(st).To(match.HaveRule("nat", "KUBE-SERVICES",
				`-m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ`))
		})
	})

	It("carries traffic to the external IP from every node", Label("traffic"), func(ctx SpecContext) {
		for _, n := range suite.Env.Nodes {
			Eventually(ctx, func() (string, error) {
				return e2e.HostnameVia(ctx, n, addrPort(externalIP, servicePort))
			}).WithTimeout(suite.Env.Wait()).WithPolling(e2e.Poll).Should(BeElementOf(podNames(pods)), "from node %s", n.Name())
		}
	})
})

var _ = Describe("LoadBalancer with loadBalancerSourceRanges", Ordered, e2e.Labels("loadbalancer"), func() {
	var pods []corev1.Pod
	BeforeAll(func(ctx SpecContext) {
		env := suite.Env
		ns := namespace(ctx, "loadbalancer")
		pods = deploy(ctx, fixtures.Backend("web", ns, fixtures.BackendOptions{Replicas: 2}))
		var nodeRanges []string
		for _, n := range env.Nodes {
			ip, err := env.InternalIP(ctx, n.Name())
			Expect(err).NotTo(HaveOccurred())
			nodeRanges = append(nodeRanges, ip+"/32")
		}
		// No cloud controller runs: the test plays it and writes the ingress IP into the
		// status, which is all kube-proxy reads.
		for _, lb := range []struct {
			name, ip string
			ranges   []string
		}{
			{"lb-denied", lbDeniedIP, []string{deniedRange}},
			{"lb-allowed", lbAllowedIP, nodeRanges},
		} {
			s := createService(ctx, fixtures.Service(lb.name, ns, "web", corev1.ServiceTypeLoadBalancer,
				[]corev1.ServicePort{fixtures.HTTPPort(servicePort)},
				func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = lb.ranges }))
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: lb.ip}}
			_, err := env.Client.CoreV1().Services(ns).UpdateStatus(ctx, s, metav1.UpdateOptions{})
			Expect(err).NotTo(HaveOccurred())
		}
	})

	It("programs the ingress IPs and the source-range ipsets", func(ctx SpecContext) {
		suite.Env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			for _, ip := range []string{lbDeniedIP, lbAllowedIP} {
				g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(ip, servicePort), withRealServers(pods, backendTarget)...))
				g.Expect(st).To(match.HaveAddressOn(dataplane.KubeIPVSInterface, ip))
				g.Expect(st).To(match.HaveIPSetMember("KUBE-LOAD-BALANCER", fmt.Sprintf("%s,tcp:%d", ip, servicePort)))
				g.Expect(st).To(match.HaveIPSetMember("KUBE-LOAD-BALANCER-FW", fmt.Sprintf("%s,tcp:%d", ip, servicePort)))
			}
			g.Expect(st).To(match.HaveIPSetMember("KUBE-LOAD-BALANCER-SOURCE-CIDR", fmt.Sprintf("%s,tcp:%d,%s", lbDeniedIP, servicePort, deniedRange)))
			// The node's own address is inside lb-allowed's ranges: the LB IP as source is allowed.
			g.Expect(st).To(match.HaveIPSetMember("KUBE-LOAD-BALANCER-SOURCE-IP", fmt.Sprintf("%s,tcp:%d,%s", lbAllowedIP, servicePort, lbAllowedIP)))
			// ... and outside lb-denied's: a DROP for node-originated traffic (#94356).
			g.Expect(st.IPTables.Rules("filter", "KUBE-IPVS-OUT-FILTER")).To(ContainElement(
				WithTransform(func(r dataplane.Rule) string { return r.Spec }, And(
					ContainSubstring("-s "+lbDeniedIP+"/32"), ContainSubstring("--vaddr "+lbDeniedIP), HaveSuffix("-j DROP")))))
		})
	})

	It("lets a node in the source ranges through and drops one outside them", Label("traffic"), func(ctx SpecContext) {
		for _, n := range suite.Env.Nodes {
			Eventually(ctx, func() (string, error) {
				return e2e.HostnameVia(ctx, n, addrPort(lbAllowedIP, servicePort))
			}).WithTimeout(suite.Env.Wait()).WithPolling(e2e.Poll).Should(BeElementOf(podNames(pods)), "lb-allowed from node %s", n.Name())
			Consistently(ctx, func() error {
				_, err := e2e.HostnameVia(ctx, n, addrPort(lbDeniedIP, servicePort))
				return err
			}).WithTimeout(3*e2e.Poll).WithPolling(e2e.Poll).Should(HaveOccurred(), "lb-denied from node %s must be dropped", n.Name())
		}
	})
})

var _ = Describe("session affinity ClientIP", Ordered, e2e.Labels("affinity"), func() {
	const timeout = int32(600)
	var (
		pods []corev1.Pod
		vip  string
	)
	BeforeAll(func(ctx SpecContext) {
		pods, vip = webBackends(ctx, namespace(ctx, "affinity"), "sticky", fixtures.BackendOptions{Replicas: 3}, func(s *corev1.Service) {
			t := timeout
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &t}}
		})
	})

	It("makes the virtual server persistent with the affinity timeout", func(ctx SpecContext) {
		suite.Env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			opts := append(withRealServers(pods, backendTarget), match.WithPersistence(uint32(timeout)))
			g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(vip, servicePort), opts...))
		})
	})

	It("sends one client to one backend", Label("traffic"), func(ctx SpecContext) {
		n := suite.Env.Nodes[0]
		var seen []string
		for i := 0; i < 10; i++ {
			var name string
			Eventually(ctx, func() (err error) {
				name, err = e2e.HostnameVia(ctx, n, addrPort(vip, servicePort))
				return err
			}).WithTimeout(suite.Env.Wait()).WithPolling(e2e.Poll).Should(Succeed())
			if !slices.Contains(seen, name) {
				seen = append(seen, name)
			}
		}
		Expect(seen).To(HaveLen(1), "10 requests from node %s reached %v", n.Name(), seen)
	})
})

var _ = Describe("externalTrafficPolicy and internalTrafficPolicy Local", Ordered, e2e.Labels("traffic-policy"), func() {
	var (
		pod            corev1.Pod
		local          node.Node
		remote         []node.Node
		nodePort       int32
		itpVIP         string
		podAddr        string
		internalByNode = map[string]string{}
	)
	BeforeAll(func(ctx SpecContext) {
		env := suite.Env
		Expect(len(env.Nodes)).To(BeNumerically(">=", 2), "traffic policies need a node with and one without a local endpoint")
		ns := namespace(ctx, "traffic-policy")
		pod = deploy(ctx, fixtures.Backend("web", ns, fixtures.BackendOptions{Replicas: 1}))[0]
		podAddr = hostPort(pod.Status.PodIP, backendTarget)
		for _, n := range env.Nodes {
			ip, err := env.InternalIP(ctx, n.Name())
			Expect(err).NotTo(HaveOccurred())
			internalByNode[n.Name()] = ip
			if n.Name() == pod.Spec.NodeName {
				local = n
			} else {
				remote = append(remote, n)
			}
		}
		Expect(local).NotTo(BeNil(), "pod %s runs on node %s, which the provider does not list", pod.Name, pod.Spec.NodeName)
		etp := createService(ctx, fixtures.Service("etp-local", ns, "web", corev1.ServiceTypeNodePort,
			[]corev1.ServicePort{fixtures.HTTPPort(servicePort)},
			func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }))
		nodePort = etp.Spec.Ports[0].NodePort
		itpLocal := corev1.ServiceInternalTrafficPolicyLocal
		itp := createService(ctx, fixtures.Service("itp-local", ns, "web", corev1.ServiceTypeClusterIP,
			[]corev1.ServicePort{fixtures.HTTPPort(servicePort)},
			func(s *corev1.Service) { s.Spec.InternalTrafficPolicy = &itpLocal }))
		itpVIP = itp.Spec.ClusterIP
	})

	It("eTP Local: the endpoint's node serves the NodePort with its local pod and skips the masquerade", func(ctx SpecContext) {
		suite.Env.OnNode(ctx, local, func(g Gomega, st dataplane.State) {
			g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(internalByNode[local.Name()], nodePort),
				match.WithRealServer(podAddr, dataplane.Masq, 1), match.WithRealServerCount(1)))
			g.Expect(st).To(match.HaveIPSetMember("KUBE-NODE-PORT-LOCAL-TCP", fmt.Sprint(nodePort)))
			g.Expect(st).To(match.HaveRule("nat", "KUBE-NODE-PORT",
				`-p tcp -m comment --comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN`))
		})
	})

	// Decision: assert what the ipvs proxier does, and say how it differs. With no local
	// endpoint it falls back to all endpoints (kubernetes PR #97081, so that pods on the
	// node still reach the Service); the iptables and nftables proxiers drop instead.
	It("eTP Local: a node without a local endpoint still lists the remote one (ipvs only, PR #97081)", func(ctx SpecContext) {
		for _, n := range remote {
			suite.Env.OnNode(ctx, n, func(g Gomega, st dataplane.State) {
				g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(internalByNode[n.Name()], nodePort),
					match.WithRealServer(podAddr, dataplane.Masq, 1), match.WithRealServerCount(1)))
			})
		}
		AddReportEntry("eTP Local fallback", "ipvs mode: nodes without a local endpoint forward NodePort traffic to remote endpoints "+
			"without masquerade (replies from external clients are lost); iptables/nftables modes drop it")
	})

	It("iTP Local: the ClusterIP reaches only the local pod, and nothing on other nodes", func(ctx SpecContext) {
		suite.Env.OnNode(ctx, local, func(g Gomega, st dataplane.State) {
			g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(itpVIP, servicePort),
				match.WithRealServer(podAddr, dataplane.Masq, 1), match.WithRealServerCount(1)))
		})
		for _, n := range remote {
			suite.Env.OnNode(ctx, n, func(g Gomega, st dataplane.State) {
				g.Expect(st).To(match.HaveVirtualServer(dataplane.TCP, hostPort(itpVIP, servicePort), match.WithRealServerCount(0)))
			})
		}
	})

	It("iTP Local: traffic from the endpoint's node reaches its pod", Label("traffic"), func(ctx SpecContext) {
		Eventually(ctx, func() (string, error) {
			return e2e.HostnameVia(ctx, local, addrPort(itpVIP, servicePort))
		}).WithTimeout(suite.Env.Wait()).WithPolling(e2e.Poll).Should(Equal(pod.Name))
	})
})

var _ = Describe("UDP", Ordered, e2e.Labels("udp"), func() {
	var (
		pods   []corev1.Pod
		client corev1.Pod
		vip    string
	)
	BeforeAll(func(ctx SpecContext) {
		ns := namespace(ctx, "udp")
		pods = deploy(ctx, fixtures.Backend("dns", ns, fixtures.BackendOptions{Replicas: 2}))
		// The nodes have no UDP client; a netexec pod sends the datagrams for them.
		client = deploy(ctx, fixtures.Backend("client", ns, fixtures.BackendOptions{Replicas: 1}))[0]
		s := createService(ctx, fixtures.Service("dns", ns, "dns", corev1.ServiceTypeClusterIP,
			[]corev1.ServicePort{fixtures.UDPPort(udpPort)}))
		vip = s.Spec.ClusterIP
	})

	It("programs a UDP virtual server and a udp KUBE-CLUSTER-IP entry", func(ctx SpecContext) {
		suite.Env.EveryNode(ctx, func(g Gomega, n node.Node, st dataplane.State) {
			g.Expect(st).To(match.HaveVirtualServer(dataplane.UDP, hostPort(vip, udpPort),
				withRealServers(pods, fixtures.BackendUDPPort)...))
			g.Expect(st).To(match.HaveIPSetMember("KUBE-CLUSTER-IP", fmt.Sprintf("%s,udp:%d", vip, udpPort)))
		})
	})

	It("answers a datagram through the ClusterIP", Label("traffic"), func(ctx SpecContext) {
		n := suite.Env.Node(client.Spec.NodeName)
		Eventually(ctx, func() (string, error) {
			return e2e.UDPHostname(ctx, n, client.Status.PodIP, addrPort(vip, udpPort))
		}).WithTimeout(suite.Env.Wait()).WithPolling(e2e.Poll).Should(BeElementOf(podNames(pods)))
	})
})
