package desired

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
)

// loadConfig builds a Config the way the proxier does, from a KubeProxyConfiguration
// holding the given lines after mode: ipvs.
func loadConfig(t testing.TB, lines ...string) config.Config {
	t.Helper()
	text := "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n" + strings.Join(lines, "\n") + "\n"
	cfg, err := config.Load([]byte(text), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// defaultConfig is a kubeadm cluster with flannel's pod CIDR.
func defaultConfig(t testing.TB) config.Config { return loadConfig(t, "clusterCIDR: 10.244.0.0/16") }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = addr(s)
	}
	return out
}

// --- Services and EndpointSlices ---

type svcOpt func(*corev1.Service)

func service(name, clusterIP string, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: clusterIP,
			Ports:     []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
	if a, ok := parseIP(clusterIP); ok {
		s.Spec.ClusterIPs = []string{clusterIP}
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		if dataplane.IPFamily(a) == 6 {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func nodePort(np int32) svcOpt {
	return func(s *corev1.Service) {
		if s.Spec.Type == corev1.ServiceTypeClusterIP {
			s.Spec.Type = corev1.ServiceTypeNodePort
		}
		s.Spec.Ports[0].NodePort = np
	}
}

func ports(p ...corev1.ServicePort) svcOpt {
	return func(s *corev1.Service) { s.Spec.Ports = p }
}

func loadBalancer(ips ...string) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
	}
}

func externalIPs(ips ...string) svcOpt {
	return func(s *corev1.Service) { s.Spec.ExternalIPs = ips }
}

func eTPLocal(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

func iTPLocal(s *corev1.Service) {
	s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
}

func clientIPAffinity(seconds int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(seconds)}}
	}
}

type epOpt func(*discoveryv1.Endpoint)

func ep(ip, node string, opts ...epOpt) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}
	if node != "" {
		e.NodeName = ptr.To(node)
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func notReady(e *discoveryv1.Endpoint) {
	e.Conditions.Ready = ptr.To(false)
	e.Conditions.Serving = ptr.To(false)
}

func servingTerminating(e *discoveryv1.Endpoint) {
	e.Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
}

func terminatingNotServing(e *discoveryv1.Endpoint) {
	e.Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(true)}
}

func zoneHint(zones ...string) epOpt {
	return func(e *discoveryv1.Endpoint) {
		if e.Hints == nil {
			e.Hints = &discoveryv1.EndpointHints{}
		}
		for _, z := range zones {
			e.Hints.ForZones = append(e.Hints.ForZones, discoveryv1.ForZone{Name: z})
		}
	}
}

func nodeHint(nodes ...string) epOpt {
	return func(e *discoveryv1.Endpoint) {
		if e.Hints == nil {
			e.Hints = &discoveryv1.EndpointHints{}
		}
		for _, n := range nodes {
			e.Hints.ForNodes = append(e.Hints.ForNodes, discoveryv1.ForNode{Name: n})
		}
	}
}

// endpointSlice is a slice of service svc with one port ("http"/TCP unless given).
func endpointSlice(svc, name string, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return fixtures.EndpointSlice("default", name, svc, fixtures.SlicePort("http", corev1.ProtocolTCP, port), eps...)
}

// --- expected states, written independently of the code under test ---

func rs(addrPort ...string) []dataplane.RealServer {
	var out []dataplane.RealServer
	for _, s := range addrPort {
		ap := netip.MustParseAddrPort(s)
		out = append(out, dataplane.RealServer{Address: ap.Addr(), Port: ap.Port(), Forward: dataplane.Masq, Weight: 1})
	}
	return out
}

func vs(proto dataplane.Protocol, addrPort, sched string, real ...dataplane.RealServer) dataplane.VirtualServer {
	ap := netip.MustParseAddrPort(addrPort)
	return dataplane.VirtualServer{Protocol: proto, Address: ap.Addr(), Port: ap.Port(), Scheduler: sched, RealServers: real}
}

func tcp(addrPort string, real ...dataplane.RealServer) dataplane.VirtualServer {
	return vs(dataplane.TCP, addrPort, "rr", real...)
}

// tcpOn is one TCP virtual server per frontend (address:port), all with the same real
// servers.
func tcpOn(real []dataplane.RealServer, frontends ...string) []dataplane.VirtualServer {
	var out []dataplane.VirtualServer
	for _, f := range frontends {
		out = append(out, tcp(f, real...))
	}
	return out
}

// expect describes a node's state in terms a reader checks against upstream by eye.
type expect struct {
	family int
	vs     []dataplane.VirtualServer
	bind   []string
	// members are written as ipset save writes them.
	members map[SetID][]string
	// clusterMasq is the KUBE-CLUSTER-IP masquerade rule's source match; "" means the
	// default "! -s 10.244.0.0/16"; "src,dst" and "all" name the other two forms.
	clusterMasq string
	drops       []string
	mark        string
	timeouts    dataplane.Timeouts
}

// v4 set names and comments, spelled out here rather than taken from names.go.
var testSets = []struct {
	id              SetID
	name, typ, desc string
}{
	{SetLoopBack, "KUBE-LOOP-BACK", "hash:ip,port,ip", "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"},
	{SetClusterIP, "KUBE-CLUSTER-IP", "hash:ip,port", "Kubernetes service cluster ip + port for masquerade purpose"},
	{SetExternalIP, "KUBE-EXTERNAL-IP", "hash:ip,port", "Kubernetes service external ip + port for masquerade and filter purpose"},
	{SetExternalIPLocal, "KUBE-EXTERNAL-IP-LOCAL", "hash:ip,port", "Kubernetes service external ip + port with externalTrafficPolicy=local"},
	{SetLoadBalancer, "KUBE-LOAD-BALANCER", "hash:ip,port", "Kubernetes service lb portal"},
	{SetLoadBalancerFW, "KUBE-LOAD-BALANCER-FW", "hash:ip,port", "Kubernetes service load balancer ip + port for load balancer with sourceRange"},
	{SetLoadBalancerLocal, "KUBE-LOAD-BALANCER-LOCAL", "hash:ip,port", "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"},
	{SetLoadBalancerSourceIP, "KUBE-LOAD-BALANCER-SOURCE-IP", "hash:ip,port,ip", "Kubernetes service load balancer ip + port + source IP for packet filter purpose"},
	{SetLoadBalancerSourceCIDR, "KUBE-LOAD-BALANCER-SOURCE-CIDR", "hash:ip,port,net", "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"},
	{SetNodePortTCP, "KUBE-NODE-PORT-TCP", "bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"},
	{SetNodePortLocalTCP, "KUBE-NODE-PORT-LOCAL-TCP", "bitmap:port", "Kubernetes nodeport TCP port with externalTrafficPolicy=local"},
	{SetNodePortUDP, "KUBE-NODE-PORT-UDP", "bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"},
	{SetNodePortLocalUDP, "KUBE-NODE-PORT-LOCAL-UDP", "bitmap:port", "Kubernetes nodeport UDP port with externalTrafficPolicy=local"},
	{SetNodePortSCTP, "KUBE-NODE-PORT-SCTP-HASH", "hash:ip,port", `"Kubernetes nodeport SCTP port for masquerade purpose with type \'hash ip:port\'"`},
	{SetNodePortLocalSCTP, "KUBE-NODE-PORT-LOCAL-SCTP-HASH", "hash:ip,port", `"Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type \'hash ip:port\'"`},
	{SetHealthCheckNodePort, "KUBE-HEALTH-CHECK-NODE-PORT", "bitmap:port", "Kubernetes health check node port"},
	{SetIPVSIPs, "KUBE-IPVS-IPS", "hash:ip", "Addresses on the ipvs interface"},
}

var ipv6SetNames = map[string]string{
	"KUBE-LOAD-BALANCER-SOURCE-CIDR": "KUBE-6-LOAD-BALANCER-SOURCE-CID",
	"KUBE-NODE-PORT-LOCAL-SCTP-HASH": "KUBE-6-NODE-PORT-LOCAL-SCTP-HAS",
}

func (x expect) setName(id SetID) string {
	name := testSets[id].name
	if x.family == 6 {
		if n, ok := ipv6SetNames[name]; ok {
			return n
		}
		return "KUBE-6-" + strings.TrimPrefix(name, "KUBE-")
	}
	return name
}

func (x expect) cm(id SetID) string {
	desc := testSets[id].desc
	if !strings.HasPrefix(desc, `"`) {
		desc = `"` + desc + `"`
	}
	return "-m comment --comment " + desc + " -m set --match-set " + x.setName(id)
}

func (x expect) has(id SetID) bool {
	return len(x.members[id]) > 0 || (id == SetIPVSIPs && len(x.bind) > 0)
}

// state renders the expectation as a full State, rules in upstream's order.
func (x expect) state(node string) dataplane.State {
	if x.family == 0 {
		x.family = 4
	}
	mark := x.mark
	if mark == "" {
		mark = "0x4000"
	}
	var st dataplane.State
	st.Node = node
	st.IPVS = dataplane.IPVS{Services: slices.Clone(x.vs), Timeouts: x.timeouts}
	st.IPVS.Sort()
	link := dataplane.Link{Name: "kube-ipvs0", Kind: "dummy"}
	bind := slices.Clone(x.bind)
	slices.SortFunc(bind, func(a, b string) int { return addr(a).Compare(addr(b)) })
	for _, a := range bind {
		link.Addrs = append(link.Addrs, netip.PrefixFrom(addr(a), addr(a).BitLen()))
	}
	st.Links = []dataplane.Link{link}
	for _, s := range testSets {
		set := dataplane.IPSet{Name: x.setName(s.id), Type: s.typ}
		if s.typ == "bitmap:port" {
			set.PortRange = "0-65535"
		} else {
			set.Family, set.HashSize, set.MaxElem = "inet", 1024, 65536
			if x.family == 6 {
				set.Family = "inet6"
			}
		}
		set.Members = dataplane.MustParseMembers(s.typ, x.members[s.id]...)
		if s.id == SetIPVSIPs {
			set.Members = nil
			for _, a := range bind {
				set.Members = append(set.Members, dataplane.Member{IP: addr(a)})
			}
		}
		slices.SortFunc(set.Members, dataplane.Member.Compare)
		if len(set.Members) == 0 {
			set.Members = nil
		}
		st.IPSets = append(st.IPSets, set)
	}

	lo, reject := "127.0.0.0/8", "icmp-port-unreachable"
	if x.family == 6 {
		lo, reject = "::1/128", "icmp6-port-unreachable"
	}
	var svcs, np, post, lb, pfw, srf []string
	svcs = append(svcs, "-s "+lo+" -j RETURN")
	// The match-set rules that only need their set, in each chain's order.
	for _, m := range []struct {
		id    SetID
		chain *[]string
		rule  string
	}{
		{SetLoopBack, &post, "dst,dst,src -j MASQUERADE"},
		{SetLoadBalancer, &svcs, "dst,dst -j KUBE-LOAD-BALANCER"},
		{SetLoadBalancerLocal, &lb, "dst,dst -j RETURN"},
		{SetLoadBalancerFW, &pfw, "dst,dst -j KUBE-SOURCE-RANGES-FIREWALL"},
		{SetLoadBalancerSourceCIDR, &srf, "dst,dst,src -j RETURN"},
		{SetLoadBalancerSourceIP, &srf, "dst,dst,src -j RETURN"},
	} {
		if x.has(m.id) {
			*m.chain = append(*m.chain, x.cm(m.id)+" "+m.rule)
		}
	}
	for _, p := range []struct {
		local, all SetID
		proto, m   string
	}{{SetNodePortLocalTCP, SetNodePortTCP, "tcp", "dst"}, {SetNodePortLocalUDP, SetNodePortUDP, "udp", "dst"}, {SetNodePortLocalSCTP, SetNodePortSCTP, "sctp", "dst,dst"}} {
		if x.has(p.local) {
			np = append(np, "-p "+p.proto+" "+x.cm(p.local)+" "+p.m+" -j RETURN")
		}
		if x.has(p.all) {
			np = append(np, "-p "+p.proto+" "+x.cm(p.all)+" "+p.m+" -j KUBE-MARK-MASQ")
		}
	}
	if x.has(SetClusterIP) {
		switch x.clusterMasq {
		case "":
			svcs = append(svcs, "! -s 10.244.0.0/16 "+x.cm(SetClusterIP)+" dst,dst -j KUBE-MARK-MASQ")
		case "all":
			svcs = append(svcs, x.cm(SetClusterIP)+" dst,dst -j KUBE-MARK-MASQ")
		case "src,dst":
			svcs = append(svcs, x.cm(SetClusterIP)+" src,dst -j KUBE-MARK-MASQ")
		default:
			svcs = append(svcs, x.clusterMasq+" "+x.cm(SetClusterIP)+" dst,dst -j KUBE-MARK-MASQ")
		}
	}
	if x.has(SetExternalIP) {
		svcs = append(svcs, x.cm(SetExternalIP)+" dst,dst -j KUBE-MARK-MASQ",
			x.cm(SetExternalIP)+" dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT",
			x.cm(SetExternalIP)+" dst,dst -m addrtype --dst-type LOCAL -j ACCEPT")
	}
	if x.has(SetExternalIPLocal) {
		svcs = append(svcs, x.cm(SetExternalIPLocal)+" dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT",
			x.cm(SetExternalIPLocal)+" dst,dst -m addrtype --dst-type LOCAL -j ACCEPT")
	}
	svcs = append(svcs, "-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT")
	if x.has(SetClusterIP) {
		svcs = append(svcs, "-m set --match-set "+x.setName(SetClusterIP)+" dst,dst -j ACCEPT")
	}
	if x.has(SetLoadBalancer) {
		svcs = append(svcs, "-m set --match-set "+x.setName(SetLoadBalancer)+" dst,dst -j ACCEPT")
	}
	lb = append(lb, "-j KUBE-MARK-MASQ")
	srf = append(srf, "-j DROP")
	post = append(post, "-m mark ! --mark "+mark+"/"+mark+" -j RETURN", "-j MARK --set-xmark "+mark+"/0x0",
		`-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`)

	chain := func(name, policy string, specs ...string) dataplane.Chain {
		c := dataplane.Chain{Name: name, Policy: policy}
		for _, s := range specs {
			c.Rules = append(c.Rules, dataplane.Rule{Spec: s})
		}
		return c
	}
	filter := dataplane.Table{Name: "filter", Chains: []dataplane.Chain{
		chain("INPUT", "ACCEPT",
			`-m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER`,
			`-m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL`,
			`-m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT`),
		chain("FORWARD", "ACCEPT",
			`-m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL`,
			`-m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`),
		chain("OUTPUT", "ACCEPT", `-m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER`),
		chain("KUBE-FORWARD", "-",
			`-m comment --comment "kubernetes forwarding rules" -m mark --mark `+mark+"/"+mark+" -j ACCEPT",
			`-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`),
		chain("KUBE-IPVS-FILTER", "-",
			"-m set --match-set "+x.setName(SetLoadBalancer)+" dst,dst -j RETURN",
			"-m set --match-set "+x.setName(SetClusterIP)+" dst,dst -j RETURN",
			"-m set --match-set "+x.setName(SetExternalIP)+" dst,dst -j RETURN",
			"-m set --match-set "+x.setName(SetExternalIPLocal)+" dst,dst -j RETURN",
			"-m set --match-set "+x.setName(SetHealthCheckNodePort)+" dst -j RETURN",
			"-m conntrack --ctstate NEW -m set --match-set "+x.setName(SetIPVSIPs)+" dst -j REJECT --reject-with "+reject),
		chain("KUBE-IPVS-OUT-FILTER", "-", x.drops...),
		chain("KUBE-NODE-PORT", "-", x.cm(SetHealthCheckNodePort)+" dst -j ACCEPT"),
		chain("KUBE-PROXY-FIREWALL", "-", pfw...),
		chain("KUBE-SOURCE-RANGES-FIREWALL", "-", srf...),
	}}
	nat := dataplane.Table{Name: "nat", Chains: []dataplane.Chain{
		chain("PREROUTING", "ACCEPT", `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`),
		chain("OUTPUT", "ACCEPT", `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`),
		chain("POSTROUTING", "ACCEPT", `-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`),
		chain("KUBE-LOAD-BALANCER", "-", lb...),
		chain("KUBE-MARK-MASQ", "-", "-j MARK --set-xmark "+mark+"/"+mark),
		chain("KUBE-NODE-PORT", "-", np...),
		chain("KUBE-POSTROUTING", "-", post...),
		chain("KUBE-SERVICES", "-", svcs...),
	}}
	rules := dataplane.Ruleset{Tables: []dataplane.Table{filter, nat}}
	if x.family == 6 {
		st.IP6Tables = rules
	} else {
		st.IPTables = rules
	}
	return st
}
