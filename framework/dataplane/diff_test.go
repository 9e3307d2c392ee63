package dataplane

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// seedState is the seed's service-test1 on one node: a ClusterIP and a NodePort virtual
// server, the address on kube-ipvs0, the node-port set and the masquerade rule.
func seedState() State {
	rs := func(addr string, weight int) RealServer {
		return RealServer{Address: netip.MustParseAddr(addr), Port: 80, Forward: Masq, Weight: weight}
	}
	return State{
		Node: "kind-worker",
		IPVS: IPVS{
			Services: []VirtualServer{
				{Protocol: TCP, Address: netip.MustParseAddr("10.106.71.137"), Port: 80, Scheduler: "rr",
					RealServers: []RealServer{rs("10.244.3.214", 1), rs("10.244.1.7", 1)}},
				{Protocol: TCP, Address: netip.MustParseAddr("172.18.0.2"), Port: 30089, Scheduler: "rr",
					RealServers: []RealServer{rs("10.244.3.214", 1)}},
			},
			Timeouts: Timeouts{TCP: 900, TCPFin: 120, UDP: 300},
		},
		Links: []Link{
			{Name: "eth0", Index: 9, Kind: "veth", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("172.18.0.2/16")}},
			{Name: KubeIPVSInterface, Index: 3, Kind: "dummy", Addrs: []netip.Prefix{
				netip.MustParsePrefix("10.96.0.1/32"), netip.MustParsePrefix("10.106.71.137/32")}},
		},
		IPSets: []IPSet{
			{Name: "KUBE-NODE-PORT-TCP", Type: "bitmap:port", PortRange: "0-65535", Members: MustParseMembers("bitmap:port", "30089", "31000")},
			{Name: "KUBE-CLUSTER-IP", Type: "hash:ip,port", Family: "inet", HashSize: 1024, MaxElem: 65536,
				Members: MustParseMembers("hash:ip,port", "10.106.71.137,tcp:80")},
		},
		IPTables: Ruleset{Tables: []Table{{Name: "nat", Chains: []Chain{
			{Name: "PREROUTING", Policy: "ACCEPT", Rules: []Rule{{Spec: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`}}},
			{Name: "KUBE-NODE-PORT", Policy: "-", Rules: []Rule{
				{Spec: `-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`}}},
			{Name: "KUBE-MARK-MASQ", Policy: "-", Rules: []Rule{{Spec: "-j MARK --set-xmark 0x4000/0x4000"}}},
		}}}},
	}
}

// trimLines drops the padding ipvsadm leaves at the end of real server lines, so that
// expectations can be written without it.
func trimLines(s string) string {
	return regexp.MustCompile(`(?m) +$`).ReplaceAllString(s, "")
}

func TestDiff(t *testing.T) {
	cases := []struct {
		name   string
		change func(got *State)
		want   string
	}{
		{
			name: "order, counters, node and link index are ignored",
			change: func(got *State) {
				got.Node = "other"
				slices.Reverse(got.IPVS.Services)
				slices.Reverse(got.IPVS.Services[1].RealServers)
				got.IPVS.Services[1].RealServers[0].ActiveConns = 7
				got.IPVS.Services[1].RealServers[1].InactiveConns = 3
				slices.Reverse(got.Links)
				got.Links[0].Index = 42
				slices.Reverse(got.Links[0].Addrs)
				slices.Reverse(got.IPSets)
				slices.Reverse(got.IPSets[1].Members)
			},
			want: "",
		},
		{
			name:   "unknown timeouts are not compared",
			change: func(got *State) { got.IPVS.Timeouts = Timeouts{TCP: 900} },
			want:   "",
		},
		{
			name: "missing and unexpected virtual servers",
			change: func(got *State) {
				got.IPVS.Services[0].Address = netip.MustParseAddr("10.106.71.138")
			},
			want: `--- ipvs (ipvsadm -Ln): - missing, + unexpected, ~ changed
- TCP  10.106.71.137:80 rr
-   -> 10.244.1.7:80                Masq    1      0          0
-   -> 10.244.3.214:80              Masq    1      0          0
+ TCP  10.106.71.138:80 rr
+   -> 10.244.1.7:80                Masq    1      0          0
+   -> 10.244.3.214:80              Masq    1      0          0
`,
		},
		{
			name: "changed scheduler and persistence",
			change: func(got *State) {
				got.IPVS.Services[1].Scheduler = "wrr"
				got.IPVS.Services[1].Persistent, got.IPVS.Services[1].Timeout = true, 10800
			},
			want: `--- ipvs (ipvsadm -Ln): - missing, + unexpected, ~ changed
~ TCP  172.18.0.2:30089 wrr persistent 10800   (want scheduler rr, not persistent)
    -> 10.244.3.214:80              Masq    1      0          0
`,
		},
		{
			name: "real servers missing, unexpected and changed",
			change: func(got *State) {
				vs := &got.IPVS.Services[0]
				vs.RealServers[0].Weight = 0
				vs.RealServers[1].Address = netip.MustParseAddr("10.244.2.9")
			},
			want: `--- ipvs (ipvsadm -Ln): - missing, + unexpected, ~ changed
  TCP  10.106.71.137:80 rr
-   -> 10.244.1.7:80                Masq    1      0          0
+   -> 10.244.2.9:80                Masq    1      0          0
~   -> 10.244.3.214:80              Masq    0      0          0   (want weight 1)
`,
		},
		{
			name:   "changed timeouts",
			change: func(got *State) { got.IPVS.Timeouts.UDP = 30 },
			want: `--- ipvs (ipvsadm -Ln): - missing, + unexpected, ~ changed
~ Timeout (tcp tcpfin udp): 900 120 30   (want udp 300)
`,
		},
		{
			name: "kube-ipvs0 address missing, link down",
			change: func(got *State) {
				got.Links[1].Addrs = got.Links[1].Addrs[:1]
				got.Links[0].Up = false
			},
			want: `--- links (ip addr): - missing, + unexpected, ~ changed
- 9: eth0: <UP>
+ 9: eth0: <DOWN>
      link/veth
      inet 172.18.0.2/16
  3: kube-ipvs0: <DOWN>
      link/dummy
      inet 10.96.0.1/32
-     inet 10.106.71.137/32
`,
		},
		{
			name: "ipset members and a missing set",
			change: func(got *State) {
				got.IPSets[0].Members = MustParseMembers(SetBitmapPort, "31000", "30090")
				got.IPSets = got.IPSets[:1]
			},
			want: `--- ipsets (ipset save): - missing, + unexpected, ~ changed
- create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
- add KUBE-CLUSTER-IP 10.106.71.137,tcp:80
  create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
- add KUBE-NODE-PORT-TCP 30089
+ add KUBE-NODE-PORT-TCP 30090
  add KUBE-NODE-PORT-TCP 31000
`,
		},
		{
			name: "iptables rules: missing chain, changed rule, rule order",
			change: func(got *State) {
				nat := &got.IPTables.Tables[0]
				nat.Chains[1].Rules[0].Spec = strings.Replace(nat.Chains[1].Rules[0].Spec, "dst", "src", 1)
				nat.Chains[0].Rules = append(nat.Chains[0].Rules, Rule{Spec: "-j KUBE-NODE-PORT"})
				nat.Chains = nat.Chains[:2]
			},
			want: `--- iptables: - missing, + unexpected, ~ changed
iptables -t nat -S
  -P PREROUTING ACCEPT
  -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
+ -A PREROUTING -j KUBE-NODE-PORT
  -N KUBE-NODE-PORT
- -A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
+ -A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP src -j KUBE-MARK-MASQ
- -N KUBE-MARK-MASQ
- -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
`,
		},
		{
			name: "ip6tables only in got",
			change: func(got *State) {
				got.IP6Tables = Ruleset{Tables: []Table{{Name: "filter", Chains: []Chain{{Name: "INPUT", Policy: "DROP"}}}}}
			},
			want: `--- ip6tables: - missing, + unexpected, ~ changed
ip6tables -t filter -S
+ -P INPUT DROP
`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, got := seedState(), seedState()
			tc.change(&got)
			diff := Diff(want, got).String()
			if trimLines(diff) != tc.want {
				t.Errorf("Diff:\n%s\nwant:\n%s", diff, tc.want)
			}
			if eq := Equal(want, got); eq != (tc.want == "") {
				t.Errorf("Equal = %t, want %t", eq, tc.want == "")
			}
		})
	}
}

// A virtual server that differs only in a field ipvsadm does not print (the netmask of a
// service without persistence) is still a difference, and the note says which field.
func TestDiffIPVSUnprintedField(t *testing.T) {
	vs := VirtualServer{Protocol: UDP, Address: netip.MustParseAddr("10.96.0.10"), Port: 53, Scheduler: "rr"}
	other := vs
	other.PrefixLen = 24
	got := DiffIPVS(IPVS{Services: []VirtualServer{vs}}, IPVS{Services: []VirtualServer{other}})
	want := Differences{{Section: SectionIPVS, Scope: "UDP 10.96.0.10:53", Key: "UDP 10.96.0.10:53", Kind: Changed,
		Want: "UDP  10.96.0.10:53 rr", Got: "UDP  10.96.0.10:53 rr", Note: "netmask /32"}}
	if !slices.Equal(got, want) {
		t.Errorf("DiffIPVS = %+v, want %+v", got, want)
	}
	if s := got.String(); !strings.HasSuffix(s, "\n~ UDP  10.96.0.10:53 rr   (want netmask /32)\n") {
		t.Errorf("printed:\n%s", s)
	}
}

func TestDiffDoesNotReorderItsArguments(t *testing.T) {
	want, got := seedState(), seedState()
	slices.Reverse(got.IPVS.Services)
	before := got.IPVS.Services[1].RealServers[0]
	if d := Diff(want, got); len(d) > 0 {
		t.Fatalf("Diff of reordered states: %s", d)
	}
	if got.IPVS.Services[0].Port != 30089 || got.IPVS.Services[1].RealServers[0] != before {
		t.Errorf("Diff sorted the caller's slices: %+v", got.IPVS.Services)
	}
}

// changed lists the differences that are not context, in print order.
func changed(ds Differences) Differences {
	var out Differences
	for _, d := range ds {
		if d.Kind != Same {
			out = append(out, d)
		}
	}
	return out
}

func TestDiffTyped(t *testing.T) {
	rsLine := func(addr string, weight int) string {
		return fmt.Sprintf("  -> %-28s Masq    %-6d 0          0         ", addr, weight)
	}
	cases := []struct {
		name   string
		change func(got *State)
		want   Differences
	}{
		{
			name: "a real server missing, one extra, one changed",
			change: func(got *State) {
				vs := &got.IPVS.Services[0]
				vs.RealServers[0].Weight = 0
				vs.RealServers[1].Address = netip.MustParseAddr("10.244.2.9")
			},
			want: Differences{
				{Section: SectionIPVS, Scope: "TCP 10.106.71.137:80", Key: "10.244.1.7:80", Kind: Missing, Want: rsLine("10.244.1.7:80", 1)},
				{Section: SectionIPVS, Scope: "TCP 10.106.71.137:80", Key: "10.244.2.9:80", Kind: Extra, Got: rsLine("10.244.2.9:80", 1)},
				{Section: SectionIPVS, Scope: "TCP 10.106.71.137:80", Key: "10.244.3.214:80", Kind: Changed,
					Want: rsLine("10.244.3.214:80", 1), Got: rsLine("10.244.3.214:80", 0), Note: "weight 1"},
			},
		},
		{
			name:   "timeouts",
			change: func(got *State) { got.IPVS.Timeouts.UDP = 30 },
			want: Differences{{Section: SectionIPVS, Scope: "timeouts", Key: "timeouts", Kind: Changed,
				Want: "Timeout (tcp tcpfin udp): 900 120 300", Got: "Timeout (tcp tcpfin udp): 900 120 30", Note: "udp 300"}},
		},
		{
			name:   "an address of kube-ipvs0",
			change: func(got *State) { got.Links[1].Addrs = got.Links[1].Addrs[:1] },
			want: Differences{{Section: SectionLinks, Scope: "kube-ipvs0", Key: "10.106.71.137/32", Kind: Missing,
				Want: "    inet 10.106.71.137/32"}},
		},
		{
			name: "a set member",
			change: func(got *State) {
				got.IPSets[0].Members = append(slices.Clone(got.IPSets[0].Members), Member{Port: 30090})
			},
			want: Differences{{Section: SectionIPSets, Scope: "KUBE-NODE-PORT-TCP", Key: "30090", Kind: Extra,
				Got: "add KUBE-NODE-PORT-TCP 30090"}},
		},
		{
			name: "a rule, in IPv6",
			change: func(got *State) {
				got.IP6Tables = got.IPTables
				got.IPTables = Ruleset{}
			},
			want: Differences{
				{Section: SectionIPTables, Scope: "nat", Key: "PREROUTING", Kind: Missing, Want: "-P PREROUTING ACCEPT"},
				{Section: SectionIPTables, Scope: "nat", Key: "PREROUTING", Kind: Missing,
					Want: `-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, got := seedState(), seedState()
			tc.change(&got)
			d := changed(Diff(want, got))
			if len(tc.want) < len(d) && tc.want[0].Section == SectionIPTables {
				d = d[:len(tc.want)] // the rest is the same chains again, in ip6tables
			}
			if !slices.Equal(d, tc.want) {
				t.Errorf("Diff:\n%+v\nwant:\n%+v", d, tc.want)
			}
		})
	}
}

// inspectedState is the seed's state as the node inspector reads it: with sysctls and the
// conntrack table's size.
func inspectedState() State {
	s := seedState()
	s.Sysctls = map[string]string{"net.ipv4.vs.conntrack": "1", "net.ipv4.ip_forward": "1"}
	s.Conntrack = &Conntrack{Count: 12, Max: 131072}
	return s
}

// Sysctls and the conntrack limit are compared only when both sides read them, the
// conntrack count never, and their lines print as sysctl prints them.
func TestDiffSysctlsAndConntrack(t *testing.T) {
	cases := []struct {
		name        string
		want, got   func(*State)
		differences Differences
	}{
		{name: "neither side read them", want: func(s *State) { s.Sysctls, s.Conntrack = nil, nil }, got: func(s *State) { s.Sysctls, s.Conntrack = nil, nil }},
		{name: "only got read them (node.ReadState against the inspector)", want: func(s *State) { s.Sysctls, s.Conntrack = nil, nil }, got: func(*State) {}},
		{name: "only want read them", want: func(*State) {}, got: func(s *State) { s.Sysctls, s.Conntrack = nil, nil }},
		{name: "the count is the kernel's", want: func(*State) {}, got: func(s *State) { s.Conntrack.Count = 5000 }},
		{
			name: "a sysctl changed, one missing, one extra",
			want: func(*State) {},
			got: func(s *State) {
				s.Sysctls = map[string]string{"net.ipv4.ip_forward": "0", "net.ipv4.vs.expire_nodest_conn": "1"}
			},
			differences: Differences{
				{Section: SectionSysctls, Scope: "net.ipv4.ip_forward", Key: "net.ipv4.ip_forward", Kind: Changed,
					Want: "net.ipv4.ip_forward = 1", Got: "net.ipv4.ip_forward = 0", Note: "1"},
				{Section: SectionSysctls, Scope: "net.ipv4.vs.conntrack", Key: "net.ipv4.vs.conntrack", Kind: Missing,
					Want: "net.ipv4.vs.conntrack = 1"},
				{Section: SectionSysctls, Scope: "net.ipv4.vs.expire_nodest_conn", Key: "net.ipv4.vs.expire_nodest_conn", Kind: Extra,
					Got: "net.ipv4.vs.expire_nodest_conn = 1"},
			},
		},
		{
			name: "the conntrack limit",
			want: func(*State) {},
			got:  func(s *State) { s.Conntrack = &Conntrack{Count: 1, Max: 65536} },
			differences: Differences{{Section: SectionConntrack, Scope: "nf_conntrack_max", Key: "nf_conntrack_max", Kind: Changed,
				Want: "nf_conntrack_max = 131072", Got: "nf_conntrack_max = 65536", Note: "max 131072"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, got := inspectedState(), inspectedState()
			tc.want(&want)
			tc.got(&got)
			d := Diff(want, got)
			if !slices.Equal(d, tc.differences) {
				t.Errorf("Diff:\n%+v\nwant:\n%+v", d, tc.differences)
			}
			if eq := Equal(want, got); eq != (len(tc.differences) == 0) {
				t.Errorf("Equal = %t, Diff:\n%s", eq, d)
			}
		})
	}
	d := Diff(inspectedState(), State{IPVS: inspectedState().IPVS, Links: inspectedState().Links, IPSets: inspectedState().IPSets,
		IPTables: inspectedState().IPTables, Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}, Conntrack: &Conntrack{}})
	want := `--- sysctls (sysctl): - missing, + unexpected, ~ changed
- net.ipv4.vs.conntrack = 1
--- conntrack: - missing, + unexpected, ~ changed
~ nf_conntrack_max = 0   (want max 131072)
`
	if d.String() != want {
		t.Errorf("String:\n%s\nwant:\n%s", d, want)
	}
}

// outFilter is KUBE-IPVS-OUT-FILTER of a load balancer with two ports whose source ranges
// leave the node out, as upstream writes it: the two DROP rules in Go map order.
func outFilter(specs ...string) State {
	var rules []Rule
	for _, s := range specs {
		rules = append(rules, Rule{Spec: s})
	}
	return State{IPTables: Ruleset{Tables: []Table{{Name: "filter", Chains: []Chain{
		{Name: "KUBE-IPVS-OUT-FILTER", Policy: "-", Rules: rules},
	}}}}}
}

const (
	drop80  = "-s 203.0.113.20/32 -m ipvs --vproto 6 --vaddr 203.0.113.20 --vport 80 -j DROP"
	drop443 = "-s 203.0.113.20/32 -m ipvs --vproto 6 --vaddr 203.0.113.20 --vport 443 -j DROP"
	accept  = "-m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT"
	limited = "-m limit --limit 1/s -j DROP"
)

func TestDiffRuleOrder(t *testing.T) {
	cases := []struct {
		name      string
		want, got []string
		// out is what Diff prints, "" for no difference.
		out string
	}{
		{
			name: "DROP rules in map order are no difference",
			want: []string{drop80, drop443}, got: []string{drop443, drop80},
		},
		{
			name: "an order-free run between other rules",
			want: []string{accept, drop80, drop443, "-j KUBE-MARK-MASQ"}, got: []string{accept, drop443, drop80, "-j KUBE-MARK-MASQ"},
		},
		{
			name: "a rule that only moved is moved, not missing and unexpected",
			want: []string{drop80, accept}, got: []string{accept, drop80},
			out: `--- iptables: - missing, + unexpected, ~ changed, > moved
iptables -t filter -S
  -N KUBE-IPVS-OUT-FILTER
  -A KUBE-IPVS-OUT-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT
> -A KUBE-IPVS-OUT-FILTER -s 203.0.113.20/32 -m ipvs --vproto 6 --vaddr 203.0.113.20 --vport 80 -j DROP   (want it as rule 1)
`,
		},
		{
			name: "a match that keeps state makes the order count",
			want: []string{limited, drop80}, got: []string{drop80, limited},
			out: `--- iptables: - missing, + unexpected, ~ changed, > moved
iptables -t filter -S
  -N KUBE-IPVS-OUT-FILTER
  -A KUBE-IPVS-OUT-FILTER -s 203.0.113.20/32 -m ipvs --vproto 6 --vaddr 203.0.113.20 --vport 80 -j DROP
> -A KUBE-IPVS-OUT-FILTER -m limit --limit 1/s -j DROP   (want it as rule 1)
`,
		},
		{
			name: "a rule missing from a run in another order is only missing",
			want: []string{drop80, drop443, accept}, got: []string{drop443, accept},
			out: `--- iptables: - missing, + unexpected, ~ changed
iptables -t filter -S
  -N KUBE-IPVS-OUT-FILTER
  -A KUBE-IPVS-OUT-FILTER -s 203.0.113.20/32 -m ipvs --vproto 6 --vaddr 203.0.113.20 --vport 443 -j DROP
- -A KUBE-IPVS-OUT-FILTER -s 203.0.113.20/32 -m ipvs --vproto 6 --vaddr 203.0.113.20 --vport 80 -j DROP
  -A KUBE-IPVS-OUT-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT
`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, got := outFilter(tc.want...), outFilter(tc.got...)
			d := Diff(want, got)
			if s := d.String(); s != tc.out {
				t.Errorf("Diff:\n%s\nwant:\n%s", s, tc.out)
			}
			if eq := Equal(want, got); eq != (tc.out == "") {
				t.Errorf("Equal = %t, want %t", eq, tc.out == "")
			}
			if eq := Equal(got, want); eq != (tc.out == "") {
				t.Errorf("Equal with the sides swapped = %t, want %t", eq, tc.out == "")
			}
			for _, l := range d {
				if l.Kind == Moved && (l.Want != l.Got || l.Note == "") {
					t.Errorf("moved line %+v: want the same text on both sides and where want has it", l)
				}
			}
		})
	}
}

func TestOrderFreeVerdict(t *testing.T) {
	for _, tc := range []struct {
		spec, verdict string
	}{
		{drop80, "DROP"},
		{accept, "ACCEPT"},
		{"-p tcp -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable", "REJECT --reject-with icmp-port-unreachable"},
		{`-m comment --comment "a -j MARK in a comment" -j RETURN`, "RETURN"},
		{"-j KUBE-MARK-MASQ", ""},
		{"-j MARK --set-xmark 0x4000/0x4000", ""},
		{limited, ""},
		{"-m statistic --mode random --probability 0.5 -j ACCEPT", ""},
		{"-g KUBE-X", ""},
		{"-s 10.0.0.0/8", ""},
	} {
		v, ok := orderFreeVerdict(Rule{Spec: tc.spec})
		if v != tc.verdict || ok != (tc.verdict != "") {
			t.Errorf("orderFreeVerdict(%q) = %q, %t; want %q", tc.spec, v, ok, tc.verdict)
		}
	}
}

// Equal compares the values and Diff prints them; they agree on every case above and on
// changes to every field Diff compares.
func TestEqualAgreesWithDiff(t *testing.T) {
	changes := []func(*State){
		func(s *State) {},
		func(s *State) { s.Node = "x"; s.Links[0].Index = 7 },
		func(s *State) { s.IPVS.Services[0].Scheduler = "wrr" },
		func(s *State) { s.IPVS.Services[0].PrefixLen = 32 },
		func(s *State) { s.IPVS.Services[0].PrefixLen = 24 },
		func(s *State) { s.IPVS.Services[1].RealServers[0].Forward = Route },
		func(s *State) { s.IPVS.Services[1].RealServers[0].ActiveConns = 3 },
		func(s *State) { s.IPVS.Services = s.IPVS.Services[1:] },
		func(s *State) { s.IPVS.Timeouts = Timeouts{} },
		func(s *State) { s.IPVS.Timeouts.TCPFin = 1 },
		func(s *State) { s.Links[1].Kind = "" },
		func(s *State) { s.Links[1].Up = true },
		func(s *State) {
			s.Links[1].Addrs = []netip.Prefix{netip.MustParsePrefix("10.96.0.1/24"), s.Links[1].Addrs[1]}
		},
		func(s *State) { s.Links = append(s.Links, Link{Name: "lo"}) },
		func(s *State) { s.IPSets[0].PortRange = "30000-32767" },
		func(s *State) { s.IPSets[1].Comment = true },
		func(s *State) { s.IPSets[1].Members = nil },
		func(s *State) { s.IPSets = append(s.IPSets, IPSet{Name: "X", Type: SetHashIP}) },
		func(s *State) { s.IPTables.Tables[0].Chains[0].Policy = "DROP" },
		func(s *State) { s.IPTables.Tables[0].Chains[1].Policy = "" },
		func(s *State) { s.IPTables.Tables[0].Chains[2].Rules = nil },
		func(s *State) {
			s.IPTables.Tables[0].Chains = append(s.IPTables.Tables[0].Chains, Chain{Name: "KUBE-X", Policy: "-"})
		},
		func(s *State) { s.IPTables.Tables = append(s.IPTables.Tables, Table{Name: "mangle"}) },
		func(s *State) { s.IP6Tables = s.IPTables },
		func(s *State) { s.Sysctls = map[string]string{"net.ipv4.ip_forward": "0"} },
		func(s *State) { s.Sysctls["net.ipv4.ip_forward"] = "0" },
		func(s *State) { delete(s.Sysctls, "net.ipv4.vs.conntrack") },
		func(s *State) { s.Sysctls = nil },
		func(s *State) { s.Conntrack.Count = 99 },
		func(s *State) { s.Conntrack.Max = 1 },
		func(s *State) { s.Conntrack = nil },
	}
	for i, change := range changes {
		want, got := inspectedState(), inspectedState()
		change(&got)
		d := Diff(want, got)
		for _, pair := range [][2]State{{want, got}, {got, want}} {
			if eq := Equal(pair[0], pair[1]); eq != (len(d) == 0) {
				t.Errorf("change %d: Equal = %t, Diff:\n%s", i, eq, d)
			}
		}
	}
}

// Past the size bound of the line diff, lines are compared as multisets.
func TestDiffLargeChain(t *testing.T) {
	var rules []string
	for i := range 3000 {
		rules = append(rules, fmt.Sprintf("-m comment --comment rule%d -j KUBE-MARK-MASQ", i))
	}
	d := changed(Diff(outFilter(rules...), outFilter(append(slices.Clone(rules[1:]), "-j KUBE-NEW")...)))
	var marked []string
	for _, l := range d {
		marked = append(marked, l.Kind.Mark()+" "+l.Line())
	}
	want := []string{"- -A KUBE-IPVS-OUT-FILTER " + rules[0], "+ -A KUBE-IPVS-OUT-FILTER -j KUBE-NEW"}
	if !slices.Equal(marked, want) {
		t.Errorf("large diff marked %q, want %q", marked, want)
	}
}
