package dataplane

import (
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// The tests in this file read testdata/lab: what Debian's tools printed in the kernel lab
// about the dataplane hack/lab/capture/state.sh programmed (its sha256 is in the README).
// Each capture must parse to the values state.sh wrote, and where a format is canonical,
// print back byte for byte. Regenerating the captures (make lab-capture) may change the
// order the kernel lists services in, so the values are compared in a fixed order and the
// listing order is checked against the kernel's own order (SortIPVSAdm of /proc/net/ip_vs).

// labIPVS is the IPVS table state.sh programs, in its order.
func labIPVS() IPVS {
	rs := func(a string, port uint16, fwd Forwarding, weight int) RealServer {
		return RealServer{Address: addr(a), Port: port, Forward: fwd, Weight: weight}
	}
	return IPVS{Services: []VirtualServer{
		{Protocol: TCP, Family: 4, Address: addr("10.96.0.10"), Port: 80, Scheduler: "rr", RealServers: []RealServer{
			rs("10.244.1.5", 8080, Masq, 1), rs("10.244.2.7", 8080, Masq, 3), rs("10.244.3.9", 8080, Masq, 0)}},
		{Protocol: UDP, Family: 4, Address: addr("10.96.0.10"), Port: 53, Scheduler: "wrr", RealServers: []RealServer{
			rs("10.244.1.5", 53, Masq, 1), rs("10.244.2.7", 53, Masq, 1)}},
		{Protocol: TCP, Family: 4, Address: addr("192.168.10.5"), Port: 30080, Scheduler: "sh", SchedFlags: SchedFlag2,
			Persistent: true, Timeout: 10800, PrefixLen: 24, RealServers: []RealServer{rs("10.244.1.5", 8080, Masq, 1)}},
		{Protocol: SCTP, Family: 4, Address: addr("10.96.0.20"), Port: 9999, Scheduler: "mh", SchedFlags: SchedFlag1 | SchedFlag2,
			RealServers: []RealServer{rs("10.244.2.7", 9999, Masq, 1)}},
		{Protocol: TCP, Family: 6, Address: addr("fd00:10:96::a"), Port: 443, Scheduler: "rr", Persistent: true, Timeout: 180,
			RealServers: []RealServer{rs("fd00:10:244:1::5", 8443, Masq, 1)}},
		{Protocol: UDP, Family: 6, Address: addr("fd00:10:96::a"), Port: 53, Scheduler: "lc",
			RealServers: []RealServer{rs("fd00:10:244:1::5", 53, Masq, 1)}},
		{FWMark: 100, Family: 4, Scheduler: "wlc", RealServers: []RealServer{
			rs("10.244.1.5", 0, Route, 1), rs("10.244.2.7", 0, Tunnel, 3)}},
		{FWMark: 200, Family: 6, Scheduler: "rr", Persistent: true, Timeout: 60, PrefixLen: 64,
			RealServers: []RealServer{rs("fd00:10:244:1::5", 0, Route, 1)}},
		{Protocol: UDP, Family: 4, Address: addr("10.96.0.30"), Port: 514, Scheduler: "rr", OnePacket: true,
			RealServers: []RealServer{rs("10.244.1.5", 514, Masq, 1)}},
		{Protocol: UDP, Family: 6, Address: addr("fd00:10:96::1e"), Port: 514, Scheduler: "rr", OnePacket: true,
			Persistent: true, Timeout: 120, RealServers: []RealServer{rs("fd00:10:244:1::5", 514, Masq, 1)}},
		{FWMark: 300, Family: 4, Scheduler: "rr", OnePacket: true, RealServers: []RealServer{rs("10.244.1.5", 0, Route, 1)}},
		{FWMark: 2147483653, Family: 4, Scheduler: "rr", RealServers: []RealServer{rs("10.244.2.7", 0, Route, 1)}},
		{Protocol: TCP, Family: 4, Address: addr("172.18.0.2"), Port: 30089, Scheduler: "rr", RealServers: []RealServer{
			rs("10.244.3.214", 80, Masq, 1), rs("192.168.7.7", 80, Masq, 1)}},
		{Protocol: TCP, Family: 4, Address: addr("100.64.0.1"), Port: 443, Scheduler: "wrr", RealServers: []RealServer{
			rs("172.18.0.3", 6443, Masq, 1), rs("10.0.0.5", 6443, Masq, 3)}},
	}}
}

// sortedIPVS is a sorted deep copy, for comparing tables listed in different orders.
func sortedIPVS(v IPVS) IPVS {
	out := IPVS{Services: slices.Clone(v.Services), Timeouts: v.Timeouts}
	for i := range out.Services {
		out.Services[i].RealServers = slices.Clone(out.Services[i].RealServers)
	}
	out.Sort()
	return out
}

func requireEqualIPVS(t *testing.T, what string, got, want IPVS) {
	t.Helper()
	if g, w := sortedIPVS(got), sortedIPVS(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s =\n%s\nwant\n%s\ndiff:\n%s", what, FormatIPVSAdm(g, false), FormatIPVSAdm(w, false), DiffIPVS(w, g))
	}
}

// parseLab reads testdata/lab/name with parse, which must accept it; it returns the value
// and the text.
func parseLab[T any](t *testing.T, name string, parse func(string) (T, error)) (T, string) {
	t.Helper()
	text := fixture.Read(t, "lab/"+name)
	return mustParse(t, parse, text), text
}

func TestLabIPVSAdmList(t *testing.T) {
	got, text := parseLab(t, "ipvsadm-Ln.txt", ParseIPVSAdm)
	requireEqualIPVS(t, "ParseIPVSAdm(ipvsadm -Ln)", got, labIPVS())
	if out := FormatIPVSAdm(got, true); out != text {
		t.Errorf("FormatIPVSAdm(ParseIPVSAdm(x)) differs from ipvsadm -Ln:\n%s\nwant\n%s", out, text)
	}
	// The capture holds the cases this format has quirks for.
	fixture.Contains(t, "the ipvsadm -Ln capture (make lab-capture regenerates it)", text,
		"FWM  -2147483643 rr\n",                             // a mark of 2^31 or more, printed with %d
		"UDP  [fd00:10:96::1e]:514 rr persistent 120 ops\n", // ops after persistence
		"SCTP 10.96.0.20:9999 mh (mh-fallback,mh-port)\n",   // "%-4s" leaves one blank after SCTP
		"TCP  192.168.10.5:30080 sh (sh-port) persistent 10800 mask 255.255.255.0\n",
		"FWM  200 IPv6 rr persistent 60 mask 64\n",
		"  -> 10.244.2.7:0                 Tunnel  3      0          0         \n",
	)
}

// ipvsadm lists services and real servers by sorting the kernel's order (which
// /proc/net/ip_vs shows too, captured in the same guest) with libipvs' comparators.
func TestLabIPVSAdmOrderIsSortIPVSAdmOfKernelOrder(t *testing.T) {
	list, _ := parseLab(t, "ipvsadm-Ln.txt", ParseIPVSAdm)
	kernelOrder, _ := parseLab(t, "proc-net-ip_vs.txt", ParseProcIPVS)
	SortIPVSAdm(&kernelOrder)
	if got, want := keyOrder(kernelOrder), keyOrder(list); !slices.Equal(got, want) {
		t.Errorf("SortIPVSAdm(kernel order) =\n  %s\nipvsadm -Ln lists\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// The capture must be one where order matters: a plain sort gives another order.
	plain := sortedIPVS(list)
	if slices.Equal(keyOrder(plain), keyOrder(list)) {
		t.Errorf("ipvsadm -Ln capture is in plain sorted order; it no longer exercises libipvs' wrap-around comparison")
	}
}

func TestLabIPVSAdmTimeouts(t *testing.T) {
	got, text := parseLab(t, "ipvsadm-Ln-timeout.txt", ParseIPVSAdmTimeouts)
	if want := (Timeouts{TCP: 900, TCPFin: 120, UDP: 300}); got != want {
		t.Errorf("ParseIPVSAdmTimeouts = %+v, want %+v (ipvsadm --set 900 120 300)", got, want)
	}
	if out := FormatIPVSAdmTimeouts(got); out != text {
		t.Errorf("FormatIPVSAdmTimeouts = %q, want %q", out, text)
	}
}

func TestLabIPVSAdmSave(t *testing.T) {
	got, text := parseLab(t, "ipvsadm-Sn.txt", ParseIPVSAdmSave)
	requireEqualIPVS(t, "ParseIPVSAdmSave(ipvsadm -Sn)", got, labIPVS())
	if out := FormatIPVSAdmSave(got); out != text {
		t.Errorf("FormatIPVSAdmSave(ParseIPVSAdmSave(x)) differs from ipvsadm -Sn:\n%s\nwant\n%s", out, text)
	}
	// Both ipvsadm outputs of one table list it in the same order with the same values.
	list, _ := parseLab(t, "ipvsadm-Ln.txt", ParseIPVSAdm)
	if !reflect.DeepEqual(got, list) {
		t.Errorf("ipvsadm -Sn and ipvsadm -Ln read differently:\n%s\nvs\n%s", FormatIPVSAdm(got, false), FormatIPVSAdm(list, false))
	}
}

// /proc/net/ip_vs holds what ipvsadm -Ln shows except the scheduler flags, and ops of IPv6
// address services, which ip_vs_info_seq_show does not print.
func TestLabProcIPVS(t *testing.T) {
	got, text := parseLab(t, "proc-net-ip_vs.txt", ParseProcIPVS)
	want := labIPVS()
	for i, vs := range want.Services {
		want.Services[i].SchedFlags = 0
		if vs.FWMark == 0 && vs.IsIPv6() {
			want.Services[i].OnePacket = false
		}
	}
	requireEqualIPVS(t, "ParseProcIPVS(/proc/net/ip_vs)", got, want)
	if out := FormatProcIPVS(got, DebianKernelHZ); out != text {
		t.Errorf("FormatProcIPVS(ParseProcIPVS(x)) differs from the kernel's:\n%s\nwant\n%s", out, text)
	}
	list, _ := parseLab(t, "ipvsadm-Ln.txt", ParseIPVSAdm)
	for i, vs := range list.Services {
		list.Services[i].SchedFlags = 0
		if vs.FWMark == 0 && vs.IsIPv6() {
			list.Services[i].OnePacket = false
		}
	}
	requireEqualIPVS(t, "ParseProcIPVS(/proc/net/ip_vs)", got, list)
}

// Every view of kube-ipvs0 (plain, detailed, JSON) reads as the link state.sh made.
func TestLabIPAddr(t *testing.T) {
	addrs := []netip.Prefix{prefix("10.96.0.10/32"), prefix("10.96.0.20/32"), prefix("fd00:10:96::a/128")}
	for _, c := range []struct {
		file, kind string
		parse      func(string) ([]Link, error)
	}{
		{"ip-addr-show-kube-ipvs0.txt", "ether", ParseIPAddr},
		{"ip-d-addr-show-kube-ipvs0.txt", "dummy", ParseIPAddr},
		{"ip-j-addr-show-kube-ipvs0.json", "ether", parseIPAddrJSONText},
		{"ip-j-d-addr-show-kube-ipvs0.json", "dummy", parseIPAddrJSONText},
	} {
		t.Run(c.file, func(t *testing.T) {
			links, _ := parseLab(t, c.file, c.parse)
			// The index is the one the guest kernel gave the link, as captured.
			want := []Link{{Name: KubeIPVSInterface, Index: 3, Kind: c.kind, Up: false, Addrs: addrs}}
			if !reflect.DeepEqual(links, want) {
				t.Errorf("links = %+v\nwant %+v", links, want)
			}
		})
	}
}

// labIPSets are the sets state.sh creates, in its order.
func labIPSets() []IPSet {
	hash := func(name, typ, family string, texts ...string) IPSet {
		return IPSet{Name: name, Type: typ, Family: family, HashSize: 1024, MaxElem: 65536, Members: MustParseMembers(typ, texts...)}
	}
	return []IPSet{
		hash("KUBE-CLUSTER-IP", SetHashIPPort, "inet", "10.96.0.10,tcp:80", "10.96.0.10,udp:53", "10.96.0.20,sctp:9999"),
		hash("KUBE-LOOP-BACK", SetHashIPPortIP, "inet", "10.244.1.5,tcp:8080,10.244.1.5"),
		hash("KUBE-LOAD-BALANCER-SOURCE-CIDR", SetHashIPPortNet, "inet", "192.0.2.10,tcp:80,203.0.113.0/24"),
		{Name: "KUBE-NODE-PORT-TCP", Type: SetBitmapPort, PortRange: "0-65535", Members: MustParseMembers(SetBitmapPort, "30080", "30443")},
		{Name: "KUBE-NODE-PORT-UDP", Type: SetBitmapPort, PortRange: "0-65535"},
		hash("KUBE-IPVS-IPS", SetHashIP, "inet", "10.96.0.10", "10.96.0.20"),
		hash("KUBE-6-CLUSTER-IP", SetHashIPPort, "inet6", "fd00:10:96::a,tcp:443"),
	}
}

func requireSets(t *testing.T, what string, got []IPSet) {
	t.Helper()
	want := labIPSets()
	names := func(sets []IPSet) []string {
		var out []string
		for _, s := range sets {
			out = append(out, s.Name)
		}
		return out
	}
	if g, w := names(got), names(want); !slices.Equal(g, w) {
		t.Errorf("%s lists sets %q, want %q (creation order)", what, g, w)
	}
	// Hash sets list their members in hash order, which the kernel seeds at random.
	if d := Diff(State{IPSets: want}, State{IPSets: got}); len(d) > 0 {
		t.Errorf("%s differs from what state.sh created:\n%s", what, d)
	}
}

// ipsetKernelOptions are the create options ipset 7.17 prints that the model drops: the
// kernel picks them (bucketsize) or seeds them at random (initval).
var ipsetKernelOptions = regexp.MustCompile(` bucketsize \d+ initval 0x[0-9a-f]+`)

func TestLabIPSetSave(t *testing.T) {
	got, text := parseLab(t, "ipset-save.txt", ParseIPSetSave)
	requireSets(t, "ParseIPSetSave(ipset save)", got)
	if n := len(ipsetKernelOptions.FindAllString(text, -1)); n != 5 {
		t.Errorf("ipset save capture has %d hash sets with bucketsize and initval, want 5", n)
	}
	if out, want := FormatIPSetSave(got), ipsetKernelOptions.ReplaceAllString(text, ""); out != want {
		t.Errorf("FormatIPSetSave(ParseIPSetSave(x)) differs from ipset save less bucketsize and initval:\n%s\nwant\n%s", out, want)
	}
	list, _ := parseLab(t, "ipset-list.txt", ParseIPSetList)
	requireSets(t, "ParseIPSetList(ipset list)", list)
	if !reflect.DeepEqual(list, got) {
		t.Errorf("ipset list and ipset save of one kernel read differently:\n%+v\nvs\n%+v", list, got)
	}
}

// labNAT is the nat table of iptables-save after state.sh's iptables-restore: chains
// sorted by name after the built-in ones, and the rules as iptables normalizes them
// ("--or-mark 0x4000" reads back as "--set-xmark 0x4000/0x4000").
func labNAT() Table {
	rules := func(specs ...string) []Rule {
		var out []Rule
		for _, s := range specs {
			out = append(out, Rule{Spec: s})
		}
		return out
	}
	return Table{Name: "nat", Chains: []Chain{
		{Name: "PREROUTING", Policy: "ACCEPT", Rules: rules(`-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`)},
		{Name: "INPUT", Policy: "ACCEPT"},
		{Name: "OUTPUT", Policy: "ACCEPT", Rules: rules(`-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`)},
		{Name: "POSTROUTING", Policy: "ACCEPT", Rules: rules(`-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`)},
		{Name: "KUBE-LOAD-BALANCER", Policy: "-", Rules: rules("-j KUBE-MARK-MASQ")},
		{Name: "KUBE-MARK-MASQ", Policy: "-", Rules: rules("-j MARK --set-xmark 0x4000/0x4000")},
		{Name: "KUBE-NODE-PORT", Policy: "-", Rules: rules(
			`-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`)},
		{Name: "KUBE-POSTROUTING", Policy: "-", Rules: rules(
			`-m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE`,
			"-m mark ! --mark 0x4000/0x4000 -j RETURN",
			"-j MARK --set-xmark 0x4000/0x0",
			`-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`)},
		{Name: "KUBE-SERVICES", Policy: "-", Rules: rules(
			`! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ`,
			"-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
			"-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT")},
	}}
}

// iptablesComments are the lines iptables-save adds that the model does not hold.
var iptablesComments = regexp.MustCompile(`(?m)^# (Generated by|Completed on) .*\n`)

func TestLabIPTablesSave(t *testing.T) {
	got, text := parseLab(t, "iptables-save.txt", ParseIPTablesSave)
	if names := []string{got.Tables[0].Name, got.Tables[len(got.Tables)-1].Name}; len(got.Tables) != 2 || names[0] != "filter" || names[1] != "nat" {
		t.Fatalf("iptables-save tables = %+v, want filter and nat", got.Tables)
	}
	if nat, _ := got.Table("nat"); !reflect.DeepEqual(nat, labNAT()) {
		t.Errorf("nat table =\n%s\nwant\n%s", FormatIPTablesS(got, "nat", ""), FormatIPTablesS(Ruleset{Tables: []Table{labNAT()}}, "nat", ""))
	}
	filter, _ := got.Table("filter")
	var chains []string
	for _, c := range filter.Chains {
		chains = append(chains, c.Name+" "+c.Policy)
	}
	wantChains := []string{"INPUT ACCEPT", "FORWARD ACCEPT", "OUTPUT ACCEPT", "KUBE-FORWARD -", "KUBE-IPVS-FILTER -",
		"KUBE-IPVS-OUT-FILTER -", "KUBE-NODE-PORT -", "KUBE-PROXY-FIREWALL -", "KUBE-SOURCE-RANGES-FIREWALL -"}
	if !slices.Equal(chains, wantChains) {
		t.Errorf("filter chains = %q, want %q", chains, wantChains)
	}
	if n := got.RuleCount("filter"); n != 12 {
		t.Errorf("filter has %d rules, state.sh restored 12", n)
	}
	// iptables drops the /32 of a host address ("--vaddr 192.0.2.10/32").
	if r := got.Rules("filter", "KUBE-IPVS-OUT-FILTER"); len(r) != 1 || r[0].Spec != "-m ipvs --vaddr 192.0.2.10 --vport 80 -j DROP" {
		t.Errorf("KUBE-IPVS-OUT-FILTER rules = %+v", r)
	}
	if out, want := FormatIPTablesSave(got), iptablesComments.ReplaceAllString(text, ""); out != want {
		t.Errorf("FormatIPTablesSave(ParseIPTablesSave(x)) differs from iptables-save less its comments:\n%s\nwant\n%s", out, want)
	}

	for _, table := range []string{"nat", "filter"} {
		t.Run("iptables -t "+table+" -S", func(t *testing.T) {
			s, text := parseLab(t, "iptables-t-"+table+"-S.txt", func(s string) (Ruleset, error) { return ParseIPTablesS(s, table) })
			want, _ := got.Table(table)
			if st, _ := s.Table(table); !reflect.DeepEqual(st, want) {
				t.Errorf("iptables -t %s -S reads otherwise than iptables-save's %s table:\n%s", table, table, FormatIPTablesS(s, table, ""))
			}
			if out := FormatIPTablesS(s, table, ""); out != text {
				t.Errorf("FormatIPTablesS(ParseIPTablesS(x)) differs from iptables -t %s -S:\n%s\nwant\n%s", table, out, text)
			}
		})
	}
}

func TestLabIP6TablesSave(t *testing.T) {
	got, text := parseLab(t, "ip6tables-save.txt", ParseIPTablesSave)
	want := map[string]int{"filter": 3, "nat": 9}
	for _, tb := range got.Tables {
		if n := got.RuleCount(tb.Name); n != want[tb.Name] {
			t.Errorf("ip6tables %s has %d rules, state.sh restored %d", tb.Name, n, want[tb.Name])
		}
		delete(want, tb.Name)
	}
	if len(want) > 0 {
		t.Errorf("ip6tables-save lacks tables %v", want)
	}
	if r := got.Rules("nat", "KUBE-SERVICES"); len(r) != 2 || !strings.HasPrefix(r[0].Spec, "! -s fd00:10:244::/56 ") {
		t.Errorf("ip6tables nat KUBE-SERVICES rules = %+v", r)
	}
	if out, want := FormatIPTablesSave(got), iptablesComments.ReplaceAllString(text, ""); out != want {
		t.Errorf("FormatIPTablesSave(ParseIPTablesSave(x)) differs from ip6tables-save less its comments:\n%s\nwant\n%s", out, want)
	}
}

// Every file in testdata/lab is read by a test above; a new capture needs a test.
func TestLabCapturesAreAllRead(t *testing.T) {
	read := map[string]bool{
		"README.md":      true,
		"ipvsadm-Ln.txt": true, "ipvsadm-Ln-timeout.txt": true, "ipvsadm-Sn.txt": true, "proc-net-ip_vs.txt": true,
		"ip-addr-show-kube-ipvs0.txt": true, "ip-d-addr-show-kube-ipvs0.txt": true,
		"ip-j-addr-show-kube-ipvs0.json": true, "ip-j-d-addr-show-kube-ipvs0.json": true,
		"ipset-save.txt": true, "ipset-list.txt": true,
		"iptables-save.txt": true, "iptables-t-nat-S.txt": true, "iptables-t-filter-S.txt": true, "ip6tables-save.txt": true,
		// ipvsadmstats_test.go
		"ipvsadm-Ln-stats.txt": true, "ipvsadm-Ln-stats-exact.txt": true, "ipvsadm-Ln-rate.txt": true,
		"ipvsadm-Ln-rate-exact.txt": true, "ipvsadm-Ln-stats-t-traffic.txt": true, "ipvsadm-Ln-t-traffic.txt": true,
	}
	for _, f := range fixture.Glob(t, "lab/*") {
		if !read[strings.TrimPrefix(f, "lab/")] {
			t.Errorf("testdata/%s is not read by any lab capture test", f)
		}
	}
}
