package dataplane

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// The rule kube-proxy writes for NodePorts, exactly as the seed shows it (section 4.1.4).
const seedNodePortRule = `-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`

func TestParseIPTablesSSeed(t *testing.T) {
	for _, file := range []string{"seed/iptables-nat-S-KUBE-NODE-PORT-node1.txt", "seed/iptables-nat-S-KUBE-NODE-PORT-node2.txt"} {
		t.Run(file, func(t *testing.T) {
			text := fixture.Read(t, file)
			r, err := ParseIPTablesS(text, "nat")
			if err != nil {
				t.Fatalf("ParseIPTablesS: %v", err)
			}
			want := Ruleset{Tables: []Table{{Name: "nat", Chains: []Chain{{
				Name:   "KUBE-NODE-PORT",
				Policy: "-",
				Rules:  []Rule{{Spec: strings.TrimPrefix(seedNodePortRule, "-A KUBE-NODE-PORT ")}},
			}}}}}
			if !reflect.DeepEqual(r, want) {
				t.Fatalf("ParseIPTablesS = %+v, want %+v", r, want)
			}
			if got := FormatIPTablesS(r, "nat", "KUBE-NODE-PORT"); got != "-N KUBE-NODE-PORT\n"+seedNodePortRule+"\n" {
				t.Errorf("FormatIPTablesS = %q", got)
			}
			if got := FormatIPTablesS(r, "nat", ""); got != text {
				t.Errorf("FormatIPTablesS(whole table) = %q, want the seed's text %q", got, text)
			}
			args, err := r.Rules("nat", "KUBE-NODE-PORT")[0].Args()
			if err != nil {
				t.Fatalf("Args: %v", err)
			}
			wantArgs := []string{"-p", "tcp", "-m", "comment", "--comment", "Kubernetes nodeport TCP port for masquerade purpose",
				"-m", "set", "--match-set", "KUBE-NODE-PORT-TCP", "dst", "-j", "KUBE-MARK-MASQ"}
			if !reflect.DeepEqual(args, wantArgs) {
				t.Errorf("Args = %q, want %q", args, wantArgs)
			}
		})
	}
}

var generatedComment = regexp.MustCompile(`(?m)^#.*\n`)

// iptables-save output reads and prints back the same, apart from the "# Generated" and
// "# Completed" lines (dropped by design) and counters (printed as [0:0]).
func TestIPTablesSaveGoldenRoundTrip(t *testing.T) {
	for _, name := range fixture.Glob(t, "iptables/save*.txt") {
		t.Run(name, func(t *testing.T) {
			text := fixture.Read(t, name)
			r := mustParse(t, ParseIPTablesSave, text)
			want := generatedComment.ReplaceAllString(text, "")
			if strings.Contains(name, "counters") {
				want = regexp.MustCompile(`(?m)^\[\d+:\d+\] `).ReplaceAllString(want, "")
				want = regexp.MustCompile(`\[\d+:\d+\]$`).ReplaceAllString(want, "[0:0]")
				want = regexp.MustCompile(`(?m)\[\d+:\d+\]\n`).ReplaceAllString(want, "[0:0]\n")
			}
			if got := FormatIPTablesSave(r); got != want {
				t.Errorf("FormatIPTablesSave(ParseIPTablesSave(x)) =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestParseIPTablesSaveValues(t *testing.T) {
	r := mustParse(t, ParseIPTablesSave, fixture.Read(t, "iptables/save-ipvs-node.txt"))
	if n := len(r.Tables); n != 2 || r.Tables[0].Name != "nat" || r.Tables[1].Name != "filter" {
		t.Fatalf("tables = %+v, want nat then filter", r.Tables)
	}
	// The counts upstream kube-proxy produced in the lab with two test Services.
	if n := r.RuleCount("nat"); n != 14 {
		t.Errorf("nat rules = %d, want 14", n)
	}
	if n := r.RuleCount("filter"); n != 16 {
		t.Errorf("filter rules = %d, want 16", n)
	}
	rules := r.Rules("nat", "KUBE-NODE-PORT")
	if len(rules) != 1 || "-A KUBE-NODE-PORT "+rules[0].Spec != seedNodePortRule {
		t.Errorf("nat KUBE-NODE-PORT = %+v, want the seed's rule", rules)
	}
	nat, _ := r.Table("nat")
	if c, _ := nat.Chain("PREROUTING"); c.Policy != "ACCEPT" {
		t.Errorf("PREROUTING policy = %q, want ACCEPT", c.Policy)
	}
	if c, _ := nat.Chain("KUBE-SERVICES"); c.Policy != "-" || len(c.Rules) != 4 {
		t.Errorf("KUBE-SERVICES = %+v, want a user chain with 4 rules", c)
	}
	if got := r.ChainsWithPrefix("nat", "KUBE-SVC-"); len(got) != 0 {
		t.Errorf("iptables-mode chains in an ipvs-mode node: %q", got)
	}
}

// `iptables -t T -S` of a table holds the same chains and rules as the table in
// iptables-save, and prints back byte for byte.
func TestIPTablesSGolden(t *testing.T) {
	save := mustParse(t, ParseIPTablesSave, fixture.Read(t, "iptables/save-ipvs-node.txt"))
	for _, table := range []string{"nat", "filter"} {
		t.Run(table, func(t *testing.T) {
			text := fixture.Read(t, "iptables/S-"+table+".txt")
			r, err := ParseIPTablesS(text, table)
			if err != nil {
				t.Fatalf("ParseIPTablesS: %v", err)
			}
			want, _ := save.Table(table)
			if got, _ := r.Table(table); !reflect.DeepEqual(got, want) {
				t.Errorf("-S table = %+v\nwant (from iptables-save) %+v", got, want)
			}
			if got := FormatIPTablesS(r, table, ""); got != text {
				t.Errorf("FormatIPTablesS =\n%s\nwant\n%s", got, text)
			}
			if got := FormatIPTablesS(save, table, "INPUT"); table == "filter" && !strings.HasPrefix(got, "-P INPUT ACCEPT\n-A INPUT -m comment") {
				t.Errorf("FormatIPTablesS(filter, INPUT) = %q", got)
			}
		})
	}
	if got := FormatIPTablesS(save, "mangle", ""); got != "" {
		t.Errorf("FormatIPTablesS(absent table) = %q, want \"\"", got)
	}
	if got := FormatIPTablesS(save, "nat", "KUBE-NOPE"); got != "" {
		t.Errorf("FormatIPTablesS(absent chain) = %q, want \"\"", got)
	}
}

func TestIPTablesModelRoundTrip(t *testing.T) {
	m := Ruleset{Tables: []Table{
		{Name: "filter", Chains: []Chain{
			{Name: "INPUT", Policy: "DROP", Rules: []Rule{{Spec: "-j KUBE-X"}}},
			{Name: "KUBE-X", Policy: "-", Rules: []Rule{{Spec: ""}, {Spec: `-m comment --comment "a \"quoted\" word" -j ACCEPT`}}},
		}},
		{Name: "mangle"},
	}}
	checkReadsAs(t, "FormatIPTablesSave(m)", ParseIPTablesSave, FormatIPTablesSave(m), m)
	one := Ruleset{Tables: []Table{m.Tables[0]}}
	checkReadsAs(t, "FormatIPTablesS(filter)", parseFilterS, FormatIPTablesS(one, "filter", ""), one)
}

func TestParseIPTablesSaveBadInput(t *testing.T) {
	checkBadInput(t, "iptables-save", ParseIPTablesSave, []badInput{
		{name: "rule outside a table", text: "-A INPUT -j ACCEPT\n", line: 1, want: `expected "*table"`},
		{name: "missing COMMIT", text: "*nat\n:PREROUTING ACCEPT [0:0]\n", line: 2, want: "expected COMMIT at the end of table nat"},
		{name: "table inside a table", text: "*nat\n*filter\nCOMMIT\n", line: 2, want: "COMMIT before the next table"},
		{name: "stray COMMIT", text: "# x\nCOMMIT\n", line: 2, want: "COMMIT only inside a table"},
		{name: "undeclared chain", text: "*nat\n:OUTPUT ACCEPT [0:0]\n-A KUBE-SERVICES -j RETURN\nCOMMIT\n", line: 3, want: `undeclared chain "KUBE-SERVICES"`},
		{name: "bad chain line", text: "*nat\n:OUTPUT\nCOMMIT\n", line: 2, want: `":CHAIN POLICY [packets:bytes]"`},
		{name: "bad counters", text: "*nat\n:OUTPUT ACCEPT [x:0]\nCOMMIT\n", line: 2, want: `":CHAIN POLICY`},
		{name: "bad rule counters", text: "*nat\n:OUTPUT ACCEPT [0:0]\n[1:2 -A OUTPUT\nCOMMIT\n", line: 3, want: "counters"},
		{name: "unterminated quote", text: "*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m comment --comment \"oops -j X\nCOMMIT\n", line: 3, want: "unterminated double quote"},
		{name: "duplicate chain", text: "*nat\n:X - [0:0]\n:X - [0:0]\nCOMMIT\n", line: 3, want: "each chain declared once"},
		{name: "duplicate table", text: "*nat\nCOMMIT\n*nat\nCOMMIT\n", line: 3, want: "each table once"},
		{name: "not a rule", text: "*nat\n:X - [0:0]\n-I X 1 -j RETURN\nCOMMIT\n", line: 3, want: `expected a rule "-A CHAIN ..."`},
	})
}

func TestParseIPTablesSBadInput(t *testing.T) {
	checkBadInput(t, "iptables -t filter -S", parseFilterS, []badInput{
		{name: "save format", text: "*nat\n", line: 1, want: `expected a "-P", "-N" or "-A" line`},
		{name: "policy dash", text: "-P INPUT -\n", line: 1, want: "expected a policy"},
		{name: "policy missing", text: "-P INPUT\n", line: 1, want: `"-P CHAIN POLICY"`},
		{name: "rule before chain", text: "-A KUBE-X -j RETURN\n-N KUBE-X\n", line: 1, want: "undeclared chain"},
		{name: "extra words on -N", text: "-N KUBE-X now\n", line: 1, want: `"-N CHAIN"`},
		{name: "trailing backslash", text: "-N X\n-A X -j \\\n", line: 2, want: "backslash at the end"},
	})
}

func TestRuleArgs(t *testing.T) {
	tests := []struct {
		spec    string
		want    []string
		wantErr string
	}{
		{spec: "", want: nil},
		{spec: "-j ACCEPT", want: []string{"-j", "ACCEPT"}},
		{spec: "  -s 10.0.0.0/8 \t -j  RETURN ", want: []string{"-s", "10.0.0.0/8", "-j", "RETURN"}},
		{spec: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`, want: []string{"-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"}},
		{spec: `--comment "say \"hi\" \\ ok"`, want: []string{"--comment", `say "hi" \ ok`}},
		{spec: `--comment ""`, want: []string{"--comment", ""}},
		{spec: `--comment a"b c"d`, want: []string{"--comment", "ab cd"}},
		{spec: `--comment it\'s`, want: []string{"--comment", "it's"}},
		{spec: `--comment "open`, wantErr: "unterminated double quote"},
		{spec: `-j X\`, wantErr: "backslash at the end"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := Rule{Spec: tc.spec}.Args()
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Args() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRuleFromArgs(t *testing.T) {
	args := []string{"-m", "comment", "--comment", "Kubernetes nodeport TCP port for masquerade purpose", "-m", "set",
		"--match-set", "KUBE-NODE-PORT-TCP", "dst", "-j", "KUBE-MARK-MASQ"}
	r := RuleFromArgs(args...)
	if want := `-m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`; r.Spec != want {
		t.Errorf("RuleFromArgs = %q, want %q", r.Spec, want)
	}
	odd := []string{"", `a"b`, `c\d`, "e f", "it's"}
	got, err := RuleFromArgs(odd...).Args()
	if err != nil || !reflect.DeepEqual(got, odd) {
		t.Errorf("RuleFromArgs(%q).Args() = %q, %v", odd, got, err)
	}
}
