package desired

import (
	"slices"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// The names below are kube-proxy v1.37's (pkg/proxy/ipvs), declared once and shared by
// Compute, the reconciler and cleanup. Changing one breaks compatibility with nodes that
// upstream kube-proxy programmed.

// SetID indexes the ipsets kube-proxy's IPVS mode uses.
type SetID int

// The 17 ipsets, in upstream's order.
const (
	SetLoopBack SetID = iota
	SetClusterIP
	SetExternalIP
	SetExternalIPLocal
	SetLoadBalancer
	SetLoadBalancerFW
	SetLoadBalancerLocal
	SetLoadBalancerSourceIP
	SetLoadBalancerSourceCIDR
	SetNodePortTCP
	SetNodePortLocalTCP
	SetNodePortUDP
	SetNodePortLocalUDP
	SetNodePortSCTP
	SetNodePortLocalSCTP
	SetHealthCheckNodePort
	SetIPVSIPs
	NumSets
)

// SetSpec declares one ipset: its IPv4 name, type and the comment kube-proxy puts on the
// iptables rules that match it (the set itself is created without comments).
type SetSpec struct {
	ID      SetID
	Name    string
	Type    string
	Comment string
}

var setSpecs = [NumSets]SetSpec{
	{SetLoopBack, "KUBE-LOOP-BACK", dataplane.SetHashIPPortIP, "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"},
	{SetClusterIP, "KUBE-CLUSTER-IP", dataplane.SetHashIPPort, "Kubernetes service cluster ip + port for masquerade purpose"},
	{SetExternalIP, "KUBE-EXTERNAL-IP", dataplane.SetHashIPPort, "Kubernetes service external ip + port for masquerade and filter purpose"},
	{SetExternalIPLocal, "KUBE-EXTERNAL-IP-LOCAL", dataplane.SetHashIPPort, "Kubernetes service external ip + port with externalTrafficPolicy=local"},
	{SetLoadBalancer, "KUBE-LOAD-BALANCER", dataplane.SetHashIPPort, "Kubernetes service lb portal"},
	{SetLoadBalancerFW, "KUBE-LOAD-BALANCER-FW", dataplane.SetHashIPPort, "Kubernetes service load balancer ip + port for load balancer with sourceRange"},
	{SetLoadBalancerLocal, "KUBE-LOAD-BALANCER-LOCAL", dataplane.SetHashIPPort, "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"},
	{SetLoadBalancerSourceIP, "KUBE-LOAD-BALANCER-SOURCE-IP", dataplane.SetHashIPPortIP, "Kubernetes service load balancer ip + port + source IP for packet filter purpose"},
	{SetLoadBalancerSourceCIDR, "KUBE-LOAD-BALANCER-SOURCE-CIDR", dataplane.SetHashIPPortNet, "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"},
	{SetNodePortTCP, "KUBE-NODE-PORT-TCP", dataplane.SetBitmapPort, "Kubernetes nodeport TCP port for masquerade purpose"},
	{SetNodePortLocalTCP, "KUBE-NODE-PORT-LOCAL-TCP", dataplane.SetBitmapPort, "Kubernetes nodeport TCP port with externalTrafficPolicy=local"},
	{SetNodePortUDP, "KUBE-NODE-PORT-UDP", dataplane.SetBitmapPort, "Kubernetes nodeport UDP port for masquerade purpose"},
	{SetNodePortLocalUDP, "KUBE-NODE-PORT-LOCAL-UDP", dataplane.SetBitmapPort, "Kubernetes nodeport UDP port with externalTrafficPolicy=local"},
	{SetNodePortSCTP, "KUBE-NODE-PORT-SCTP-HASH", dataplane.SetHashIPPort, "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"},
	{SetNodePortLocalSCTP, "KUBE-NODE-PORT-LOCAL-SCTP-HASH", dataplane.SetHashIPPort, "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"},
	{SetHealthCheckNodePort, "KUBE-HEALTH-CHECK-NODE-PORT", dataplane.SetBitmapPort, "Kubernetes health check node port"},
	{SetIPVSIPs, "KUBE-IPVS-IPS", dataplane.SetHashIP, "Addresses on the ipvs interface"},
}

// IPSets lists the 17 ipsets in upstream's order.
func IPSets() []SetSpec { return setSpecs[:] }

// Spec returns the declaration of one set.
func (id SetID) Spec() SetSpec { return setSpecs[id] }

// ipset limits and the options kube-proxy creates its sets with.
const (
	maxSetNameLen  = 31
	setHashSize    = 1024
	setMaxElem     = 65536
	setPortRange   = "0-65535"
	ipv6NamePrefix = "KUBE-6-"
)

// NameFor is the set's name in one family: the IPv6 sets are KUBE-6-*, cut to ipset's 31
// characters as kube-proxy cuts them (KUBE-6-NODE-PORT-LOCAL-SCTP-HAS).
func (s SetSpec) NameFor(family int) string {
	if family != 6 {
		return s.Name
	}
	name := ipv6NamePrefix + strings.TrimPrefix(s.Name, "KUBE-")
	if len(name) > maxSetNameLen {
		name = name[:maxSetNameLen]
	}
	return name
}

// IPSet is the set's header for one family as `ipset save` prints it, without members.
func (s SetSpec) IPSet(family int) dataplane.IPSet {
	set := dataplane.IPSet{Name: s.NameFor(family), Type: s.Type}
	if s.Type == dataplane.SetBitmapPort {
		set.PortRange = setPortRange
		return set
	}
	set.Family = "inet"
	if family == 6 {
		set.Family = "inet6"
	}
	set.HashSize, set.MaxElem = setHashSize, setMaxElem
	return set
}

// iptables tables and the chains kube-proxy's IPVS mode owns.
const (
	TableNAT    = "nat"
	TableFilter = "filter"

	ChainServices             = "KUBE-SERVICES"
	ChainPostrouting          = "KUBE-POSTROUTING"
	ChainNodePort             = "KUBE-NODE-PORT"
	ChainLoadBalancer         = "KUBE-LOAD-BALANCER"
	ChainMarkMasq             = "KUBE-MARK-MASQ"
	ChainForward              = "KUBE-FORWARD"
	ChainProxyFirewall        = "KUBE-PROXY-FIREWALL"
	ChainSourceRangesFirewall = "KUBE-SOURCE-RANGES-FIREWALL"
	ChainIPVSFilter           = "KUBE-IPVS-FILTER"
	ChainIPVSOutFilter        = "KUBE-IPVS-OUT-FILTER"
)

// ChainSpec names one chain of one table.
type ChainSpec struct {
	Table string
	Name  string
}

var chainSpecs = []ChainSpec{
	{TableNAT, ChainServices},
	{TableNAT, ChainPostrouting},
	{TableNAT, ChainNodePort},
	{TableNAT, ChainLoadBalancer},
	{TableNAT, ChainMarkMasq},
	{TableFilter, ChainForward},
	{TableFilter, ChainNodePort},
	{TableFilter, ChainProxyFirewall},
	{TableFilter, ChainSourceRangesFirewall},
	{TableFilter, ChainIPVSFilter},
	{TableFilter, ChainIPVSOutFilter},
}

// Chains lists the 11 user chains (5 nat, 6 filter) kube-proxy's IPVS mode creates, flushes
// on every sync and deletes on cleanup.
func Chains() []ChainSpec { return chainSpecs }

// ownChains lists kube-proxy's chains of one table by name, the order iptables-save
// prints them in.
func ownChains(table string) []string {
	var own []string
	for _, c := range chainSpecs {
		if c.Table == table {
			own = append(own, c.Name)
		}
	}
	slices.Sort(own)
	return own
}

// JumpSpec is one rule kube-proxy puts in a built-in chain: `-m comment --comment C -j To`.
type JumpSpec struct {
	Table   string
	From    string
	To      string
	Comment string
}

// jumpSpecs are in upstream's order. kube-proxy inserts each at the head of its chain
// (iptables -I) when it is missing, so on a fresh node the jumps of one chain end up in
// the reverse of this order; Compute writes them that way.
var jumpSpecs = []JumpSpec{
	{TableNAT, "OUTPUT", ChainServices, "kubernetes service portals"},
	{TableNAT, "PREROUTING", ChainServices, "kubernetes service portals"},
	{TableNAT, "POSTROUTING", ChainPostrouting, "kubernetes postrouting rules"},
	{TableFilter, "FORWARD", ChainForward, "kubernetes forwarding rules"},
	{TableFilter, "INPUT", ChainNodePort, "kubernetes health check rules"},
	{TableFilter, "INPUT", ChainProxyFirewall, "kube-proxy firewall rules"},
	{TableFilter, "FORWARD", ChainProxyFirewall, "kube-proxy firewall rules"},
	{TableFilter, "INPUT", ChainIPVSFilter, "kubernetes ipvs access filter"},
	{TableFilter, "OUTPUT", ChainIPVSOutFilter, "kubernetes ipvs access filter"},
}

// Jumps lists the jump rules in built-in chains, in the order kube-proxy ensures them.
func Jumps() []JumpSpec { return jumpSpecs }

// Spec is the jump's rule as iptables-save prints it (the words after "-A <From>").
func (j JumpSpec) Spec() string {
	return "-m comment --comment " + saveString(j.Comment) + " -j " + j.To
}

// builtinChains are the built-in chains of each table in iptables-save's order.
var builtinChains = map[string][]string{
	TableFilter: {"INPUT", "FORWARD", "OUTPUT"},
	TableNAT:    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
}

// DummyInterface is the device kube-proxy binds service addresses to.
const DummyInterface = dataplane.KubeIPVSInterface
