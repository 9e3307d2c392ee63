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
			{Name: "KUBE-NODE-PORT-TCP", Type: "bitmap:port", PortRange: "0-65535", Members: []string{"30089", "31000"}},
			{Name: "KUBE-CLUSTER-IP", Type: "hash:ip,port", Family: "inet", HashSize: 1024, MaxElem: 65536,
				Members: []string{"10.106.71.137,tcp:80"}},
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
				got.IPSets[0].Members = []string{"31000", "30090"}
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
			diff := Diff(want, got)
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
	want := "~ UDP  10.96.0.10:53 rr   (want netmask /32)\n"
	if got != want {
		t.Errorf("DiffIPVS = %q, want %q", got, want)
	}
}

func TestDiffDoesNotReorderItsArguments(t *testing.T) {
	want, got := seedState(), seedState()
	slices.Reverse(got.IPVS.Services)
	before := got.IPVS.Services[1].RealServers[0]
	if d := Diff(want, got); d != "" {
		t.Fatalf("Diff of reordered states: %s", d)
	}
	if got.IPVS.Services[0].Port != 30089 || got.IPVS.Services[1].RealServers[0] != before {
		t.Errorf("Diff sorted the caller's slices: %+v", got.IPVS.Services)
	}
}

func TestLCSDiff(t *testing.T) {
	cases := []struct {
		want, got []string
		out       []string
	}{
		{nil, nil, nil},
		{[]string{"a", "b"}, []string{"a", "b"}, []string{"  a", "  b"}},
		{[]string{"a", "b", "c"}, []string{"a", "c"}, []string{"  a", "- b", "  c"}},
		{[]string{"a"}, []string{"b", "a"}, []string{"+ b", "  a"}},
		{[]string{"a", "b"}, []string{"b", "a"}, []string{"- a", "  b", "+ a"}},
	}
	for _, tc := range cases {
		if out := lcsDiff(tc.want, tc.got); !slices.Equal(out, tc.out) {
			t.Errorf("lcsDiff(%q, %q) = %q, want %q", tc.want, tc.got, out, tc.out)
		}
	}
	// Past the size bound, lines are compared as multisets.
	big := make([]string, 3000)
	for i := range big {
		big[i] = fmt.Sprintf("-A KUBE-SERVICES rule %d", i)
	}
	out := lcsDiff(big, append(slices.Clone(big[1:]), "-A new"))
	var marked []string
	for _, l := range out {
		if !strings.HasPrefix(l, "  ") {
			marked = append(marked, l)
		}
	}
	if !slices.Equal(marked, []string{"- -A KUBE-SERVICES rule 0", "+ -A new"}) {
		t.Errorf("large diff marked %q, want the removed and the added rule", marked)
	}
}
