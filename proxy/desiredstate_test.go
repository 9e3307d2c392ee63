package proxy

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/desired"
)

// testService is a Service port as the reconciler tests describe it; desiredFor turns a
// list of them into a desired state shaped like the one package desired computes (the
// proxier tests use the real computation).
type testService struct {
	proto     dataplane.Protocol
	clusterIP string
	port      uint16
	nodePort  uint16
	endpoints []string // "10.244.3.214:80"
}

func (s testService) realServers() []dataplane.RealServer {
	var out []dataplane.RealServer
	for _, e := range s.endpoints {
		ap := netip.MustParseAddrPort(e)
		out = append(out, dataplane.RealServer{Address: ap.Addr(), Port: ap.Port(), Forward: dataplane.Masq, Weight: 1})
	}
	return out
}

// desiredFor builds the IPv4 desired state of a node with testNodeIP for the services.
func desiredFor(services ...testService) dataplane.State {
	var s dataplane.State
	link := dataplane.Link{Name: dataplane.KubeIPVSInterface, Kind: "dummy"}
	members := map[desired.SetID][]dataplane.Member{}
	for _, svc := range services {
		ip := netip.MustParseAddr(svc.clusterIP)
		s.IPVS.Services = append(s.IPVS.Services, dataplane.VirtualServer{
			Protocol: svc.proto, Address: ip, Port: svc.port, Scheduler: "rr", RealServers: svc.realServers(),
		})
		p := netip.PrefixFrom(ip, 32)
		if !slices.Contains(link.Addrs, p) {
			link.Addrs = append(link.Addrs, p)
			members[desired.SetIPVSIPs] = append(members[desired.SetIPVSIPs], dataplane.Member{IP: ip})
		}
		members[desired.SetClusterIP] = append(members[desired.SetClusterIP], dataplane.Member{IP: ip, Proto: svc.proto.Lower(), Port: svc.port})
		if svc.nodePort != 0 {
			s.IPVS.Services = append(s.IPVS.Services, dataplane.VirtualServer{
				Protocol: svc.proto, Address: testNodeIP, Port: svc.nodePort, Scheduler: "rr", RealServers: svc.realServers(),
			})
			id := desired.SetNodePortTCP
			if svc.proto == dataplane.UDP {
				id = desired.SetNodePortUDP
			}
			members[id] = append(members[id], dataplane.Member{Port: svc.nodePort})
		}
	}
	s.Links = []dataplane.Link{link}
	for _, spec := range desired.IPSets() {
		set := spec.IPSet(4)
		set.Members = members[spec.ID]
		s.IPSets = append(s.IPSets, set)
	}
	s.IPTables = testRules(len(members[desired.SetClusterIP]) > 0, len(members[desired.SetNodePortTCP]) > 0)
	return s
}

// testRules is a cut-down IPVS-mode ruleset: the jumps, the chains, and rules that appear
// only while their set has members, as upstream writes them.
func testRules(clusterIPs, nodePorts bool) dataplane.Ruleset {
	rule := func(spec string) dataplane.Rule { return dataplane.Rule{Spec: spec} }
	jump := func(comment, to string) dataplane.Rule {
		return rule(fmt.Sprintf("-m comment --comment %q -j %s", comment, to))
	}
	services := dataplane.Chain{Name: "KUBE-SERVICES", Policy: "-"}
	if clusterIPs {
		services.Rules = append(services.Rules, rule(`-m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ`))
	}
	services.Rules = append(services.Rules, rule("-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT"))
	if clusterIPs {
		services.Rules = append(services.Rules, rule("-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT"))
	}
	nodePort := dataplane.Chain{Name: "KUBE-NODE-PORT", Policy: "-"}
	if nodePorts {
		nodePort.Rules = append(nodePort.Rules, rule(`-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`))
	}
	return dataplane.Ruleset{Tables: []dataplane.Table{
		{Name: "nat", Chains: []dataplane.Chain{
			{Name: "PREROUTING", Policy: "ACCEPT", Rules: []dataplane.Rule{jump("kubernetes service portals", "KUBE-SERVICES")}},
			{Name: "OUTPUT", Policy: "ACCEPT", Rules: []dataplane.Rule{jump("kubernetes service portals", "KUBE-SERVICES")}},
			{Name: "POSTROUTING", Policy: "ACCEPT", Rules: []dataplane.Rule{jump("kubernetes postrouting rules", "KUBE-POSTROUTING")}},
			services,
			{Name: "KUBE-POSTROUTING", Policy: "-", Rules: []dataplane.Rule{
				rule("-m mark ! --mark 0x4000/0x4000 -j RETURN"),
				rule("-j MARK --xor-mark 0x4000"),
				rule(`-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`),
			}},
			nodePort,
			{Name: "KUBE-LOAD-BALANCER", Policy: "-", Rules: []dataplane.Rule{rule("-j KUBE-MARK-MASQ")}},
			{Name: "KUBE-MARK-MASQ", Policy: "-", Rules: []dataplane.Rule{rule("-j MARK --or-mark 0x4000")}},
		}},
		{Name: "filter", Chains: []dataplane.Chain{
			{Name: "FORWARD", Policy: "ACCEPT", Rules: []dataplane.Rule{jump("kubernetes forwarding rules", "KUBE-FORWARD")}},
			{Name: "KUBE-FORWARD", Policy: "-", Rules: []dataplane.Rule{
				rule(`-m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT`),
			}},
		}},
	}}
}
