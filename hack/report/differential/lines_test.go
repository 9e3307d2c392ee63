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
func TestParseDiffEverySection(t *testing.T) {
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
			got.IPSets[i].Members = append(slices.Clone(s.Members), "30090")
		}
	}
	// iptables: a rule less in nat KUBE-SERVICES.
	got.IPTables = dropRule(got.IPTables, "nat", "KUBE-SERVICES", "-s 127.0.0.0/8 -j RETURN")

	lines, err := ParseDiff(dataplane.Diff(want, got))
	if err != nil {
		t.Fatal(err)
	}
	var marked []string
	for _, l := range lines {
		if l.Marked() {
			marked = append(marked, l.Section+" | "+l.Scope+" | "+l.String())
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
		return !l.Marked() && l.Section == SectionIPVS && l.Scope == "TCP 10.0.2.15:30089" && l.Text == "TCP  10.0.2.15:30089 rr"
	}) {
		t.Errorf("the NodePort's service line is not among the context lines: %+v", lines)
	}
}

func dropRule(r dataplane.Ruleset, table, chain, spec string) dataplane.Ruleset {
	out := dataplane.Ruleset{Tables: slices.Clone(r.Tables)}
	for i, t := range out.Tables {
		if t.Name != table {
			continue
		}
		chains := slices.Clone(t.Chains)
		for j, c := range chains {
			if c.Name == chain {
				chains[j].Rules = slices.DeleteFunc(slices.Clone(c.Rules), func(r dataplane.Rule) bool { return r.Spec == spec })
			}
		}
		out.Tables[i].Chains = chains
	}
	return out
}

func TestParseDiffEmpty(t *testing.T) {
	lines, err := ParseDiff("")
	if err != nil || len(lines) != 0 {
		t.Errorf("ParseDiff(\"\") = %v, %v; want nothing", lines, err)
	}
}

func TestParseDiffRejects(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"no section", "+ TCP  10.96.0.1:443 rr\n", "section title"},
		{"unknown section", "--- nftables: x\n+ a\n", "expected a section title naming"},
		{"unmarked line", "--- ipvs (ipvsadm -Ln): x\nTCP  10.96.0.1:443 rr\n", "expected a line starting with"},
		{"real server first", "--- ipvs (ipvsadm -Ln): x\n+   -> 10.244.0.2:80 Masq 1 0 0\n", "outside a virtual server"},
		{"rule outside a table", "--- iptables: x\n+ -A X -j Y\n", "outside a table"},
		{"bad table header", "--- iptables: x\niptables -t nat\n", `expected "iptables -t TABLE -S"`},
		{"not an ipset line", "--- ipsets (ipset save): x\n+ flush X\n", "ipset save"},
		{"address outside a link", "--- links (ip addr): x\n+     inet 10.96.0.1/32\n", "outside a link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDiff(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseDiff error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// FuzzParseDiff: whatever the text, ParseDiff returns lines or an error, never panics,
// and every line it returns has a known section and a mark.
func FuzzParseDiff(f *testing.F) {
	c, err := ReadCapture("testdata/v1.37.2/seed.json")
	if err != nil {
		f.Fatal(err)
	}
	st := Restrict(c.State)
	f.Add(dataplane.Diff(st, dataplane.State{}))
	f.Add(dataplane.Diff(dataplane.State{}, st))
	f.Add("--- iptables: x\niptables -t nat -S\n  -N X\n+ -A X -j Y\n")
	f.Fuzz(func(t *testing.T, text string) {
		lines, err := ParseDiff(text)
		if err != nil {
			return
		}
		for _, l := range lines {
			if !knownSection(l.Section) || !strings.Contains("-+~ ", l.Mark) || len(l.Mark) != 1 {
				t.Fatalf("line %+v from %q", l, text)
			}
		}
	})
}
