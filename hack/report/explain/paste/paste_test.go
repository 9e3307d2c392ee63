package paste

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// checkAccounting checks what Read promises for any input: every line of the input is in
// Lines once, in order, with its text; a skipped line says why; each line read belongs to
// exactly one block of its node, and each block line was read.
func checkAccounting(t testing.TB, in string, p Paste) {
	t.Helper()
	want := strings.Split(strings.TrimSuffix(in, "\n"), "\n")
	if strings.TrimSuffix(in, "\n") == "" {
		want = nil
	}
	if len(p.Lines) != len(want) {
		t.Fatalf("%d lines accounted for, the input has %d", len(p.Lines), len(want))
	}
	inBlock := map[int]int{}
	for ni, n := range p.Nodes {
		for _, b := range n.Blocks {
			if len(b.Lines) == 0 {
				t.Errorf("node %d has an empty %s block", ni, b.Format)
			}
			for _, i := range b.Lines {
				inBlock[i]++
				if l := p.Lines[i]; l.Kind != Output || l.Node != ni || l.Format != b.Format {
					t.Errorf("line %d is in a %s block of node %d but is %s of node %d (%s)", l.N, b.Format, ni, l.Kind, l.Node, l.Format)
				}
			}
		}
	}
	for i, l := range p.Lines {
		if l.N != i+1 || l.Text != strings.TrimSuffix(want[i], "\r") {
			t.Fatalf("line %d is recorded as line %d %q, the input has %q", i+1, l.N, l.Text, want[i])
		}
		if l.Node < -1 || l.Node >= len(p.Nodes) {
			t.Errorf("line %d names node %d of %d", l.N, l.Node, len(p.Nodes))
		}
		switch l.Kind {
		case Skipped:
			if l.Reason == "" {
				t.Errorf("line %d is skipped without a reason", l.N)
			}
		case Output:
			if inBlock[i] != 1 {
				t.Errorf("line %d was read but is in %d blocks", l.N, inBlock[i])
			}
		case Blank, Separator, Prompt, Elision:
		default:
			t.Errorf("line %d has kind %v", l.N, l.Kind)
		}
	}
}

// skippedLines lists the numbers of the skipped lines.
func skippedLines(p Paste) []int {
	var out []int
	for _, l := range p.Skipped() {
		out = append(out, l.N)
	}
	return out
}

func TestReadOddForms(t *testing.T) {
	seedIPVS := fixture.ReadRepo(t, "framework/dataplane/testdata/seed/ipvsadm-Ln-4.1.3.txt")
	labIPVS := fixture.ReadRepo(t, "framework/dataplane/testdata/lab/ipvsadm-Ln.txt")
	labNAT := fixture.ReadRepo(t, "framework/dataplane/testdata/lab/iptables-t-nat-S.txt")
	labSave := fixture.ReadRepo(t, "framework/dataplane/testdata/lab/iptables-save.txt")
	labSets := fixture.ReadRepo(t, "framework/dataplane/testdata/lab/ipset-list.txt")
	labAddr := fixture.ReadRepo(t, "framework/dataplane/testdata/lab/ip-addr-show-kube-ipvs0.txt")
	nodePortChain := fixture.ReadRepo(t, "framework/dataplane/testdata/seed/iptables-nat-S-KUBE-NODE-PORT-node1.txt")

	type node struct {
		name     string
		services int
		addrs    []string // of kube-ipvs0
		sets     []string
		natRules int
		note     string // a piece of one of the node's notes
	}
	tests := []struct {
		name    string
		in      string
		nodes   []node
		skipped []int
		reason  string // a piece of the first skipped line's reason
	}{{
		name:  "the seed's ipvsadm block with its notes",
		in:    seedIPVS,
		nodes: []node{{services: 1}},
	}, {
		name: "separators of three kinds",
		in: ">>> node1\n" + seedIPVS + "==> node2 <==\n" + labIPVS +
			"=== node3 ===\n" + nodePortChain,
		nodes: []node{{name: "node1", services: 1}, {name: "node2", services: 14}, {name: "node3", natRules: 1}},
	}, {
		name: "prompts name the nodes, and a node met again is the same node",
		in: "[root@master1 ~]# ipvsadm -Ln\n" + seedIPVS +
			"root@node1:~# iptables -t nat -S KUBE-NODE-PORT\n" + nodePortChain +
			"master1 ~]# ip addr show kube-ipvs0\n" + labAddr,
		nodes: []node{{name: "master1", services: 1, addrs: []string{"10.96.0.10", "10.96.0.20", "fd00:10:96::a"}}, {name: "node1", natRules: 1}},
	}, {
		name:  "a separator's node keeps its first prompt's host and another host starts a node",
		in:    ">>> master1\n[root@k8s-master ~]# ipvsadm -Ln\n" + seedIPVS + "[root@k8s-master ~]# iptables -t nat -S KUBE-NODE-PORT\n" + nodePortChain + "[root@k8s-node1 ~]# ipvsadm -Ln\n" + seedIPVS,
		nodes: []node{{name: "master1", services: 1, natRules: 1}, {name: "k8s-node1", services: 1}},
	}, {
		name:  "CRLF line ends and leading indentation",
		in:    indent(strings.ReplaceAll(">>> node1\n"+labIPVS+labAddr+labNAT, "\n", "\r\n"), "    "),
		nodes: []node{{name: "node1", services: 14, addrs: []string{"10.96.0.10", "10.96.0.20", "fd00:10:96::a"}, natRules: 13}},
	}, {
		name:  "an elision inside ipvsadm and inside an ipset's members",
		in:    firstLines(labIPVS, 9) + "...\n" + lastLines(labIPVS, 4) + firstLines(labSets, 10) + "…\n\n" + lastLines(labSets, 10),
		nodes: []node{{services: 5, sets: []string{"KUBE-CLUSTER-IP", "KUBE-6-CLUSTER-IP"}}},
	}, {
		name: "a grepped iptables -S dump without -N lines and without its command",
		in: "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT\n" +
			"-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n",
		nodes: []node{{natRules: 2, note: "read as the nat table (KUBE-SERVICES"}},
	}, {
		name:  "iptables-save cut before COMMIT and after *nat",
		in:    lineRange(labSave, 25, 40) + "...\n" + "[root@n1 ~]# iptables-save -t nat | grep KUBE-NODE-PORT\n" + ":KUBE-NODE-PORT - [0:0]\n" + firstLines(lastLines(nodePortChain, 1), 1),
		nodes: []node{{natRules: 4, note: "no COMMIT at the end"}, {name: "n1", natRules: 1, note: "without their *table line"}},
	}, {
		name:  "address lines of `ip addr show kube-ipvs0 | grep inet`",
		in:    "$ ip addr show kube-ipvs0 | grep inet\n    inet 10.106.71.137/32 scope global kube-ipvs0\n    inet 10.96.0.1/32 scope global kube-ipvs0\n",
		nodes: []node{{addrs: []string{"10.106.71.137", "10.96.0.1"}, note: "the link line of kube-ipvs0 was not pasted"}},
	}, {
		name:    "a rule a terminal wrapped is set aside, the rest is read",
		in:      "# iptables -t nat -S KUBE-NODE-PORT\n-N KUBE-NODE-PORT\n-A KUBE-NODE-PORT -p tcp -m comment --comment \"Kubernetes nodeport TCP port for masquerad\ne purpose\" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ\n-A KUBE-NODE-PORT -j RETURN\n",
		nodes:   []node{{natRules: 1}},
		skipped: []int{3, 4},
		reason:  "unterminated double quote",
	}, {
		name:    "a mangled service line takes its real servers with it",
		in:      "TCP  10.96.0.1:443 rr\n  -> 10.0.2.2:6443 Masq 1 0 1\nTCP  10.96.0.10:53 rr persistent\n  -> 10.244.0.3:53 Masq 1 0 0\n  -> 10.244.0.4:53 Masq 1 0 0\n",
		nodes:   []node{{services: 1}},
		skipped: []int{3, 4, 5},
		reason:  "expected a timeout after persistent",
	}, {
		name:    "prose and other commands' output are skipped",
		in:      "先查看规则\n[root@master1 ~]# kubectl get svc\nNAME TYPE CLUSTER-IP\n[root@master1 ~]# ipvsadm -Ln\n" + seedIPVS,
		nodes:   []node{{name: "master1", services: 1}},
		skipped: []int{1, 3},
		reason:  "not the output of ipvsadm",
	}, {
		name:    "a block with more refused lines than maxRefused is set aside whole",
		in:      "TCP 10.96.0.1:443 rr\n" + strings.Repeat("  -> 10.0.2.2:6443 Masq heavy 0 0\n", maxRefused+1),
		nodes:   []node{{}},
		skipped: seq(1, maxRefused+2),
		reason:  "its block has more than 100 lines the parser refuses",
	}, {
		name:  "an ipset save and ipvsadm timeouts",
		in:    fixture.ReadRepo(t, "framework/dataplane/testdata/lab/ipset-save.txt") + "\n" + fixture.ReadRepo(t, "framework/dataplane/testdata/lab/ipvsadm-Ln-timeout.txt"),
		nodes: []node{{sets: []string{"KUBE-CLUSTER-IP", "KUBE-LOOP-BACK", "KUBE-LOAD-BALANCER-SOURCE-CIDR", "KUBE-NODE-PORT-TCP", "KUBE-NODE-PORT-UDP", "KUBE-IPVS-IPS", "KUBE-6-CLUSTER-IP"}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Read(tt.in)
			checkAccounting(t, tt.in, p)
			if got := skippedLines(p); !slices.Equal(got, tt.skipped) {
				t.Errorf("skipped lines %v, want %v", got, tt.skipped)
				for _, l := range p.Skipped() {
					t.Logf("line %d %q: %s", l.N, l.Text, l.Reason)
				}
			}
			if tt.reason != "" && len(p.Skipped()) > 0 && !strings.Contains(p.Skipped()[0].Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", p.Skipped()[0].Reason, tt.reason)
			}
			if len(p.Nodes) != len(tt.nodes) {
				t.Fatalf("%d nodes, want %d: %+v", len(p.Nodes), len(tt.nodes), p.Nodes)
			}
			for i, want := range tt.nodes {
				n := p.Nodes[i]
				if n.Name != want.name || n.State.Node != want.name {
					t.Errorf("node %d is named %q, want %q", i, n.Name, want.name)
				}
				if got := len(n.State.IPVS.Services); got != want.services {
					t.Errorf("node %q: %d services, want %d", n.Name, got, want.services)
				}
				l, _ := n.State.Link(dataplane.KubeIPVSInterface)
				var addrs []string
				for _, a := range l.AddrList() {
					addrs = append(addrs, a.String())
				}
				if !slices.Equal(addrs, want.addrs) {
					t.Errorf("node %q: kube-ipvs0 holds %v, want %v", n.Name, addrs, want.addrs)
				}
				var sets []string
				for _, s := range n.State.IPSets {
					sets = append(sets, s.Name)
				}
				if !slices.Equal(sets, want.sets) {
					t.Errorf("node %q: sets %v, want %v", n.Name, sets, want.sets)
				}
				if got := n.State.IPTables.RuleCount("nat"); got != want.natRules {
					t.Errorf("node %q: %d nat rules, want %d", n.Name, got, want.natRules)
				}
				if want.note != "" && !slices.ContainsFunc(n.Notes, func(s string) bool { return strings.Contains(s, want.note) }) {
					t.Errorf("node %q: notes %q, want one with %q", n.Name, n.Notes, want.note)
				}
			}
		})
	}
}

// TestReadMatchesStrict reads each whole capture as the strict parser does: the lenient
// reading of a clean output is the strict reading.
func TestReadMatchesStrict(t *testing.T) {
	ipvsText := fixture.ReadRepo(t, "framework/dataplane/testdata/lab/ipvsadm-Ln.txt")
	wantIPVS, err := dataplane.ParseIPVSAdm(ipvsText)
	if err != nil {
		t.Fatal(err)
	}
	saveText := fixture.ReadRepo(t, "framework/dataplane/testdata/lab/iptables-save.txt")
	wantRules, err := dataplane.ParseIPTablesSave(saveText)
	if err != nil {
		t.Fatal(err)
	}
	listText := fixture.ReadRepo(t, "framework/dataplane/testdata/lab/ipset-list.txt")
	wantSets, err := dataplane.ParseIPSetList(listText)
	if err != nil {
		t.Fatal(err)
	}
	p := Read(ipvsText + saveText + listText)
	checkAccounting(t, ipvsText+saveText+listText, p)
	if len(p.Nodes) != 1 || len(p.Skipped()) != 0 {
		t.Fatalf("%d nodes, %d lines skipped; want 1 node and none: %+v", len(p.Nodes), len(p.Skipped()), p.Skipped())
	}
	st := p.Nodes[0].State
	if !dataplane.Equal(dataplane.State{IPVS: wantIPVS}, dataplane.State{IPVS: st.IPVS}) {
		t.Errorf("IPVS differs from the strict reading:\n%s", dataplane.FormatIPVSAdm(st.IPVS, false))
	}
	if got, want := dataplane.FormatIPTablesSave(st.IPTables), dataplane.FormatIPTablesSave(wantRules); got != want {
		t.Errorf("rules differ from the strict reading:\n got %s\nwant %s", got, want)
	}
	if got, want := dataplane.FormatIPSetSave(st.IPSets), dataplane.FormatIPSetSave(wantSets); got != want {
		t.Errorf("sets differ from the strict reading:\n got %s\nwant %s", got, want)
	}
}

func TestPrompt(t *testing.T) {
	tests := []struct {
		line, host, cmd string
		ok              bool
	}{
		{"[root@node1 ~]# ipvsadm -Ln", "node1", "ipvsadm -Ln", true},
		{"[root@k8s-master01 service]# kubectl get svc", "k8s-master01", "kubectl get svc", true},
		{"root@lab:~# ip addr show dev kube-ipvs0", "lab", "ip addr show dev kube-ipvs0", true},
		{"master1 ~]# ipvsadm -Ln", "master1", "ipvsadm -Ln", true},
		{"master1 ]# ipvsadm -Ln", "master1", "ipvsadm -Ln", true},
		{"$ iptables -t nat -S", "", "iptables -t nat -S", true},
		{"# ipset list KUBE-NODE-PORT-TCP", "", "ipset list KUBE-NODE-PORT-TCP", true},
		{"# 在master或node查看LVS的调度情况", "", "", false},
		{"-A KUBE-SERVICES -j ACCEPT", "", "", false},
		{"TCP 10.96.0.1:443 rr", "", "", false},
	}
	for _, tt := range tests {
		host, cmd, ok := prompt(tt.line)
		if host != tt.host || cmd != tt.cmd || ok != tt.ok {
			t.Errorf("prompt(%q) = %q, %q, %v; want %q, %q, %v", tt.line, host, cmd, ok, tt.host, tt.cmd, tt.ok)
		}
	}
}

func TestIPTablesCommand(t *testing.T) {
	tests := []struct {
		cmd, table, chain string
		ipv6, ok          bool
	}{
		{"iptables -t nat -S KUBE-NODE-PORT", "nat", "KUBE-NODE-PORT", false, true},
		{"iptables -S", "filter", "", false, true},
		{"ip6tables --table=nat --list-rules | grep KUBE", "nat", "", true, true},
		{"iptables -tnat -S KUBE-SERVICES", "nat", "KUBE-SERVICES", false, true},
		{"ipvsadm -Ln", "", "", false, false},
	}
	for _, tt := range tests {
		table, chain, ipv6, ok := iptablesCommand(tt.cmd)
		if table != tt.table || chain != tt.chain || ipv6 != tt.ipv6 || ok != tt.ok {
			t.Errorf("iptablesCommand(%q) = %q, %q, %v, %v; want %q, %q, %v, %v", tt.cmd, table, chain, ipv6, ok, tt.table, tt.chain, tt.ipv6, tt.ok)
		}
	}
}

func TestReadSeedTutorial(t *testing.T) {
	// The seed tutorial's whole text: prose, kubectl output and the nodes' outputs under
	// their prompts (master1, node1, node2).
	data := fixture.Read(t, "seed-tutorial.txt")
	p := Read(data)
	checkAccounting(t, data, p)
	var names []string
	for _, n := range p.Nodes {
		names = append(names, n.Name)
	}
	if !slices.Equal(names, []string{"master1", "node1", "node2"}) {
		t.Fatalf("nodes %v, want master1, node1, node2", names)
	}
	vs, ok := p.Nodes[0].State.IPVS.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.106.71.137"), Port: 80})
	if !ok || len(vs.RealServers) != 1 {
		t.Errorf("master1 lacks the seed's TCP 10.106.71.137:80 with one real server: %+v", p.Nodes[0].State.IPVS)
	}
	if got := len(p.Nodes[1].State.IPVS.Services); got != 2 {
		t.Errorf("node1 has %d services, want the seed's 2 NodePorts", got)
	}
	for _, n := range p.Nodes[1:] {
		if got := n.State.IPTables.Rules("nat", "KUBE-NODE-PORT"); len(got) != 1 {
			t.Errorf("%s: KUBE-NODE-PORT has %d rules, want the seed's one", n.Name, len(got))
		}
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[:min(n, len(lines))], "")
}

func lastLines(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "") + "\n"
}

// lineRange is lines from to to (1-based, inclusive) of s.
func lineRange(s string, from, to int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[from-1:min(to, len(lines))], "")
}

// seq is from, from+1, ..., to.
func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
