package desired

import (
	"strconv"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Rules are written as iptables-save prints them after kube-proxy's iptables-restore, so
// that desired and actual compare as text, and so that the reconciler can restore them as
// they are: MARK --or-mark/--xor-mark read back as --set-xmark, REJECT gains its default
// --reject-with, an address gains its prefix length, a negated -s moves before the -m
// matches, and comments are quoted only when they need it. The forms were checked against
// iptables 1.8.9 (legacy) except the -m ipvs rule, whose form follows libxt_ipvs' save code.

// setMatchRule is a rule of kube-proxy's ipsetWithIptablesChain table: written while its
// set has members.
type setMatchRule struct {
	set       SetID
	table     string
	chain     string
	target    string
	matchType string
	proto     string
}

var setMatchRules = []setMatchRule{
	{SetLoopBack, TableNAT, ChainPostrouting, "MASQUERADE", "dst,dst,src", ""},
	{SetLoadBalancer, TableNAT, ChainServices, ChainLoadBalancer, "dst,dst", ""},
	{SetLoadBalancerLocal, TableNAT, ChainLoadBalancer, "RETURN", "dst,dst", ""},
	{SetNodePortLocalTCP, TableNAT, ChainNodePort, "RETURN", "dst", "tcp"},
	{SetNodePortTCP, TableNAT, ChainNodePort, ChainMarkMasq, "dst", "tcp"},
	{SetNodePortLocalUDP, TableNAT, ChainNodePort, "RETURN", "dst", "udp"},
	{SetNodePortUDP, TableNAT, ChainNodePort, ChainMarkMasq, "dst", "udp"},
	{SetNodePortLocalSCTP, TableNAT, ChainNodePort, "RETURN", "dst,dst", "sctp"},
	{SetNodePortSCTP, TableNAT, ChainNodePort, ChainMarkMasq, "dst,dst", "sctp"},
	{SetLoadBalancerFW, TableFilter, ChainProxyFirewall, ChainSourceRangesFirewall, "dst,dst", ""},
	{SetLoadBalancerSourceCIDR, TableFilter, ChainSourceRangesFirewall, "RETURN", "dst,dst,src", ""},
	{SetLoadBalancerSourceIP, TableFilter, ChainSourceRangesFirewall, "RETURN", "dst,dst,src", ""},
}

// rulesetBuilder collects rules per chain in the order kube-proxy writes them.
type rulesetBuilder struct {
	family int
	chains map[string]map[string][]dataplane.Rule // table -> chain -> rules
}

func (b *rulesetBuilder) add(table, chain, spec string) {
	b.chains[table][chain] = append(b.chains[table][chain], dataplane.Rule{Spec: spec})
}

// setName is the family's name of a set.
func (b *rulesetBuilder) setName(id SetID) string { return setSpecs[id].NameFor(b.family) }

// commentSet is "-m comment --comment C -m set --match-set NAME" for a set.
func (b *rulesetBuilder) commentSet(id SetID) string {
	return "-m comment --comment " + saveString(setSpecs[id].Comment) + " -m set --match-set " + b.setName(id)
}

// ruleset builds the nat and filter tables: the jumps in built-in chains, then kube-proxy's
// chains with the rules writeIptablesRules produces for the sets that have members.
func (e *Env) ruleset(nonEmpty [NumSets]bool, drops []string) dataplane.Ruleset {
	b := &rulesetBuilder{family: e.family, chains: map[string]map[string][]dataplane.Rule{
		TableNAT: {}, TableFilter: {},
	}}
	mark := "0x" + strconv.FormatUint(uint64(e.masqMark), 16)
	loopback, reject := "127.0.0.0/8", "icmp-port-unreachable"
	if e.family == 6 {
		loopback, reject = "::1/128", "icmp6-port-unreachable"
	}

	// Jumps: each is inserted at the head of its chain, so the last one ensured is first.
	for i := len(jumpSpecs) - 1; i >= 0; i-- {
		j := jumpSpecs[i]
		b.add(j.Table, j.From, j.Spec())
	}

	b.add(TableNAT, ChainServices, "-s "+loopback+" -j RETURN")
	for _, r := range setMatchRules {
		if !nonEmpty[r.set] {
			continue
		}
		spec := ""
		if r.proto != "" {
			spec = "-p " + r.proto + " "
		}
		b.add(r.table, r.chain, spec+b.commentSet(r.set)+" "+r.matchType+" -j "+r.target)
	}

	if nonEmpty[SetClusterIP] {
		cs := b.commentSet(SetClusterIP)
		switch {
		case e.masqueradeAll:
			b.add(TableNAT, ChainServices, cs+" dst,dst -j "+ChainMarkMasq)
		case e.notLocal != "":
			// Masquerade traffic from outside the cluster's pods to a cluster IP.
			b.add(TableNAT, ChainServices, e.notLocal+" "+cs+" dst,dst -j "+ChainMarkMasq)
		default:
			// No way to tell pods from the rest: masquerade node-originated traffic whose
			// source is a service VIP (kube-ipvs0 makes the kernel pick one).
			b.add(TableNAT, ChainServices, cs+" src,dst -j "+ChainMarkMasq)
		}
	}
	externalIPRules := func(cs string) {
		b.add(TableNAT, ChainServices, cs+" dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT")
		b.add(TableNAT, ChainServices, cs+" dst,dst -m addrtype --dst-type LOCAL -j ACCEPT")
	}
	if nonEmpty[SetExternalIP] {
		cs := b.commentSet(SetExternalIP)
		b.add(TableNAT, ChainServices, cs+" dst,dst -j "+ChainMarkMasq)
		externalIPRules(cs)
	}
	if nonEmpty[SetExternalIPLocal] {
		externalIPRules(b.commentSet(SetExternalIPLocal))
	}
	b.add(TableNAT, ChainServices, "-m addrtype --dst-type LOCAL -j "+ChainNodePort)
	b.add(TableNAT, ChainLoadBalancer, "-j "+ChainMarkMasq)
	b.add(TableFilter, ChainSourceRangesFirewall, "-j DROP")
	for _, d := range drops {
		b.add(TableFilter, ChainIPVSOutFilter, d)
	}
	// Accept what IPVS serves, so that later rules cannot drop it.
	for _, id := range []SetID{SetClusterIP, SetLoadBalancer} {
		if nonEmpty[id] {
			b.add(TableNAT, ChainServices, "-m set --match-set "+b.setName(id)+" dst,dst -j ACCEPT")
		}
	}
	b.add(TableFilter, ChainForward, `-m comment --comment "kubernetes forwarding rules" -m mark --mark `+mark+"/"+mark+" -j ACCEPT")
	b.add(TableFilter, ChainForward, `-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`)
	b.add(TableFilter, ChainNodePort, b.commentSet(SetHealthCheckNodePort)+" dst -j ACCEPT")
	// Keep host ports from being reached through service VIPs (kubernetes#72236).
	for _, id := range []SetID{SetLoadBalancer, SetClusterIP, SetExternalIP, SetExternalIPLocal} {
		b.add(TableFilter, ChainIPVSFilter, "-m set --match-set "+b.setName(id)+" dst,dst -j RETURN")
	}
	b.add(TableFilter, ChainIPVSFilter, "-m set --match-set "+b.setName(SetHealthCheckNodePort)+" dst -j RETURN")
	b.add(TableFilter, ChainIPVSFilter, "-m conntrack --ctstate NEW -m set --match-set "+b.setName(SetIPVSIPs)+" dst -j REJECT --reject-with "+reject)
	b.add(TableNAT, ChainPostrouting, "-m mark ! --mark "+mark+"/"+mark+" -j RETURN")
	b.add(TableNAT, ChainPostrouting, "-j MARK --set-xmark "+mark+"/0x0")
	b.add(TableNAT, ChainPostrouting, `-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`)
	b.add(TableNAT, ChainMarkMasq, "-j MARK --set-xmark "+mark+"/"+mark)

	return b.build()
}

// build lays the tables out as iptables-save does: filter then nat, built-in chains first
// in their fixed order (only those holding kube-proxy's jumps), then kube-proxy's chains by
// name. Built-in chains carry the default policy ACCEPT, which kube-proxy never changes.
func (b *rulesetBuilder) build() dataplane.Ruleset {
	var rs dataplane.Ruleset
	for _, table := range []string{TableFilter, TableNAT} {
		t := dataplane.Table{Name: table}
		for _, name := range builtinChains[table] {
			if rules, ok := b.chains[table][name]; ok {
				t.Chains = append(t.Chains, dataplane.Chain{Name: name, Policy: "ACCEPT", Rules: rules})
			}
		}
		for _, name := range ownChains(table) {
			t.Chains = append(t.Chains, dataplane.Chain{Name: name, Policy: "-", Rules: b.chains[table][name]})
		}
		rs.Tables = append(rs.Tables, t)
	}
	return rs
}
