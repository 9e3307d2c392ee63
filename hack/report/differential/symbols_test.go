package differential

import (
	"maps"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

func pod(name, generateName, hash, ip string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, GenerateName: generateName}, Status: corev1.PodStatus{PodIP: ip}}
	if hash != "" {
		p.Labels = map[string]string{"pod-template-hash": hash}
	}
	if ip != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	return p
}

func TestPodNames(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want Names
	}{
		{"a bare pod keeps its name", []corev1.Pod{pod("nginx-test", "", "", "10.244.0.2")},
			Names{a("10.244.0.2"): "{nginx-test}"}},
		{"replicas are numbered by IP, whatever their pod names",
			[]corev1.Pod{pod("web-5d8f7c-zzzzz", "web-5d8f7c-", "5d8f7c", "10.244.0.9"), pod("web-5d8f7c-aaaaa", "web-5d8f7c-", "5d8f7c", "10.244.0.3")},
			Names{a("10.244.0.3"): "{web#0}", a("10.244.0.9"): "{web#1}"}},
		{"a controller without a template hash", []corev1.Pod{pod("ds-abcde", "ds-", "", "10.244.0.4")},
			Names{a("10.244.0.4"): "{ds#0}"}},
		{"two workloads are numbered apart",
			[]corev1.Pod{pod("a-1-x", "a-1-", "1", "10.244.0.5"), pod("b-2-y", "b-2-", "2", "10.244.0.4")},
			Names{a("10.244.0.5"): "{a#0}", a("10.244.0.4"): "{b#0}"}},
		{"a pod without an IP is skipped", []corev1.Pod{pod("pending", "", "", "")}, Names{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PodNames(tc.pods); !maps.Equal(got, tc.want) {
				t.Errorf("PodNames = %v, want %v", got, tc.want)
			}
		})
	}
}

// Two runs whose replicas got different addresses compare equal once named; an address
// no name covers still differs.
func TestSymbolsApplyAndRender(t *testing.T) {
	a := netip.MustParseAddr
	state := func(ips ...string) dataplane.State {
		vs := dataplane.VirtualServer{Protocol: dataplane.TCP, Address: a("10.96.102.10"), Port: 80, Scheduler: "rr"}
		var members []dataplane.Member
		var rules []dataplane.Rule
		for _, ip := range ips {
			vs.RealServers = append(vs.RealServers, dataplane.RealServer{Address: a(ip), Port: 8080, Forward: dataplane.Masq, Weight: 1})
			members = append(members, dataplane.Member{IP: a(ip), Proto: "tcp", Port: 8080, IP2: a(ip)})
			rules = append(rules, dataplane.Rule{Spec: "-s " + ip + "/32 -j ACCEPT"})
		}
		return dataplane.State{
			IPVS:     dataplane.IPVS{Services: []dataplane.VirtualServer{vs}},
			Links:    []dataplane.Link{{Name: "kube-ipvs0", Addrs: []netip.Prefix{netip.MustParsePrefix(ips[0] + "/32")}}},
			IPSets:   []dataplane.IPSet{{Name: "KUBE-LOOP-BACK", Type: "hash:ip,port,ip", Members: members}},
			IPTables: dataplane.Ruleset{Tables: []dataplane.Table{{Name: "filter", Chains: []dataplane.Chain{{Name: "X", Policy: "-", Rules: rules}}}}},
		}
	}
	upNames := Names{a("10.244.0.2"): "{web#0}", a("10.244.0.3"): "{web#1}"}
	refNames := Names{a("10.244.0.7"): "{web#0}", a("10.244.0.8"): "{web#1}"}
	sym, err := NewSymbols(upNames, refNames)
	if err != nil {
		t.Fatal(err)
	}
	up := state("10.244.0.2", "10.244.0.3")
	ref := state("10.244.0.7", "10.244.0.8")
	// The kernel lists real servers in any order.
	rss := ref.IPVS.Services[0].RealServers
	rss[0], rss[1] = rss[1], rss[0]
	if d := dataplane.Diff(sym.Apply(up, upNames), sym.Apply(ref, refNames)); len(d) > 0 {
		t.Errorf("named states differ:\n%s", d)
	}
	// The originals are not touched.
	if up.IPVS.Services[0].RealServers[0].Address != a("10.244.0.2") || up.IPSets[0].Members[0].String() != "10.244.0.2,tcp:8080,10.244.0.2" ||
		up.IPTables.Tables[0].Chains[0].Rules[0].Spec != "-s 10.244.0.2/32 -j ACCEPT" || up.Links[0].Addrs[0].Addr() != a("10.244.0.2") {
		t.Errorf("Apply changed its input: %+v", up)
	}

	// A third reference endpoint without a name stays an address and shows up.
	ref3 := state("10.244.0.7", "10.244.0.8", "10.244.0.9")
	d := sym.renderDifferences(dataplane.Diff(sym.Apply(up, upNames), sym.Apply(ref3, refNames))).String()
	fixture.Contains(t, "rendered diff", d, "+   -> 10.244.0.9:8080", "  -> {web#0}:8080", "+ add KUBE-LOOP-BACK 10.244.0.9,tcp:8080,10.244.0.9", "+ -A X -s 10.244.0.9/32 -j ACCEPT")
	if strings.Contains(d, "240.") {
		t.Errorf("a placeholder was left in the rendered diff:\n%s", d)
	}
}

func TestSymbolsDisjointNames(t *testing.T) {
	a := netip.MustParseAddr
	sym, err := NewSymbols(Names{a("10.244.0.2"): "{web#0}"}, Names{a("10.244.0.5"): "{web#0}", a("10.244.0.6"): "{web#1}"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sym.byName) != 2 || sym.byName["{web#0}"] == sym.byName["{web#1}"] {
		t.Errorf("expected two distinct placeholders, got %v", sym.byName)
	}
	for n, p := range sym.byName {
		if !placeholderNet.Contains(p) {
			t.Errorf("placeholder of %s is %s, outside %s", n, p, placeholderNet)
		}
	}
}

func TestRestrict(t *testing.T) {
	st := dataplane.State{
		Node: "lab-node",
		Links: []dataplane.Link{
			{Name: "lo"}, {Name: "eth0"}, {Name: "kube-ipvs0", Kind: "dummy"}, {Name: "veth1234"},
		},
		IPTables: dataplane.Ruleset{Tables: []dataplane.Table{{Name: "mangle"}, {Name: "nat"}, {Name: "filter"}, {Name: "raw"}}},
	}
	got := Restrict(st)
	if got.Node != "" || len(got.Links) != 1 || got.Links[0].Name != "kube-ipvs0" {
		t.Errorf("Restrict kept node %q, links %+v; want no node and kube-ipvs0 only", got.Node, got.Links)
	}
	var tables []string
	for _, tb := range got.IPTables.Tables {
		tables = append(tables, tb.Name)
	}
	if strings.Join(tables, ",") != "nat,filter" {
		t.Errorf("Restrict kept tables %v, want nat,filter", tables)
	}
}
