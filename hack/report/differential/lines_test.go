package differential

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

func readTestCapture(t testing.TB, name string) Capture {
	t.Helper()
	c, err := ReadCapture("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A change in every section of a real capture comes back as lines with the section and
// scope they belong to.
func TestLinesEverySection(t *testing.T) {
	want := Restrict(readTestCapture(t, "v1.37.2/seed.json").State)
	got := Restrict(readTestCapture(t, "v1.37.2/seed.json").State)
	a := netip.MustParseAddr

	// ipvs: a real server more on the NodePort, the seed's ClusterIP persistent, the
	// kubernetes Service gone; timeouts differ.
	got.IPVS.Services = slices.Clone(got.IPVS.Services)
	var kept []dataplane.VirtualServer
	for _, vs := range got.IPVS.Services {
		vs.RealServers = slices.Clone(vs.RealServers)
		switch vs.Key().String() {
		case "TCP 10.96.0.1:443":
			continue
		case "TCP 10.0.2.15:30089":
			vs.RealServers = append(vs.RealServers, dataplane.RealServer{Address: a("10.244.0.9"), Port: 80, Forward: dataplane.Masq, Weight: 1})
		case "TCP 10.96.100.10:80":
			vs.Persistent, vs.Timeout = true, 10800
		}
		kept = append(kept, vs)
	}
	got.IPVS.Services = kept
	want.IPVS.Timeouts = dataplane.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}
	got.IPVS.Timeouts = dataplane.Timeouts{TCP: 900, TCPFin: 120, UDP: 60}
	// links: an address less on kube-ipvs0.
	got.Links = []dataplane.Link{got.Links[0]}
	got.Links[0].Addrs = got.Links[0].Addrs[:1]
	// ipsets: a member more.
	got.IPSets = slices.Clone(got.IPSets)
	for i, s := range got.IPSets {
		if s.Name == "KUBE-NODE-PORT-TCP" {
			got.IPSets[i].Members = append(slices.Clone(s.Members), dataplane.Member{Port: 30090})
		}
	}
	// iptables: a rule less in nat KUBE-SERVICES.
	got.IPTables = dropRule(got.IPTables, "nat", "KUBE-SERVICES", "-s 127.0.0.0/8 -j RETURN")

	lines := linesOf(dataplane.Diff(want, got))
	var marked []string
	for _, l := range lines {
		if l.Marked() {
			marked = append(marked, string(l.Section)+" | "+l.Scope+" | "+l.String())
		}
	}
	wantMarked := []string{
		"ipvs | TCP 10.0.2.15:30089 | +   -> 10.244.0.9:80                Masq    1      0          0",
		"ipvs | TCP 10.96.0.1:443 | - TCP  10.96.0.1:443 rr",
		"ipvs | TCP 10.96.0.1:443 | -   -> 10.0.2.2:41357               Masq    1      0          0",
		"ipvs | TCP 10.96.100.10:80 | ~ TCP  10.96.100.10:80 rr persistent 10800   (want not persistent)",
		"ipvs | timeouts | ~ Timeout (tcp tcpfin udp): 900 120 60   (want udp 300)",
		"links | kube-ipvs0 | -     inet 10.96.100.10/32",
		"ipsets | KUBE-NODE-PORT-TCP | + add KUBE-NODE-PORT-TCP 30090",
		"iptables | nat | - -A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN",
	}
	if !slices.Equal(marked, wantMarked) {
		t.Errorf("marked lines:\n%s\nwant:\n%s", strings.Join(marked, "\n"), strings.Join(wantMarked, "\n"))
	}
	// Context lines carry their scope too: the NodePort's service line.
	if !slices.ContainsFunc(lines, func(l Line) bool {
		return !l.Marked() && l.Section == dataplane.SectionIPVS && l.Scope == "TCP 10.0.2.15:30089" && l.Text == "TCP  10.0.2.15:30089 rr"
	}) {
		t.Errorf("the NodePort's service line is not among the context lines: %+v", lines)
	}
}

func dropRule(r dataplane.Ruleset, table, chain, spec string) dataplane.Ruleset {
	return withRules(r, table, chain, func(rules []dataplane.Rule) []dataplane.Rule {
		return slices.DeleteFunc(slices.Clone(rules), func(r dataplane.Rule) bool { return r.Spec == spec })
	})
}

// Upstream writes the DROP rules of KUBE-IPVS-OUT-FILTER in Go map order: a load balancer
// whose two ports' source ranges leave the node out compares equal in either order, and a
// rule that did move is one line of kind moved, which a known entry names by ">".
func TestCompareRuleOrder(t *testing.T) {
	up := ipv4Only(readTestCapture(t, "v1.37.2/loadbalancer.json"))
	drops := []dataplane.Rule{
		{Spec: "-s 203.0.113.20/32 -m ipvs --vproto 6 --vaddr 203.0.113.20 --vport 80 -j DROP"},
		{Spec: "-s 203.0.113.20/32 -m ipvs --vproto 6 --vaddr 203.0.113.20 --vport 443 -j DROP"},
	}
	withChain := func(c Capture, rules ...dataplane.Rule) Capture {
		c.State.IPTables = withRules(c.State.IPTables, "filter", "KUBE-IPVS-OUT-FILTER", func([]dataplane.Rule) []dataplane.Rule { return rules })
		return c
	}
	want, got := withChain(up, drops[0], drops[1]), withChain(up, drops[1], drops[0])
	if r := Compare("loadbalancer", want, got, nil); r.Error != "" || r.Diff != "" {
		t.Errorf("DROP rules in map order: error %q, diff:\n%s", r.Error, r.Diff)
	}

	jump := dataplane.Rule{Spec: "-j KUBE-MARK-DROP"}
	k := mustKnown(t, `
differences:
- id: moved-drop
  section: iptables
  scope: filter
  mark: ">"
  line: '-A KUBE-IPVS-OUT-FILTER .* --vport 80 -j DROP   \(want it as rule 1\)'
  reason: a test of an entry for a moved rule
`)
	r := Compare("loadbalancer", withChain(up, drops[0], jump), withChain(up, jump, drops[0]), k)
	diffs := r.Differences()
	if len(diffs) != 1 || diffs[0].Kind != dataplane.Moved || diffs[0].Known != "moved-drop" {
		t.Fatalf("a moved rule: %+v, want one moved line the entry explains\n%s", diffs, r.Diff)
	}
	if !strings.Contains(r.Diff, "\n> -A KUBE-IPVS-OUT-FILTER -s 203.0.113.20/32") || strings.Contains(r.Diff, "\n- ") || strings.Contains(r.Diff, "\n+ ") {
		t.Errorf("a moved rule printed as:\n%s", r.Diff)
	}
}

// withRules returns a copy of r with the rules of one chain replaced by what change makes of them.
func withRules(r dataplane.Ruleset, table, chain string, change func([]dataplane.Rule) []dataplane.Rule) dataplane.Ruleset {
	out := dataplane.Ruleset{Tables: slices.Clone(r.Tables)}
	for i, t := range out.Tables {
		if t.Name != table {
			continue
		}
		chains := slices.Clone(t.Chains)
		for j, c := range chains {
			if c.Name == chain {
				chains[j].Rules = change(c.Rules)
			}
		}
		out.Tables[i].Chains = chains
	}
	return out
}
