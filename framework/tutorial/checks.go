package tutorial

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

// IDs of the checks.
const (
	ClusterIPServer  = "clusterip-virtual-server"
	NodePortServer   = "nodeport-virtual-server"
	KubeIPVS0Address = "kube-ipvs0-address"
	NodePortRuleText = "nodeport-rule"
	NodePortSet      = "nodeport-set"
	NATRuleBudget    = "nat-budget"
	NoServiceChains  = "no-service-chains"
	TrafficClusterIP = "traffic-clusterip"
	TrafficNodePort  = "traffic-nodeport"
	TrafficHost      = "traffic-host"
	TrafficCounters  = "traffic-counters"
)

// Checks are the tutorial's checks, in the order the seed meets them (sections 4.1.3 and
// 4.1.4, then the traffic those rules are for).
var Checks = []Check{{
	ID:      ClusterIPServer,
	Asserts: "the ClusterIP virtual server: TCP <ClusterIP>:80 rr (or the configured scheduler) -> <Pod IP>:80 Masq 1, its only real server (4.1.3)",
	Needs:   []Part{IPVS},
	name: func(f Facts, n Node) lang.Text {
		if _, shown := n.Transcript[ShownIPVS]; shown {
			return lang.T(lang.CheckClusterIPBlock, f.vip(), f.scheduler(), f.rip())
		}
		return lang.T(lang.CheckClusterIPServer, f.vip(), f.scheduler(), f.rip())
	},
	judge: clusterIPServer,
}, {
	ID:      NodePortServer,
	Asserts: "a NodePort virtual server TCP <address>:30089 rr -> <Pod IP>:80 Masq 1 on the node's InternalIP and each address kube-proxy opens NodePorts on",
	Needs:   []Part{IPVS},
	name: func(f Facts, n Node) lang.Text {
		return lang.T(lang.CheckNodePortServer, nodePortAt(n.Address), f.scheduler(), f.rip())
	},
	judge: nodePortServers,
}, {
	ID:      KubeIPVS0Address,
	Asserts: "the ClusterIP is an address of kube-ipvs0 (section 1.2)",
	Needs:   []Part{Links},
	name: func(f Facts, n Node) lang.Text {
		return lang.T(lang.CheckKubeIPVS0, f.ClusterIP)
	},
	judge: func(f Facts, n Node) finding {
		return matched(n.State, match.HaveAddressOn(dataplane.KubeIPVSInterface, f.ClusterIP))
	},
}, {
	ID:      NodePortRuleText,
	Asserts: "the nat chain KUBE-NODE-PORT holds the seed's rule, spelled as the seed prints it (4.1.4)",
	Needs:   []Part{IPTables},
	name:    func(Facts, Node) lang.Text { return lang.T(lang.CheckNodePortRule) },
	judge:   nodePortRule,
}, {
	ID:      NodePortSet,
	Asserts: "the set the KUBE-NODE-PORT rule matches, KUBE-NODE-PORT-TCP, holds 30089",
	Needs:   []Part{IPSets},
	name:    func(Facts, Node) lang.Text { return lang.T(lang.CheckNodePortSet, fixtures.SeedNodePort) },
	judge: func(f Facts, n Node) finding {
		return matched(n.State, match.HaveIPSetMember("KUBE-NODE-PORT-TCP", strconv.Itoa(fixtures.SeedNodePort)))
	},
}, {
	ID:      NATRuleBudget,
	Asserts: fmt.Sprintf("ipvs mode's rules in the nat table number at most %d (section 1.3)", NATBudget),
	Needs:   []Part{IPTables},
	name:    func(Facts, Node) lang.Text { return lang.T(lang.CheckNATBudget, NATBudget) },
	judge:   natBudget,
}, {
	ID:      NoServiceChains,
	Asserts: "no iptables rule names the seed's Service and, the iptables proxier's leftovers aside, no KUBE-SVC- or KUBE-SEP- chain exists",
	Needs:   []Part{IPTables},
	name: func(f Facts, n Node) lang.Text {
		if leftover := kubeproxy.LeftoverRules(n.State.IPTables, "nat"); leftover > 0 {
			return lang.T(lang.CheckNoChainsLeft, f.service(), leftover)
		}
		return lang.T(lang.CheckNoChains, f.service())
	},
	judge: noServiceChains,
}, {
	ID:      TrafficClusterIP,
	Asserts: "from the node, an HTTP GET to the ClusterIP reaches the Pod",
	name: func(f Facts, n Node) lang.Text {
		return lang.T(lang.CheckTrafficCluster, f.vip())
	},
	judge: func(f Facts, n Node) finding { return answered(f, n, ShownCurlClusterIP) },
}, {
	ID:      TrafficNodePort,
	Asserts: "from the node, an HTTP GET to its own address on port 30089 reaches the Pod",
	name: func(f Facts, n Node) lang.Text {
		return lang.T(lang.CheckTrafficNodePort, nodePortAt(n.Address))
	},
	judge: func(f Facts, n Node) finding { return answered(f, n, ShownCurlNodePort) },
}, {
	ID:      TrafficHost,
	Asserts: "from the host, an HTTP GET to NodePort 30089 (as the provider forwards it) reaches the Pod",
	name: func(f Facts, n Node) lang.Text {
		return lang.T(lang.CheckTrafficHost, f.HostEndpoint)
	},
	judge: func(f Facts, n Node) finding { return answered(f, n, ShownCurlHost) },
}, {
	ID:      TrafficCounters,
	Asserts: "traffic went through IPVS: between two `ipvsadm -Ln --stats` listings, the ClusterIP virtual server's Conns and InPkts grew by at least the number of requests sent to it",
	name: func(f Facts, n Node) lang.Text {
		return lang.T(lang.CheckTrafficCounters, f.vip(), f.Requests)
	},
	judge: trafficCounters,
}}

func (f Facts) service() string { return f.Namespace + "/" + fixtures.SeedServiceName }

func nodePortAt(addr string) string {
	return net.JoinHostPort(addr, strconv.Itoa(fixtures.SeedNodePort))
}

// matched asks a Gomega matcher about a value; a failure carries the matcher's message,
// which shows the node's table with the closest line marked.
func matched(actual any, m types.GomegaMatcher) finding {
	ok, err := m.Match(actual)
	switch {
	case err != nil:
		return finding{failure: err.Error()}
	case !ok:
		return finding{failure: m.FailureMessage(actual)}
	}
	return finding{}
}

// clusterIPServer wants the seed's virtual server; when a person saw ipvsadm -Ln, also its
// block as ipvsadm renders it, with no connections yet (ActiveConn and InActConn 0, as in
// the seed).
func clusterIPServer(f Facts, n Node) finding {
	if r := matched(n.State, match.HaveVirtualServer(dataplane.TCP, f.vip(), match.WithScheduler(f.scheduler()),
		match.WithRealServer(f.rip(), dataplane.Masq, 1), match.WithRealServerCount(1))); r.failure != "" {
		return r
	}
	if _, shown := n.Transcript[ShownIPVS]; !shown {
		return finding{}
	}
	want, err := dataplane.ParseIPVSAdm(fmt.Sprintf("TCP %s %s\n-> %s Masq 1 0 0\n", f.vip(), f.scheduler(), f.rip()))
	if err != nil || len(want.Services) != 1 {
		return finding{failure: fmt.Sprintf("the seed's block with this cluster's addresses does not parse: %v", err)}
	}
	got, _ := n.State.IPVS.Service(want.Services[0].Key())
	wantLines, gotLines := dataplane.IPVSBlock(want.Services[0]), dataplane.IPVSBlock(got)
	if !slices.Equal(wantLines, gotLines) {
		return finding{failure: fmt.Sprintf("expected the block\n  %s\nbut ipvsadm -Ln shows\n  %s",
			strings.Join(wantLines, "\n  "), strings.Join(gotLines, "\n  "))}
	}
	return finding{}
}

// nodePortServers wants the NodePort on the node's InternalIP and on every other address
// kube-proxy opens NodePorts on that the state holds (all of a node's links when read
// whole; none besides the InternalIP when only kube-ipvs0 was shown).
func nodePortServers(f Facts, n Node) finding {
	if n.Address == "" {
		return finding{failure: "the node's InternalIP is not known: the NodePort cannot be looked for"}
	}
	addrs := []string{n.Address}
	for _, a := range kubeproxy.NodePortAddresses(n.State, false) {
		if s := a.String(); !slices.Contains(addrs, s) {
			addrs = append(addrs, s)
		}
	}
	for _, a := range addrs {
		r := matched(n.State, match.HaveVirtualServer(dataplane.TCP, nodePortAt(a), match.WithScheduler(f.scheduler()),
			match.WithRealServer(f.rip(), dataplane.Masq, 1), match.WithRealServerCount(1)))
		if r.failure != "" {
			return r
		}
	}
	if len(addrs) > 1 {
		return finding{note: lang.T(lang.NoteOtherAddresses, len(addrs)-1)}
	}
	return finding{}
}

// nodePortRule wants the rule in the parsed chain (arguments compared, quoting aside) and,
// when a person saw `iptables -t nat -S KUBE-NODE-PORT`, the seed's line in it verbatim:
// the text a person compares by eye.
func nodePortRule(f Facts, n Node) finding {
	if r := matched(n.State, match.HaveRule("nat", "KUBE-NODE-PORT", NodePortRule)); r.failure != "" {
		return r
	}
	shown, ok := n.Transcript[ShownNodePortChain]
	if !ok {
		return finding{}
	}
	if shown.Failure != "" {
		return finding{failure: fmt.Sprintf("%s failed (%s):\n%s", ShownNodePortChain, shown.Failure, shown.Text)}
	}
	for l := range strings.Lines(shown.Text) {
		if strings.TrimRight(l, "\r\n") == NodePortRule {
			return finding{}
		}
	}
	return finding{failure: fmt.Sprintf("the rule is there but not spelled as in the seed:\n  want %s\n  got:\n%s", NodePortRule, shown.Text)}
}

// natBudget counts the nat rules ipvs mode is answerable for: the rules of kube-proxy's own
// chains and the jumps into them (kubeproxy.OwnRules), less the iptables proxier's
// leftovers (kubeproxy.LeftoverRules). The seed's promise (section 1.3) is that ipvs mode
// needs a fixed handful of rules however many Services there are. Other owners' rules
// (Docker, the CNI, kubelet) are not kube-proxy's; the leftovers of a method 2 switch are
// the iptables proxier's, one chain per Service and endpoint from before the switch, and
// ipvs mode never removes them (`kube-proxy --cleanup` does). Charging either would make
// the budget measure the node's history, not ipvs mode. The leftovers are named in the
// verdict, and the check that no Service chains exist (NoServiceChains) judges them.
// When a person counted the rules (`grep -c '^-A'`), the count must agree with the table.
func natBudget(f Facts, n Node) finding {
	nat := n.State.IPTables
	own := kubeproxy.OwnRules(nat)
	leftover := kubeproxy.LeftoverRules(nat, "nat")
	ipvsRules := own.RuleCount("nat") - leftover
	note := lang.T(lang.NoteRuleCount, ipvsRules)
	if leftover > 0 {
		note = lang.T(lang.NoteLeftoverRules, ipvsRules, leftover)
	}
	if ipvsRules > NATBudget {
		return finding{note: note, failure: fmt.Sprintf("kube-proxy's nat rules, %d of them the iptables proxier's leftovers:\n%s",
			leftover, dataplane.FormatIPTablesSave(own))}
	}
	if shown, ok := n.Transcript[ShownNATCount]; ok {
		total := nat.RuleCount("nat")
		printed, err := strconv.Atoi(strings.TrimSpace(shown.Text))
		if shown.Failure != "" || err != nil || printed != total {
			return finding{note: note, failure: fmt.Sprintf("iptables-save -t nat has %d rules, but %s printed %q",
				total, ShownNATCount, strings.TrimSpace(shown.Text))}
		}
	}
	return finding{note: note}
}

// noServiceChains is the seed's summary, "the rules all became ipvsadm's": no nat rule
// names the seed's Service (the iptables proxier's comments would say
// "default/service-test1:http"), and there are no KUBE-SVC- or KUBE-SEP- chains. After a
// method 2 switch the iptables proxier's chains stay (see natBudget): every KUBE-SVC- chain
// is then such a leftover, written for the Services of before the switch, and the rule
// naming the seed's Service is what would show the iptables proxier at work since.
func noServiceChains(f Facts, n Node) finding {
	nat := n.State.IPTables
	t, _ := nat.Table("nat")
	for _, c := range t.Chains {
		for _, r := range c.Rules {
			if strings.Contains(r.Spec, f.service()) {
				return finding{failure: fmt.Sprintf("the nat table has, in chain %s:\n-A %s %s", c.Name, c.Name, r.Spec)}
			}
		}
	}
	if kubeproxy.LeftoverRules(nat, "nat") > 0 {
		return finding{}
	}
	if r := matched(nat, match.HaveNoChainWithPrefix("nat", "KUBE-SVC-")); r.failure != "" {
		return r
	}
	return matched(nat, match.HaveNoChainWithPrefix("nat", "KUBE-SEP-"))
}

// answered wants the Pod's reply in the transcript: f.Answer exactly, or any non-empty text
// when the Pod's reply is not known in advance.
func answered(f Facts, n Node, cmd string) finding {
	o, ok := n.Transcript[cmd]
	switch {
	case !ok:
		return finding{failure: fmt.Sprintf("no request was made (the transcript has no %q)", cmd)}
	case o.Failure != "":
		return finding{failure: fmt.Sprintf("the request failed (%s):\n%s", o.Failure, o.Text)}
	case f.Answer != "" && strings.TrimSpace(o.Text) != f.Answer:
		return finding{failure: fmt.Sprintf("expected the answer %q, got:\n%s", f.Answer, o.Text)}
	case strings.TrimSpace(o.Text) == "":
		return finding{failure: "the answer was empty"}
	}
	return finding{}
}

// trafficCounters judges by the kernel's own counters what the traffic checks judge by
// the answer: the ClusterIP virtual server counted a connection and its packets for each
// request. An answer alone could come another way (a stale iptables rule, a local listener).
func trafficCounters(f Facts, n Node) finding {
	if f.Requests <= 0 {
		return finding{failure: "no request was sent between the two listings (Facts.Requests is 0): there is nothing to count"}
	}
	a, err := netip.ParseAddr(f.ClusterIP)
	if err != nil {
		return finding{failure: fmt.Sprintf("the ClusterIP %q is not an address", f.ClusterIP)}
	}
	key := dataplane.ServiceKey{Protocol: dataplane.TCP, Address: a, Port: fixtures.SeedPort}
	before, err := shownStats(n, ShownStatsBefore, key)
	if err != nil {
		return finding{failure: err.Error()}
	}
	after, err := shownStats(n, ShownStatsAfter, key)
	if err != nil {
		return finding{failure: err.Error()}
	}
	note := lang.T(lang.NoteCounters, before.Conns, after.Conns, before.InPkts, after.InPkts, before.OutPkts, after.OutPkts)
	if active, inactive, ok := shownConnections(n, key); ok {
		note = lang.T(lang.NoteCountersConns, note, active, inactive)
	}
	want := uint64(f.Requests)
	switch {
	case before.Rounded || after.Rounded:
		return finding{note: note, failure: "the counters are in ipvsadm's short form (123K): list them with --exact to count requests"}
	case after.Conns < before.Conns+want || after.InPkts < before.InPkts+want:
		return finding{note: note, failure: fmt.Sprintf("expected Conns and InPkts to grow by at least %d, the requests sent: the requests did not go through %s",
			want, key)}
	}
	return finding{note: note}
}

// shownStats reads a virtual server's counters from an `ipvsadm -Ln --stats` output.
func shownStats(n Node, cmd string, key dataplane.ServiceKey) (dataplane.Stats, error) {
	v, err := parsed(n.Transcript, cmd, dataplane.ParseIPVSAdmStats)
	if err != nil {
		return dataplane.Stats{}, err
	}
	vs, ok := v.Service(key)
	if !ok {
		return dataplane.Stats{}, fmt.Errorf("%q lists no %s:\n%s", cmd, key, n.Transcript[cmd].Text)
	}
	return *vs.Stats, nil
}

// shownConnections sums a virtual server's ActiveConn and InActConn over its real servers,
// from the `ipvsadm -Ln` listing after the requests, when there is one.
func shownConnections(n Node, key dataplane.ServiceKey) (active, inactive int, ok bool) {
	v, err := parsed(n.Transcript, ShownConnsAfter, dataplane.ParseIPVSAdm)
	if err != nil {
		return 0, 0, false
	}
	vs, ok := v.Service(key)
	for _, rs := range vs.RealServers {
		active, inactive = active+rs.ActiveConns, inactive+rs.InactiveConns
	}
	return active, inactive, ok
}
