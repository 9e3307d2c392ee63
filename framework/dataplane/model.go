// Package dataplane holds one typed value for a node's kube-proxy IPVS dataplane: IPVS virtual
// and real servers, the addresses on kube-ipvs0 (and the node's other links), ipsets and
// iptables. The reference proxier computes it (desired state), the kernel adapters read it
// back (actual state), the parsers read it from the text a person sees on a node, and the
// suites assert on it. All of it is pure: no I/O happens in this package.
package dataplane

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// State is everything kube-proxy in IPVS mode programs on one node.
type State struct {
	// Node names the node the state was read from or computed for; informational only.
	Node string `json:"node,omitempty"`
	// IPVS holds the virtual servers (each with its real servers) and the IPVS timeouts.
	IPVS IPVS `json:"ipvs"`
	// Links are network interfaces with their addresses (kube-ipvs0 among them).
	Links []Link `json:"links,omitempty"`
	// IPSets are the kernel's ip sets.
	IPSets []IPSet `json:"ipsets,omitempty"`
	// IPTables is the IPv4 ruleset, IP6Tables the IPv6 one.
	IPTables  Ruleset `json:"iptables,omitzero"`
	IP6Tables Ruleset `json:"ip6tables,omitzero"`
	// Sysctls are the kernel parameters kube-proxy sets or reads, by their dotted names
	// ("net.ipv4.vs.conntrack") with sysctl's values. Only the node inspector reads them;
	// nil means "not read" and is not compared.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Conntrack is the size of the connection tracking table; nil means "not read".
	Conntrack *Conntrack `json:"conntrack,omitempty"`
}

// Conntrack is the connection tracking table's size: its entries now and its limit
// (nf_conntrack_count, nf_conntrack_max).
type Conntrack struct {
	// Count is what the kernel counts: informational, ignored by Equal and Diff.
	Count uint64 `json:"count"`
	Max   uint64 `json:"max"`
}

// IPVS is the IPVS table of a node.
type IPVS struct {
	Services []VirtualServer `json:"services"`
	// Timeouts are the connection timeouts (`ipvsadm -L --timeout`); zero when not read.
	Timeouts Timeouts `json:"timeouts,omitzero"`
}

// Timeouts are the IPVS connection timeouts in seconds, as `ipvsadm --set tcp tcpfin udp`
// takes them. Zero means "unknown" when read and "keep the kernel value" when set.
type Timeouts struct {
	TCP    uint32 `json:"tcp"`
	TCPFin uint32 `json:"tcpFin"`
	UDP    uint32 `json:"udp"`
}

// Protocol is the transport protocol of a virtual server.
type Protocol string

// The protocols IPVS balances. A firewall-mark service has no protocol.
const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	SCTP Protocol = "SCTP"
)

// Lower gives the protocol the way ipsets and iptables write it ("tcp").
func (p Protocol) Lower() string { return strings.ToLower(string(p)) }

// Forwarding is how IPVS reaches a real server; the names are the ones `ipvsadm -Ln` prints.
type Forwarding string

// Forwarding methods. kube-proxy only uses Masq (NAT).
const (
	Masq   Forwarding = "Masq"
	Route  Forwarding = "Route"
	Tunnel Forwarding = "Tunnel"
	Local  Forwarding = "Local"
)

// Scheduler flags (IP_VS_SVC_F_SCHED1..3). Their printed names depend on the scheduler:
// sh and mh call them <sched>-fallback and <sched>-port, others flag-1..flag-3.
const (
	SchedFlag1 uint32 = 0x0008
	SchedFlag2 uint32 = 0x0010
	SchedFlag3 uint32 = 0x0020
)

// VirtualServer is one IPVS service with its real servers.
type VirtualServer struct {
	// Protocol is empty for a firewall-mark service.
	Protocol Protocol `json:"protocol,omitempty"`
	// FWMark is non-zero for a firewall-mark service, which then has no address or port.
	FWMark uint32 `json:"fwmark,omitempty"`
	// Family tells IPv4 from IPv6 for firewall-mark services (which have no address):
	// 4 or 6. For address services it follows the address.
	Family    int        `json:"family,omitempty"`
	Address   netip.Addr `json:"address,omitzero"`
	Port      uint16     `json:"port,omitempty"`
	Scheduler string     `json:"scheduler"`
	// Persistent is session affinity; Timeout is its duration in seconds.
	Persistent bool   `json:"persistent,omitempty"`
	Timeout    uint32 `json:"timeout,omitempty"`
	// PrefixLen is the persistence netmask as a prefix length: 32 (IPv4) and 128 (IPv6)
	// are the defaults and are not printed; zero means the default.
	PrefixLen int `json:"prefixLen,omitempty"`
	// OnePacket is the "ops" flag (one-packet scheduling, UDP).
	OnePacket bool `json:"onePacket,omitempty"`
	// SchedFlags holds SchedFlag1..3.
	SchedFlags  uint32       `json:"schedFlags,omitempty"`
	RealServers []RealServer `json:"realServers,omitempty"`
	// Stats and Rates are the virtual server's traffic counters and rate estimates: what
	// the kernel reports, nil when not read, ignored by Equal and Diff.
	Stats *Stats `json:"stats,omitempty"`
	Rates *Rates `json:"rates,omitempty"`
}

// RealServer is one destination of a virtual server.
type RealServer struct {
	Address netip.Addr `json:"address"`
	Port    uint16     `json:"port"`
	Forward Forwarding `json:"forward"`
	Weight  int        `json:"weight"`
	// Connection counters: what the kernel reports, ignored by Equal and Diff.
	ActiveConns   int `json:"activeConns"`
	InactiveConns int `json:"inactiveConns"`
	// Stats and Rates are the real server's share of its virtual server's, as for
	// VirtualServer: nil when not read, ignored by Equal and Diff.
	Stats *Stats `json:"stats,omitempty"`
	Rates *Rates `json:"rates,omitempty"`
}

// Stats are the traffic counters IPVS keeps for a virtual or a real server since it was
// added (or zeroed with ipvsadm -Z): the columns of `ipvsadm -Ln --stats`.
type Stats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"inPkts"`
	OutPkts  uint64 `json:"outPkts"`
	InBytes  uint64 `json:"inBytes"`
	OutBytes uint64 `json:"outBytes"`
	// Rounded is true when a value was read from ipvsadm's short form (without --exact,
	// 123K, 45M, 6G, 7T): it is then rounded down to that unit.
	Rounded bool `json:"rounded,omitempty"`
}

// Rates are the kernel's estimates per second of the same traffic, averaged over a few
// seconds: the columns of `ipvsadm -Ln --rate`.
type Rates struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"inPPS"`
	OutPPS uint64 `json:"outPPS"`
	InBPS  uint64 `json:"inBPS"`
	OutBPS uint64 `json:"outBPS"`
	// Rounded is as for Stats.
	Rounded bool `json:"rounded,omitempty"`
}

// IsIPv6 tells whether the virtual server is an IPv6 one.
func (vs VirtualServer) IsIPv6() bool {
	if vs.FWMark != 0 {
		return vs.Family == 6
	}
	return vs.Address.Is6() && !vs.Address.Is4In6()
}

// ServiceKey identifies a virtual server the way the kernel does.
type ServiceKey struct {
	Protocol Protocol
	FWMark   uint32
	Family   int
	Address  netip.Addr
	Port     uint16
}

// Key is the identity of the virtual server: protocol, address and port, or the mark.
func (vs VirtualServer) Key() ServiceKey {
	if vs.FWMark != 0 {
		fam := 4
		if vs.Family == 6 {
			fam = 6
		}
		return ServiceKey{FWMark: vs.FWMark, Family: fam}
	}
	return ServiceKey{Protocol: vs.Protocol, Address: vs.Address, Port: vs.Port}
}

// String renders the key as ipvsadm names a service: "TCP 10.96.0.1:443", "FWM 1".
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		if k.Family == 6 {
			return fmt.Sprintf("FWM %d IPv6", int32(k.FWMark))
		}
		return fmt.Sprintf("FWM %d", int32(k.FWMark)) // signed, as ipvsadm prints it
	}
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.Address, k.Port))
}

// Compare orders keys the way `ipvsadm -Ln` output is conventionally sorted here:
// by protocol, then address, then port; firewall marks last.
func (k ServiceKey) Compare(o ServiceKey) int {
	if (k.FWMark != 0) != (o.FWMark != 0) {
		if k.FWMark != 0 {
			return 1
		}
		return -1
	}
	if k.FWMark != 0 {
		if c := k.Family - o.Family; c != 0 {
			return c
		}
		return int(k.FWMark) - int(o.FWMark)
	}
	if c := strings.Compare(string(k.Protocol), string(o.Protocol)); c != 0 {
		return c
	}
	if c := k.Address.Compare(o.Address); c != 0 {
		return c
	}
	return int(k.Port) - int(o.Port)
}

// EffectivePrefixLen is PrefixLen with the default filled in.
func (vs VirtualServer) EffectivePrefixLen() int {
	if vs.PrefixLen != 0 {
		return vs.PrefixLen
	}
	if vs.IsIPv6() {
		return 128
	}
	return 32
}

// RealServerKey identifies a real server within its virtual server.
type RealServerKey = netip.AddrPort

// Key is the real server's address and port.
func (rs RealServer) Key() RealServerKey { return netip.AddrPortFrom(rs.Address, rs.Port) }

// RealServer returns the real server with the given address and port.
func (vs VirtualServer) RealServer(k RealServerKey) (RealServer, bool) {
	for _, rs := range vs.RealServers {
		if rs.Key() == k {
			return rs, true
		}
	}
	return RealServer{}, false
}

// SameConfig tells whether two virtual servers are configured alike, ignoring real servers.
func (vs VirtualServer) SameConfig(o VirtualServer) bool {
	return vs.Key() == o.Key() && vs.Scheduler == o.Scheduler && vs.Persistent == o.Persistent &&
		(!vs.Persistent || vs.Timeout == o.Timeout) && vs.EffectivePrefixLen() == o.EffectivePrefixLen() &&
		vs.OnePacket == o.OnePacket && vs.SchedFlags == o.SchedFlags
}

// SameConfig tells whether two real servers are configured alike, ignoring counters.
func (rs RealServer) SameConfig(o RealServer) bool {
	return rs.Key() == o.Key() && rs.Forward == o.Forward && rs.Weight == o.Weight
}

// Service returns the virtual server with the given key.
func (v IPVS) Service(k ServiceKey) (VirtualServer, bool) {
	for _, vs := range v.Services {
		if vs.Key() == k {
			return vs, true
		}
	}
	return VirtualServer{}, false
}

// Sort orders services by key and each service's real servers by address and port, so
// that two states can be compared and printed stably.
func (v *IPVS) Sort() {
	slices.SortFunc(v.Services, func(a, b VirtualServer) int { return a.Key().Compare(b.Key()) })
	for i := range v.Services {
		slices.SortFunc(v.Services[i].RealServers, func(a, b RealServer) int { return a.Key().Compare(b.Key()) })
	}
}

// Link is a network interface and its addresses, as `ip addr` shows it.
type Link struct {
	Name  string `json:"name"`
	Index int    `json:"index,omitempty"`
	// Kind is the link type when known ("dummy", "veth", "ether", "loopback").
	Kind  string         `json:"kind,omitempty"`
	Up    bool           `json:"up,omitempty"`
	Addrs []netip.Prefix `json:"addrs,omitempty"`
}

// KubeIPVSInterface is the dummy device kube-proxy binds service addresses to.
const KubeIPVSInterface = "kube-ipvs0"

// Link returns the link with the given name.
func (s State) Link(name string) (Link, bool) {
	return named(s.Links, name, linkName)
}

// HasAddr tells whether the link holds the address (any prefix length).
func (l Link) HasAddr(a netip.Addr) bool {
	for _, p := range l.Addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// IPSet is one ip set: its header and members. In JSON the members are in the text form
// `ipset save` writes them ("10.96.0.1,tcp:443", "30089", "10.244.3.214,tcp:80,10.244.3.214").
type IPSet struct {
	Name string `json:"name"`
	// Type is the set type, e.g. "hash:ip,port" or "bitmap:port".
	Type string `json:"type"`
	// Family is "inet" or "inet6"; empty for bitmap:port, which has none.
	Family string `json:"family,omitempty"`
	// HashSize and MaxElem are the hash options (zero: not stated).
	HashSize uint32 `json:"hashsize,omitempty"`
	MaxElem  uint32 `json:"maxelem,omitempty"`
	// PortRange is the range of a bitmap:port set, e.g. "0-65535".
	PortRange string `json:"range,omitempty"`
	// Comment is true when the set was created with the "comment" option.
	Comment bool     `json:"comment,omitempty"`
	Members []Member `json:"members,omitempty"`
}

// UnmarshalJSON reads a set whose members are in ipset's text form, parsing each with
// the set's type.
func (set *IPSet) UnmarshalJSON(data []byte) error {
	type header IPSet // without this method
	var v struct {
		header
		Members []string `json:"members,omitempty"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*set = IPSet(v.header)
	set.Members = nil
	if len(v.Members) == 0 {
		return nil
	}
	ms, err := ParseMembers(v.Type, v.Members...)
	if err != nil {
		return fmt.Errorf("ipset %s: %w", v.Name, err)
	}
	set.Members = ms
	return nil
}

// IPSet returns the set with the given name.
func (s State) IPSet(name string) (IPSet, bool) {
	return named(s.IPSets, name, ipsetName)
}

// HasMember tells whether the set holds the member written as ipset writes it
// ("10.96.0.1,tcp:443"), in any spelling of it ("10.96.0.1,tcp:0443" is the same member).
func (set IPSet) HasMember(text string) bool {
	m, err := ParseMember(set.Type, text)
	return err == nil && slices.Contains(set.Members, m)
}

// Ruleset is an iptables ruleset (one address family): tables in the order read.
type Ruleset struct {
	Tables []Table `json:"tables,omitempty"`
}

// Table is one iptables table ("nat", "filter", ...) with its chains in order.
type Table struct {
	Name   string  `json:"name"`
	Chains []Chain `json:"chains"`
}

// Chain is one chain with its rules. Built-in chains have a policy ("ACCEPT"); user
// chains have Policy "-" as iptables-save writes it.
type Chain struct {
	Name   string `json:"name"`
	Policy string `json:"policy"`
	Rules  []Rule `json:"rules,omitempty"`
}

// Rule is one rule: the words after "-A <chain>", kept verbatim as iptables-save printed
// them (quotes included) so the rule can be printed back exactly.
type Rule struct {
	Spec string `json:"spec"`
}

// BuiltinChain tells whether a chain name is one of iptables' built-in chains.
func BuiltinChain(name string) bool {
	switch name {
	case "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING":
		return true
	}
	return false
}

// Table returns the table with the given name.
func (r Ruleset) Table(name string) (Table, bool) {
	return named(r.Tables, name, tableName)
}

// Chain returns the chain with the given name.
func (t Table) Chain(name string) (Chain, bool) {
	return named(t.Chains, name, chainName)
}

// Rules returns the rules of one chain of one table; nil when either is absent.
func (r Ruleset) Rules(table, chain string) []Rule {
	t, ok := r.Table(table)
	if !ok {
		return nil
	}
	c, ok := t.Chain(chain)
	if !ok {
		return nil
	}
	return c.Rules
}

// RuleCount counts the rules ("-A" lines) of a table.
func (r Ruleset) RuleCount(table string) int {
	t, ok := r.Table(table)
	if !ok {
		return 0
	}
	n := 0
	for _, c := range t.Chains {
		n += len(c.Rules)
	}
	return n
}

// ChainsWithPrefix lists the chains of a table whose names start with prefix, such as
// "KUBE-SVC-" or "KUBE-SEP-" (the iptables-mode chains ipvs mode must not have).
func (r Ruleset) ChainsWithPrefix(table, prefix string) []string {
	t, ok := r.Table(table)
	if !ok {
		return nil
	}
	var out []string
	for _, c := range t.Chains {
		if strings.HasPrefix(c.Name, prefix) {
			out = append(out, c.Name)
		}
	}
	return out
}

// AddrList lists the addresses of the link without their prefix lengths.
func (l Link) AddrList() []netip.Addr {
	out := make([]netip.Addr, 0, len(l.Addrs))
	for _, p := range l.Addrs {
		out = append(out, p.Addr())
	}
	return out
}

// named returns the first of xs whose name (nameOf) is name.
func named[T any](xs []T, name string, nameOf func(T) string) (T, bool) {
	for _, x := range xs {
		if nameOf(x) == name {
			return x, true
		}
	}
	var zero T
	return zero, false
}

// The names links, sets, tables and chains are found and matched by.
func linkName(l Link) string   { return l.Name }
func ipsetName(s IPSet) string { return s.Name }
func tableName(t Table) string { return t.Name }
func chainName(c Chain) string { return c.Name }
