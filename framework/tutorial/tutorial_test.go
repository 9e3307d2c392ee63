package tutorial

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// A real node is the outputs of one real run, one file per command.
type realNode struct {
	dir   string
	facts Facts
	// files maps the transcript's commands to the run's file names.
	files map[string]string
	// unobserved are the checks the run holds no output for.
	unobserved []string
}

// walkFiles are the file names `make lab`'s walk saves its outputs under
// (hack/report/seedwalk, LAB_SAVE=DIR).
var walkFiles = map[string]string{
	ShownIPVS:          "ipvsadm.txt",
	ShownKubeIPVS0:     "kube-ipvs0.txt",
	ShownNodePortSet:   "KUBE-NODE-PORT-TCP.txt",
	ShownNATSave:       "iptables-save-nat.txt",
	ShownNodePortChain: "KUBE-NODE-PORT.txt",
	ShownNATCount:      "nat-rule-count.txt",
	ShownCurlClusterIP: "curl-ClusterIP.txt",
	ShownCurlNodePort:  "curl-NodePort.txt",
	ShownCurlHost:      "curl-NodePort-from-the-host.txt",
	ShownStatsBefore:   "ipvsadm-stats-before.txt",
	ShownStatsAfter:    "ipvsadm-stats-after.txt",
	ShownConnsAfter:    "ipvsadm-after.txt",
}

// counterFiles are the walk's files of the counters check, which walks recorded before it
// existed lack.
var counterFiles = []string{ShownStatsBefore, ShownStatsAfter, ShownConnsAfter}

// realNodes are the real runs the checks are tested on: testdata/lab-node, the reference
// proxier on a bare lab node with the seed's own addresses (fed by a fake object store,
// no host forward), and the records of three `make lab` walks: upstream kube-proxy v1.37.2
// switched by the seed's method 2 (leftovers of the iptables proxier included), the
// reference proxier and upstream v1.37.2 in ipvs mode from creation.
func realNodes(t *testing.T) map[string]realNode {
	t.Helper()
	nodes := map[string]realNode{
		"lab-node": {
			dir:   filepath.Join("testdata", "lab-node"),
			facts: Facts{Namespace: "default", ClusterIP: "10.106.71.137", PodIP: "10.244.3.214", Requests: 1},
			files: map[string]string{
				ShownIPVS:          "ipvsadm-Ln.txt",
				ShownKubeIPVS0:     "ip-addr-show-kube-ipvs0.txt",
				ShownNodePortSet:   "ipset-list-KUBE-NODE-PORT-TCP.txt",
				ShownNATSave:       "iptables-save-t-nat.txt",
				ShownNodePortChain: "iptables-t-nat-S-KUBE-NODE-PORT.txt",
				ShownNATCount:      "nat-rule-count.txt",
				ShownCurlClusterIP: "curl-ClusterIP.txt",
				ShownCurlNodePort:  "curl-NodePort.txt",
			},
			unobserved: []string{TrafficHost, TrafficCounters},
		},
	}
	for _, run := range []string{"v1.37.2-configmap", "reference-creation", "v1.37.2-creation"} {
		dir := fixture.RepoFile(t, "hack/report/seedwalk/testdata/"+run)
		b, err := os.ReadFile(filepath.Join(dir, "record.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Facts struct{ ClusterIP, PodIP, HostNodePort string }
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		f := rec.Facts
		r := realNode{dir: dir, files: maps.Clone(walkFiles),
			facts: Facts{Namespace: "default", ClusterIP: f.ClusterIP, PodIP: f.PodIP, Answer: "nginx-test", HostEndpoint: f.HostNodePort, Requests: 1}}
		if _, err := os.Stat(filepath.Join(dir, walkFiles[ShownStatsBefore])); errors.Is(err, os.ErrNotExist) {
			for _, cmd := range counterFiles {
				delete(r.files, cmd)
			}
			r.unobserved = []string{TrafficCounters}
		}
		nodes[run] = r
	}
	return nodes
}

// The counters check is tested on at least one real walk's outputs.
func TestCountersObservedOnARealRun(t *testing.T) {
	for name, r := range realNodes(t) {
		if !contains(r.unobserved, TrafficCounters) {
			return
		}
		t.Logf("%s: recorded before the counter listings", name)
	}
	t.Fatal("no real run holds the counter listings: regenerate a walk's testdata (make lab LAB_SAVE=...)")
}

// nodeAddress is the lab node's address in every run (QEMU user networking).
const nodeAddress = "10.0.2.15"

func (r realNode) transcript(t *testing.T) map[string]Output {
	t.Helper()
	out := map[string]Output{}
	for cmd, file := range r.files {
		b, err := os.ReadFile(filepath.Join(r.dir, file))
		if err != nil {
			t.Fatal(err)
		}
		out[cmd] = Output{Text: string(b)}
	}
	return out
}

func TestChecksPassOnRealNodes(t *testing.T) {
	for name, r := range realNodes(t) {
		for _, stateOnly := range []bool{false, true} {
			label := name
			if stateOnly {
				label += " state only"
			}
			t.Run(label, func(t *testing.T) {
				n := FromTranscript("lab-node", nodeAddress, r.transcript(t))
				if len(n.Unread) > 0 {
					t.Fatalf("unread parts: %v", n.Unread)
				}
				if stateOnly {
					// What a suite reads: the state, no transcript.
					n.Transcript = nil
				}
				for _, v := range JudgeNode(r.facts, n) {
					switch {
					case !stateOnly && !contains(r.unobserved, v.Check) && !v.Pass:
						t.Errorf("FAIL %s\n%s", v.Name, v.Detail)
					case isTraffic(v.Check) && (stateOnly || contains(r.unobserved, v.Check)):
						if v.Pass || !strings.Contains(v.Detail, "no request was made") && !strings.Contains(v.Detail, "the transcript has no output") {
							t.Errorf("%s passed or failed for another reason with no request made: %s", v.Check, v.Detail)
						}
					case stateOnly && !v.Pass:
						t.Errorf("FAIL on the state alone: %s\n%s", v.Name, v.Detail)
					}
				}
			})
		}
	}
}

func isTraffic(id string) bool {
	c, _ := Lookup(id)
	return len(c.Needs) == 0
}

func contains(ids []string, id string) bool { return slices.Contains(ids, id) }

// Method 2 leaves the iptables proxier's chains: they are named, not charged to ipvs mode.
func TestLeftoversAreNamedNotCharged(t *testing.T) {
	nodes := realNodes(t)
	for _, tt := range []struct{ run, check, want string }{
		{"v1.37.2-configmap", NATRuleBudget, "ipvs mode's nat rules number at most 20 (14; 4 more are the iptables proxier's leftovers)"},
		{"v1.37.2-creation", NATRuleBudget, "ipvs mode's nat rules number at most 20 (14)"},
		{"reference-creation", NATRuleBudget, "ipvs mode's nat rules number at most 20 (14)"},
		{"v1.37.2-configmap", NoServiceChains, "no iptables rule names default/service-test1: its forwarding is IPVS's; the KUBE-SVC- and KUBE-SEP- chains are the iptables proxier's leftovers of the switch (4 rules)"},
		{"v1.37.2-creation", NoServiceChains, "no iptables rule names default/service-test1: its forwarding is IPVS's, and there is no KUBE-SVC- or KUBE-SEP- chain"},
	} {
		r := nodes[tt.run]
		c, _ := Lookup(tt.check)
		v := c.Judge(r.facts, FromTranscript("lab-node", nodeAddress, r.transcript(t)))
		if !v.Pass || v.Name != tt.want {
			t.Errorf("%s on %s: %q (pass %v), want %q passing\n%s", tt.check, tt.run, v.Name, v.Pass, tt.want, v.Detail)
		}
	}
}

// The counters check names what the listings showed, the connections after included.
func TestCountersNamedOnARealRun(t *testing.T) {
	r := realNodes(t)["v1.37.2-configmap"]
	c, _ := Lookup(TrafficCounters)
	v := c.Judge(r.facts, FromTranscript("lab-node", nodeAddress, r.transcript(t)))
	want := "traffic went through IPVS: TCP 10.96.65.29:80 counted the 1 request(s) sent to it (Conns and InPkts) " +
		"(Conns 0 -> 1, InPkts 0 -> 6, OutPkts 0 -> 4; then ActiveConn 0, InActConn 1)"
	if !v.Pass || v.Name != want {
		t.Errorf("%q (pass %v), want %q passing\n%s", v.Name, v.Pass, want, v.Detail)
	}
}

// The seed's own section 4.1.3 text, Chinese notes included, is what the ClusterIP check
// wants with the seed's addresses.
func TestClusterIPServerOnTheSeedsText(t *testing.T) {
	seedText := fixture.ReadRepo(t, "framework/dataplane/testdata/seed/ipvsadm-Ln-4.1.3.txt")
	n := FromTranscript("node1", "", map[string]Output{ShownIPVS: {Text: seedText}})
	c, _ := Lookup(ClusterIPServer)
	seed := Facts{ClusterIP: "10.106.71.137", PodIP: "10.244.3.214"}
	if v := c.Judge(seed, n); !v.Pass {
		t.Errorf("FAIL %s\n%s", v.Name, v.Detail)
	}
	seed.PodIP = "10.244.3.215"
	if v := c.Judge(seed, n); v.Pass || !strings.Contains(v.Detail, "10.244.3.215:80") {
		t.Errorf("another Pod IP: pass %v\n%s", v.Pass, v.Detail)
	}
}

// Each mutation of a real node must fail exactly the checks it concerns, and say what it saw.
func TestChecksFail(t *testing.T) {
	replace := func(cmd, old, new string) func(*testing.T, map[string]Output) {
		return func(t *testing.T, tr map[string]Output) {
			o := tr[cmd]
			o.Text = fixture.Replace(t, cmd, o.Text, old, new)
			tr[cmd] = o
		}
	}
	dropLines := func(cmd, part string) func(*testing.T, map[string]Output) {
		return func(t *testing.T, tr map[string]Output) {
			o := tr[cmd]
			o.Text = fixture.DropLines(t, cmd, o.Text, part)
			tr[cmd] = o
		}
	}
	both := func(fs ...func(*testing.T, map[string]Output)) func(*testing.T, map[string]Output) {
		return func(t *testing.T, tr map[string]Output) {
			for _, f := range fs {
				f(t, tr)
			}
		}
	}
	failed := func(cmd, failure string) func(*testing.T, map[string]Output) {
		return func(t *testing.T, tr map[string]Output) {
			o := tr[cmd]
			o.Failure = failure
			tr[cmd] = o
		}
	}
	tests := []struct {
		name, run string
		// edit changes the outputs before they are parsed; alter the node after.
		edit  func(*testing.T, map[string]Output)
		alter func(*testing.T, *Node)
		// scheduler is the one kube-proxy was configured with.
		scheduler string
		// stateOnly drops the transcript after parsing but for the traffic, as a suite
		// sees a node.
		stateOnly bool
		// fail are the IDs of exactly the checks that must fail; detail must be in the
		// first one's detail.
		fail   []string
		detail string
	}{{
		name: "another scheduler on the ClusterIP", run: "v1.37.2-configmap",
		edit: replace(ShownIPVS, "10.96.65.29:80 rr", "10.96.65.29:80 wrr"),
		fail: []string{ClusterIPServer}, detail: "wrr",
	}, {
		name: "the configured scheduler is not the one programmed", run: "reference-creation",
		scheduler: "sh", stateOnly: true,
		fail: []string{ClusterIPServer, NodePortServer}, detail: "its scheduler is rr",
	}, {
		name: "a second real server", run: "lab-node", stateOnly: true,
		alter: func(t *testing.T, n *Node) {
			for i, vs := range n.State.IPVS.Services {
				if vs.Address == netip.MustParseAddr("10.106.71.137") {
					extra := vs.RealServers[0]
					extra.Address = netip.MustParseAddr("10.244.3.9")
					n.State.IPVS.Services[i].RealServers = append(vs.RealServers, extra)
					return
				}
			}
			t.Fatal("no ClusterIP virtual server")
		},
		fail: []string{ClusterIPServer}, detail: "10.244.3.9",
	}, {
		name: "connections counted on the ClusterIP", run: "reference-creation",
		edit: func(t *testing.T, tr map[string]Output) {
			o := tr[ShownIPVS]
			i := strings.Index(o.Text, "TCP  10.96.196.206:80 rr")
			if i < 0 {
				t.Fatal("no ClusterIP block in the reference run's ipvsadm -Ln")
			}
			o.Text = o.Text[:i] + strings.Replace(o.Text[i:], "Masq    1      0          0", "Masq    1      1          0", 1)
			tr[ShownIPVS] = o
		},
		fail: []string{ClusterIPServer}, detail: "but ipvsadm -Ln shows",
	}, {
		name: "no NodePort virtual server", run: "v1.37.2-configmap",
		edit: replace(ShownIPVS, "TCP  10.0.2.15:30089 rr\n  -> 10.244.0.2:80                Masq    1      0          0         \n", ""),
		fail: []string{NodePortServer}, detail: "10.0.2.15:30089",
	}, {
		name: "no NodePort on another address of the node", run: "v1.37.2-creation", stateOnly: true,
		alter: func(t *testing.T, n *Node) {
			n.State.Links = append(n.State.Links, dataplane.Link{Name: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.7.2/24")}})
		},
		fail: []string{NodePortServer}, detail: "192.168.7.2:30089",
	}, {
		name: "the node's address is not known", run: "v1.37.2-creation",
		alter: func(t *testing.T, n *Node) { n.Address = "" },
		fail:  []string{NodePortServer}, detail: "InternalIP is not known",
	}, {
		name: "ClusterIP not on kube-ipvs0", run: "v1.37.2-configmap",
		edit: dropLines(ShownKubeIPVS0, "10.96.65.29/32"),
		fail: []string{KubeIPVS0Address}, detail: "10.96.65.29",
	}, {
		name: "no KUBE-NODE-PORT rule", run: "v1.37.2-creation", stateOnly: true,
		edit: dropLines(ShownNATSave, "-A KUBE-NODE-PORT "),
		fail: []string{NodePortRuleText}, detail: "chain KUBE-NODE-PORT has 0 rules",
	}, {
		name: "the rule spelled differently", run: "v1.37.2-configmap",
		edit: replace(ShownNodePortChain, "-m comment --comment", "-m comment  --comment"),
		fail: []string{NodePortRuleText}, detail: "not spelled as in the seed",
	}, {
		name: "30089 not in the set", run: "lab-node",
		edit: both(dropLines(ShownNodePortSet, "30089"), replace(ShownNodePortSet, "Number of entries: 1", "Number of entries: 0")),
		fail: []string{NodePortSet}, detail: "30089",
	}, {
		name: "more than 20 ipvs-mode rules", run: "reference-creation",
		edit: both(replace(ShownNATSave, "COMMIT", strings.Repeat("-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN\n", 7)+"COMMIT"),
			replace(ShownNATCount, "14", "21")),
		fail: []string{NATRuleBudget}, detail: "-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN",
	}, {
		name: "the count disagrees with iptables-save", run: "v1.37.2-configmap",
		edit: replace(ShownNATCount, "18", "17"),
		fail: []string{NATRuleBudget}, detail: `printed "17"`,
	}, {
		name: "iptables-mode rules for the seed's Service", run: "v1.37.2-configmap", stateOnly: true,
		edit: replace(ShownNATSave, "COMMIT", `-A KUBE-SERVICES -d 10.96.65.29/32 -p tcp -m comment --comment "default/service-test1:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`+"\nCOMMIT"),
		fail: []string{NoServiceChains}, detail: "default/service-test1:http",
	}, {
		name: "a KUBE-SVC- chain with no switch before", run: "reference-creation",
		edit: replace(ShownNATSave, ":KUBE-SERVICES - [0:0]", ":KUBE-SERVICES - [0:0]\n:KUBE-SEP-NPX46M4PTMTKRN6Y - [0:0]"),
		fail: []string{NoServiceChains}, detail: "KUBE-SEP-NPX46M4PTMTKRN6Y",
	}, {
		name: "a nat table kube-proxy never programmed", run: "reference-creation",
		edit: both(func(t *testing.T, tr map[string]Output) {
			tr[ShownNATSave] = Output{Text: "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"}
		}, replace(ShownNATCount, "14", "0")),
		fail: []string{NodePortRuleText, NATRuleBudget, NoServiceChains}, detail: "no KUBE-SERVICES chain",
	}, {
		name: "ipvsadm failed", run: "v1.37.2-creation",
		edit: failed(ShownIPVS, "exit status 2"),
		fail: []string{ClusterIPServer, NodePortServer}, detail: "could not be read",
	}, {
		name: "the ClusterIP does not answer", run: "lab-node",
		edit: both(failed(ShownCurlClusterIP, "exit status 7"), replace(ShownCurlClusterIP, "pod nginx-test", "curl: (7) context deadline exceeded; pod nginx-test")),
		fail: []string{TrafficClusterIP, TrafficHost}, detail: "context deadline exceeded",
	}, {
		name: "someone else answers the NodePort", run: "reference-creation",
		edit: replace(ShownCurlNodePort, "nginx-test", "<html>welcome to nginx</html>"),
		fail: []string{TrafficNodePort}, detail: `expected the answer "nginx-test"`,
	}, {
		// An answer that came another way: the ClusterIP's virtual server counted nothing.
		name: "the counters did not grow", run: "v1.37.2-configmap",
		edit: func(t *testing.T, tr map[string]Output) { tr[ShownStatsAfter] = tr[ShownStatsBefore] },
		fail: []string{TrafficCounters}, detail: "expected Conns and InPkts to grow by at least 1",
	}, {
		// A count in thousands cannot tell one request: the listing must be --exact.
		name: "the counters in ipvsadm's short form", run: "v1.37.2-configmap",
		edit: replace(ShownStatsAfter, "TCP  10.96.65.29:80                      1        6        4      412", "TCP  10.96.65.29:80                      1        6        4       1K"),
		fail: []string{TrafficCounters}, detail: "list them with --exact",
	}, {
		name: "the counters after the requests could not be listed", run: "v1.37.2-configmap",
		edit: failed(ShownStatsAfter, "exit status 2"),
		fail: []string{TrafficCounters}, detail: "failed (exit status 2)",
	}, {
		name: "an empty answer from the host", run: "v1.37.2-creation",
		edit: replace(ShownCurlHost, "nginx-test", ""),
		fail: []string{TrafficHost}, detail: `expected the answer "nginx-test"`,
	}}
	nodes := realNodes(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := nodes[tt.run]
			tr := r.transcript(t)
			if tt.edit != nil {
				tt.edit(t, tr)
			}
			n := FromTranscript("lab-node", nodeAddress, tr)
			if tt.alter != nil {
				tt.alter(t, &n)
			}
			f := r.facts
			f.Scheduler = tt.scheduler
			if tt.stateOnly {
				traffic := map[string]Output{}
				for cmd, o := range n.Transcript {
					if strings.HasPrefix(cmd, "curl ") || slices.Contains(counterFiles, cmd) {
						traffic[cmd] = o
					}
				}
				n.Transcript = traffic
			}
			var failing []Verdict
			for _, v := range JudgeNode(f, n) {
				if !v.Pass {
					failing = append(failing, v)
				}
			}
			want := append([]string{}, tt.fail...)
			for _, id := range r.unobserved {
				if !contains(want, id) {
					want = append(want, id)
				}
			}
			var got []string
			for _, v := range failing {
				got = append(got, v.Check)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				for _, v := range failing {
					t.Logf("FAIL %s\n%s", v.Name, v.Detail)
				}
				t.Fatalf("failed %v, want %v", got, want)
			}
			if !strings.Contains(failing[0].Detail, tt.detail) {
				t.Errorf("detail of %q lacks %q:\n%s", failing[0].Name, tt.detail, failing[0].Detail)
			}
		})
	}
}

func TestPrint(t *testing.T) {
	vs := []Verdict{{Name: "one", Pass: true}, Verdict{Detail: "line 1\nline 2\n"}.Retitled(lang.T(lang.CheckNodePortRule))}
	for l, want := range map[lang.Lang]string{
		lang.English: "\n== verdict\nPASS  one\nFAIL  iptables -t nat -S KUBE-NODE-PORT has the seed's rule verbatim\n        line 1\n        line 2\n1 of 2 checks passed\n",
		lang.Chinese: "\n== 判定\nPASS  one\nFAIL  iptables -t nat -S KUBE-NODE-PORT 中有与教程一字不差的规则\n        line 1\n        line 2\n2 项检查中 1 项通过\n",
	} {
		var b bytes.Buffer
		if ok := Print(&b, l, vs); ok || b.String() != want {
			t.Errorf("Print in %s = %v,\n%s\nwant false,\n%s", l, ok, b.String(), want)
		}
	}
}

// Every check's verdict line, passing (on a real run) and failing (on a node that showed
// nothing), renders in both languages: from the catalogue, the Chinese one in Chinese.
func TestVerdictLinesInBothLanguages(t *testing.T) {
	r := realNodes(t)["v1.37.2-configmap"]
	passing := JudgeNode(r.facts, FromTranscript("lab-node", nodeAddress, r.transcript(t)))
	failing := JudgeNode(r.facts, FromTranscript("lab-node", nodeAddress, map[string]Output{}))
	if len(passing) != len(Checks) || len(failing) != len(Checks) {
		t.Fatalf("%d and %d verdicts for %d checks", len(passing), len(failing), len(Checks))
	}
	for i, c := range Checks {
		for _, v := range []Verdict{passing[i], failing[i]} {
			if v.Check != c.ID || v.Title.IsZero() {
				t.Errorf("%s: verdict %+v has no title", c.ID, v)
				continue
			}
			en, zh := v.Line(lang.English), v.Line(lang.Chinese)
			for _, l := range []string{en, zh} {
				if strings.Contains(l, "!check.") || strings.Contains(l, "%!") {
					t.Errorf("%s: %q renders a missing message or a bad format", c.ID, l)
				}
			}
			if en != "PASS  "+v.Name && en != "FAIL  "+v.Name {
				t.Errorf("%s: English line %q is not the verdict's name %q", c.ID, en, v.Name)
			}
			if !hasHan(zh) {
				t.Errorf("%s: Chinese line %q has no Chinese", c.ID, zh)
			}
		}
		if !passing[i].Pass || failing[i].Pass {
			t.Errorf("%s: pass %v on the real run, %v on nothing", c.ID, passing[i].Pass, failing[i].Pass)
		}
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func TestFromTranscriptSaysWhatIsUnread(t *testing.T) {
	n := FromTranscript("n", "", map[string]Output{
		ShownIPVS:      {Text: "not ipvsadm output\n"},
		ShownKubeIPVS0: {Failure: "exit status 1", Text: "Device \"kube-ipvs0\" does not exist.\n"},
	})
	for part, want := range map[Part]string{
		IPVS:     "parsing the output of",
		Links:    `does not exist`,
		IPSets:   "the transcript has no output",
		IPTables: "the transcript has no output",
	} {
		t.Run(fmt.Sprint(part), func(t *testing.T) {
			wanterr.Check(t, n.Unread[part], want)
		})
	}
}
