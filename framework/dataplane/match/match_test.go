package match_test

import (
	"flag"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	. "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const masqRule = `-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`

// seedNode is node1 of the seed after applying service-ipvs.yml: service-test1
// (ClusterIP 10.106.71.137:80, NodePort 30089) with one pod, 10.244.3.214.
func seedNode() dataplane.State {
	masq := func(addr string, port uint16) dataplane.RealServer {
		return dataplane.RealServer{Address: netip.MustParseAddr(addr), Port: port, Forward: dataplane.Masq, Weight: 1}
	}
	return dataplane.State{
		Node: "node1",
		IPVS: dataplane.IPVS{Services: []dataplane.VirtualServer{
			{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.0.1"), Port: 443, Scheduler: "rr",
				RealServers: []dataplane.RealServer{masq("172.18.0.3", 6443)}},
			{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.106.71.137"), Port: 80, Scheduler: "rr",
				RealServers: []dataplane.RealServer{masq("10.244.3.214", 80)}},
			{Protocol: dataplane.TCP, Address: netip.MustParseAddr("172.18.0.2"), Port: 30089, Scheduler: "rr",
				RealServers: []dataplane.RealServer{masq("10.244.3.214", 80)}},
		}},
		Links: []dataplane.Link{
			{Name: "lo", Index: 1, Kind: "loopback", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{Name: "eth0", Index: 9, Kind: "veth", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("172.18.0.2/16")}},
			{Name: "kube-ipvs0", Index: 3, Kind: "dummy", Addrs: []netip.Prefix{
				netip.MustParsePrefix("10.96.0.1/32"), netip.MustParsePrefix("10.106.71.137/32")}},
		},
		IPSets: []dataplane.IPSet{
			{Name: "KUBE-CLUSTER-IP", Type: "hash:ip,port", Family: "inet", HashSize: 1024, MaxElem: 65536,
				Members: []dataplane.Member{
					{IP: netip.MustParseAddr("10.96.0.1"), Proto: "tcp", Port: 443}, {IP: netip.MustParseAddr("10.106.71.137"), Proto: "tcp", Port: 80}}},
			{Name: "KUBE-NODE-PORT-TCP", Type: "bitmap:port", PortRange: "0-65535", Members: []dataplane.Member{{Port: 30089}}},
		},
		IPTables: dataplane.Ruleset{Tables: []dataplane.Table{{Name: "nat", Chains: []dataplane.Chain{
			{Name: "PREROUTING", Policy: "ACCEPT", Rules: []dataplane.Rule{{Spec: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`}}},
			{Name: "OUTPUT", Policy: "ACCEPT", Rules: []dataplane.Rule{{Spec: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`}}},
			{Name: "KUBE-MARK-MASQ", Policy: "-", Rules: []dataplane.Rule{{Spec: "-j MARK --set-xmark 0x4000/0x4000"}}},
			{Name: "KUBE-NODE-PORT", Policy: "-", Rules: []dataplane.Rule{{Spec: masqRule}}},
			{Name: "KUBE-SERVICES", Policy: "-", Rules: []dataplane.Rule{
				{Spec: `-m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ`},
				{Spec: "-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT"},
				{Spec: "-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT"},
			}},
		}}}},
	}
}

// outcome runs one assertion and returns its failure message ("" when it passed).
func outcome(t *testing.T, actual any, m types.GomegaMatcher, negated bool) string {
	t.Helper()
	var msg string
	g := gomega.NewGomega(func(message string, _ ...int) { msg = message })
	if negated {
		g.Expect(actual).NotTo(m)
	} else {
		g.Expect(actual).To(m)
	}
	return msg
}

type matcherCase struct {
	name    string
	actual  any
	matcher types.GomegaMatcher
	// pass tells whether Expect(actual).To(matcher) passes; the negated assertion is
	// checked to do the opposite.
	pass bool
	// contains are lines or fragments the failure message (of whichever assertion
	// fails) must hold.
	contains []string
}

func run(t *testing.T, cases []matcherCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pos, neg := outcome(t, tc.actual, tc.matcher, false), outcome(t, tc.actual, tc.matcher, true)
			if (pos == "") != tc.pass || (neg == "") == tc.pass {
				t.Fatalf("To passed=%t, NotTo passed=%t; want To passed=%t\nTo: %s\nNotTo: %s", pos == "", neg == "", tc.pass, pos, neg)
			}
			msg := pos + neg
			fixture.Contains(t, "failure message", msg, tc.contains...)
		})
	}
}

func TestHaveVirtualServer(t *testing.T) {
	s := seedNode()
	run(t, []matcherCase{
		{
			name:   "the seed's service with its pod",
			actual: s,
			matcher: HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithScheduler("rr"),
				WithRealServer("10.244.3.214:80", dataplane.Masq, 1), WithRealServerCount(1)),
			pass:     true,
			contains: []string{"not to have virtual server", "> TCP  10.106.71.137:80 rr\n", ">   -> 10.244.3.214:80 "},
		},
		{
			name:     "a pointer to the state and the IPVS part alone work too",
			actual:   &s,
			matcher:  HaveVirtualServer(dataplane.TCP, "172.18.0.2:30089"),
			pass:     true,
			contains: []string{`on node "node1"`},
		},
		{
			name:     "IPVS value",
			actual:   s.IPVS,
			matcher:  HaveVirtualServer(dataplane.TCP, "10.96.0.1:443", WithRealServer("172.18.0.3:6443", dataplane.Masq, 1)),
			pass:     true,
			contains: []string{"Expected IPVS not to have"},
		},
		{
			name:     "wrong scheduler",
			actual:   s,
			matcher:  HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithScheduler("wrr")),
			contains: []string{"    TCP  10.106.71.137:80 wrr\n", "but its scheduler is rr.", "> TCP  10.106.71.137:80 rr\n"},
		},
		{
			name:     "persistence",
			actual:   s,
			matcher:  HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithPersistence(10800)),
			contains: []string{"    TCP  10.106.71.137:80 rr persistent 10800\n", "but it is not persistent."},
		},
		{
			name:   "real server with another weight is marked",
			actual: s,
			matcher: HaveVirtualServer(dataplane.TCP, "10.106.71.137:80",
				WithRealServer("10.244.3.214:80", dataplane.Masq, 0), WithRealServer("10.244.1.5:80", dataplane.Masq, 1)),
			contains: []string{
				"but real server 10.244.3.214:80 is Masq weight 1; it has no real server 10.244.1.5:80.",
				"> TCP  10.106.71.137:80 rr\n>   -> 10.244.3.214:80 ",
			},
		},
		{
			name:     "real server count",
			actual:   s,
			matcher:  HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithRealServerCount(2)),
			contains: []string{"    (2 real servers in all)\n", "but it has 1 real server."},
		},
		{
			name:     "missing service: closest one by address is marked",
			actual:   s,
			matcher:  HaveVirtualServer(dataplane.UDP, "10.106.71.137:80"),
			contains: []string{"    UDP  10.106.71.137:80 *\n", "but there is no virtual server UDP 10.106.71.137:80.", "> TCP  10.106.71.137:80 rr\n"},
		},
		{
			name:     "missing service, nothing close",
			actual:   s,
			matcher:  HaveVirtualServer(dataplane.TCP, "10.96.0.10:53"),
			contains: []string{"(nothing matched: no virtual server has address 10.96.0.10 or port 53)"},
		},
	})
}

// The matchers fail with an error, not a verdict, when what they are given cannot answer.
func TestMatcherErrors(t *testing.T) {
	s := seedNode()
	for name, tc := range map[string]struct {
		actual  any
		matcher types.GomegaMatcher
		err     string
	}{
		"virtual server: bad address":          {s, HaveVirtualServer(dataplane.TCP, "10.106.71.137"), "expected address:port"},
		"virtual server: bad real server":      {s, HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithRealServer("pod", dataplane.Masq, 1)), "WithRealServer(\"pod\")"},
		"virtual server: wrong type":           {"TCP 10.106.71.137:80", HaveVirtualServer(dataplane.TCP, "10.106.71.137:80"), "got string"},
		"address: state read without links":    {dataplane.State{}, HaveAddressOn("kube-ipvs0", "10.96.0.1"), "kernel.ReadOptions{Links: true}"},
		"address: bad address":                 {s, HaveAddressOn("kube-ipvs0", "service-test1"), "expected an IP address"},
		"address: wrong type":                  {s.IPSets, HaveAddressOn("kube-ipvs0", "10.96.0.1"), "expected a dataplane.State or []dataplane.Link, got []dataplane.IPSet"},
		"ipset: state read without ipsets":     {dataplane.State{}, HaveIPSetMember("KUBE-NODE-PORT-TCP", "30089"), "kernel.ReadOptions{IPSets: true}"},
		"ipset: wrong type":                    {s.Links, HaveIPSetMember("KUBE-NODE-PORT-TCP", "30089"), "expected a dataplane.State or []dataplane.IPSet, got []dataplane.Link"},
		"rule: missing table":                  {s, HaveRule("filter", "INPUT", "-j ACCEPT"), `no table "filter"`},
		"rule: unterminated quote":             {s, HaveRule("nat", "INPUT", `-m comment --comment "unterminated`), "unterminated double quote"},
		"at most: missing chain":               {s, HaveAtMostRules("nat", "KUBE-NOPE", 1), "no chain KUBE-NOPE"},
		"at most: state read without iptables": {dataplane.State{}, HaveAtMostRules("nat", "", 20), "kernel.ReadOptions{IPTables: true}"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.matcher.Match(tc.actual)
			wanterr.Check(t, err, tc.err)
		})
	}
}

func TestHaveAddressOn(t *testing.T) {
	s := seedNode()
	run(t, []matcherCase{
		{
			name:     "service address on kube-ipvs0",
			actual:   s,
			matcher:  HaveAddressOn("kube-ipvs0", "10.106.71.137"),
			pass:     true,
			contains: []string{`Expected kube-ipvs0 on node "node1" not to have address 10.106.71.137, but it has.`, "> 3: kube-ipvs0: <DOWN>"},
		},
		{
			name:     "links slice",
			actual:   s.Links,
			matcher:  HaveAddressOn("eth0", "172.18.0.2"),
			pass:     true,
			contains: []string{"> 9: eth0: <UP>"},
		},
		{
			name:     "address on another link",
			actual:   s,
			matcher:  HaveAddressOn("kube-ipvs0", "172.18.0.2"),
			contains: []string{"but kube-ipvs0 does not hold it (it is on eth0).", "> 9: eth0: <UP>", "> 3: kube-ipvs0: <DOWN>", "      inet 10.96.0.1/32"},
		},
		{
			name:     "no such link",
			actual:   s,
			matcher:  HaveAddressOn("kube-ipvs1", "10.96.0.1"),
			contains: []string{"but there is no link kube-ipvs1 (it is on kube-ipvs0)."},
		},
	})
}

func TestHaveIPSetMember(t *testing.T) {
	s := seedNode()
	run(t, []matcherCase{
		{
			name:     "the seed's node port",
			actual:   s,
			matcher:  HaveIPSetMember("KUBE-NODE-PORT-TCP", "30089"),
			pass:     true,
			contains: []string{"not to have member 30089, but it has.", "> add KUBE-NODE-PORT-TCP 30089"},
		},
		{
			name:     "closest member is marked",
			actual:   s.IPSets,
			matcher:  HaveIPSetMember("KUBE-CLUSTER-IP", "10.106.71.137,udp:80"),
			contains: []string{"but it has 2 members.", "  add KUBE-CLUSTER-IP 10.96.0.1,tcp:443\n> add KUBE-CLUSTER-IP 10.106.71.137,tcp:80"},
		},
		{
			name:     "nothing close",
			actual:   s,
			matcher:  HaveIPSetMember("KUBE-NODE-PORT-TCP", "30090"),
			contains: []string{"(nothing close: no member shares 30090's first field)", "  create KUBE-NODE-PORT-TCP bitmap:port range 0-65535"},
		},
		{
			name:     "no such set: the headers are listed",
			actual:   s,
			matcher:  HaveIPSetMember("KUBE-NODE-PORT-UDP", "30089"),
			contains: []string{"but there is no set KUBE-NODE-PORT-UDP.", "  create KUBE-CLUSTER-IP hash:ip,port", "  create KUBE-NODE-PORT-TCP bitmap:port"},
		},
	})
}

func TestHaveRule(t *testing.T) {
	s := seedNode()
	run(t, []matcherCase{
		{
			name:     "the seed's rule",
			actual:   s,
			matcher:  HaveRule("nat", "KUBE-NODE-PORT", masqRule),
			pass:     true,
			contains: []string{"not to have the rule", "> -A KUBE-NODE-PORT -p tcp"},
		},
		{
			name:    "with its -A prefix and other spacing, as a Ruleset",
			actual:  s.IPTables,
			matcher: HaveRule("nat", "KUBE-NODE-PORT", "-A KUBE-NODE-PORT  -p tcp\t-m comment --comment \"Kubernetes nodeport TCP port for masquerade purpose\" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ "),
			pass:    true,
		},
		{
			name:    "closest rule is marked",
			actual:  s,
			matcher: HaveRule("nat", "KUBE-SERVICES", "-m set --match-set KUBE-CLUSTER-IP dst,dst -j DROP"),
			contains: []string{
				"    -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j DROP\nbut chain KUBE-SERVICES has 3 rules, none of them this one.",
				"iptables -t nat -S KUBE-SERVICES on node \"node1\":\n  -N KUBE-SERVICES\n",
				"> -A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT",
			},
		},
		{
			name:     "nothing close",
			actual:   s,
			matcher:  HaveRule("nat", "KUBE-NODE-PORT", "-s 10.0.0.0/8 -j RETURN"),
			contains: []string{"(nothing close: no rule shares half of the expected arguments)"},
		},
		{
			name:     "no such chain: the table is listed",
			actual:   s,
			matcher:  HaveRule("nat", "KUBE-LOAD-BALANCER", "-j KUBE-MARK-MASQ"),
			contains: []string{"but there is no chain KUBE-LOAD-BALANCER.", "  -N KUBE-NODE-PORT\n"},
		},
	})
}

func TestHaveAtMostRules(t *testing.T) {
	s := seedNode()
	run(t, []matcherCase{
		{name: "whole table", actual: s, matcher: HaveAtMostRules("nat", "", 20), pass: true,
			contains: []string{`Expected table nat on node "node1" to have more than 20 rules, but it has 7.`}},
		{name: "exactly at the bound", actual: s, matcher: HaveAtMostRules("nat", "", 7), pass: true},
		{name: "over the bound", actual: s, matcher: HaveAtMostRules("nat", "", 6),
			contains: []string{"to have at most 6 rules, but it has 7.", "iptables -t nat -S on node \"node1\":\n  -P PREROUTING ACCEPT\n"}},
		{name: "one chain", actual: s, matcher: HaveAtMostRules("nat", "KUBE-SERVICES", 2),
			contains: []string{"Expected chain KUBE-SERVICES of table nat", "but it has 3.", "iptables -t nat -S KUBE-SERVICES"}},
	})
}

func TestHaveNoChainWithPrefix(t *testing.T) {
	s := seedNode()
	leftovers := seedNode()
	nat := &leftovers.IPTables.Tables[0]
	nat.Chains = append(nat.Chains,
		dataplane.Chain{Name: "KUBE-SVC-ERIFXISQEP7F7OF4", Policy: "-", Rules: []dataplane.Rule{{Spec: "-j KUBE-SEP-IT2ZTR26TO4XFPTO"}}},
		dataplane.Chain{Name: "KUBE-SVC-NPX46M4PTMTKRN6Y", Policy: "-"})
	run(t, []matcherCase{
		{name: "ipvs mode", actual: s, matcher: HaveNoChainWithPrefix("nat", "KUBE-SVC-"), pass: true,
			contains: []string{"to have a chain starting with KUBE-SVC-, but it has none."}},
		{name: "iptables-mode leftovers", actual: leftovers, matcher: HaveNoChainWithPrefix("nat", "KUBE-SVC-"),
			contains: []string{
				"but it has 2 such chains: KUBE-SVC-ERIFXISQEP7F7OF4, KUBE-SVC-NPX46M4PTMTKRN6Y.",
				"> -N KUBE-SVC-ERIFXISQEP7F7OF4\n  -A KUBE-SVC-ERIFXISQEP7F7OF4 -j KUBE-SEP-IT2ZTR26TO4XFPTO\n> -N KUBE-SVC-NPX46M4PTMTKRN6Y\n",
				"kube-proxy --cleanup",
			}},
	})
}

func TestMatchState(t *testing.T) {
	want := seedNode()
	got := seedNode()
	got.Node = "node2"
	got.IPVS.Services[1].RealServers[0].ActiveConns = 4
	changed := seedNode()
	changed.IPVS.Services[1].RealServers[0].Weight = 0
	run(t, []matcherCase{
		{name: "equal but for counters and node name", actual: got, matcher: MatchState(want), pass: true,
			contains: []string{`Expected the dataplane on node "node2" to differ from the given state, but it matches it.`}},
		{name: "weight changed", actual: &changed, matcher: MatchState(want),
			contains: []string{"it differs:\n--- ipvs (ipvsadm -Ln)", "~   -> 10.244.3.214:80              Masq    0      0          0   (want weight 1)"}},
	})
}

// TestFailureMessageGolden pins one whole failure message: the expected block, the reason,
// the node's table with the closest lines marked.
func TestFailureMessageGolden(t *testing.T) {
	s := seedNode()
	s.IPVS.Services[1].Scheduler = "wrr"
	s.IPVS.Services[1].RealServers[0].Port = 8080
	msg := outcome(t, s, HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithScheduler("rr"),
		WithRealServer("10.244.3.214:80", dataplane.Masq, 1)), false)
	fixture.Golden(t, filepath.Join("testdata", "have_virtual_server.golden"), msg, *update)
}
