package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// seedRun loads testdata/seed-run: the outputs of a real `ipvs-e2e walk seed --save` run in the
// kernel lab, one file per guest command.
func seedRun(t *testing.T) map[string]kernellab.CommandResult {
	t.Helper()
	outs := map[string]kernellab.CommandResult{}
	for _, s := range SeedSteps() {
		if !s.runs() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("testdata", "seed-run", FileName(s.Command.Name)))
		if err != nil {
			t.Fatalf("testdata of step %q: %v (regenerate with `go run ./cmd/ipvs-e2e walk seed --save hack/lab/scenario/testdata/seed-run`)", s.Command.Name, err)
		}
		outs[s.Command.Name] = kernellab.CommandResult{Name: s.Command.Name, Output: string(b), Finished: true}
	}
	return outs
}

func seedConfig(t *testing.T) []byte {
	t.Helper()
	b, err := manifests.FS.ReadFile(manifests.KubeProxyIPVS)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJudgeRealRunPasses(t *testing.T) {
	vs := Judge(seedConfig(t), seedRun(t))
	if len(vs) != 10 {
		t.Errorf("%d verdicts, want 10", len(vs))
	}
	for _, v := range vs {
		if !v.Pass {
			t.Errorf("FAIL %s\n%s", v.Name, v.Detail)
		}
	}
}

// Each mutation of the real outputs must fail exactly the verdicts it concerns, with a
// message that says what was seen.
func TestJudgeFailures(t *testing.T) {
	replace := func(name, old, new string) func(map[string]kernellab.CommandResult) {
		return func(outs map[string]kernellab.CommandResult) {
			c := outs[name]
			if !strings.Contains(c.Output, old) {
				panic("testdata of " + name + " lacks " + old)
			}
			c.Output = strings.ReplaceAll(c.Output, old, new)
			outs[name] = c
		}
	}
	failed := func(name string, code int) func(map[string]kernellab.CommandResult) {
		return func(outs map[string]kernellab.CommandResult) {
			c := outs[name]
			c.ExitCode = code
			outs[name] = c
		}
	}
	tests := []struct {
		name   string
		mutate func(map[string]kernellab.CommandResult)
		config string
		// fail are substrings of the names of the verdicts that must fail; detail must be
		// in the first one's detail.
		fail   []string
		detail string
	}{{
		name:   "wrong scheduler on the ClusterIP",
		mutate: replace(cmdIPVSAdm, "TCP  10.106.71.137:80 rr", "TCP  10.106.71.137:80 wrr"),
		fail:   []string{"the seed's block"},
		detail: "its scheduler is wrr",
	}, {
		name: "a connection counted before the curl",
		mutate: replace(cmdIPVSAdm, "TCP  10.106.71.137:80 rr\n  -> 10.244.3.214:80              Masq    1      0          0",
			"TCP  10.106.71.137:80 rr\n  -> 10.244.3.214:80              Masq    1      1          0"),
		fail:   []string{"the seed's block"},
		detail: "Masq    1      1          0",
	}, {
		name:   "the pod's real server missing from the NodePort",
		mutate: replace(cmdIPVSAdm, "TCP  10.0.2.15:30089 rr\n  -> 10.244.3.214:80              Masq    1      0          0         \n", "TCP  10.0.2.15:30089 rr\n"),
		fail:   []string{"NodePort virtual server"},
		detail: "it has no real server 10.244.3.214:80",
	}, {
		name:   "ipvsadm failed",
		mutate: failed(cmdIPVSAdm, 2),
		fail:   []string{"the seed's block", "NodePort virtual server"},
		detail: `"ipvsadm -Ln" exited 2`,
	}, {
		name:   "ClusterIP not on kube-ipvs0",
		mutate: replace(cmdKubeIPVS0, "inet 10.106.71.137/32", "inet 10.106.71.138/32"),
		fail:   []string{"on kube-ipvs0"},
		detail: "10.106.71.137",
	}, {
		name:   "the rule spelled differently (quotes dropped) still matches the model but not the seed's text",
		mutate: replace(cmdNodePortNAT, `--comment "Kubernetes nodeport TCP port for masquerade purpose"`, `--comment "Kubernetes nodeport TCP port for masquerade purpose" `),
		fail:   []string{"verbatim"},
		detail: "not spelled as in the seed",
	}, {
		name:   "the rule jumps elsewhere",
		mutate: replace(cmdNodePortNAT, "-j KUBE-MARK-MASQ", "-j RETURN"),
		fail:   []string{"verbatim"},
		detail: "-A KUBE-NODE-PORT",
	}, {
		name:   "the NodePort is not in its set",
		mutate: replace(cmdNodePortSet, "\n30089", "\n30090"),
		fail:   []string{"KUBE-NODE-PORT-TCP, holds 30089"},
	}, {
		name:   "iptables-mode leftovers",
		mutate: replace(cmdNATSave, ":KUBE-SERVICES - [0:0]\n", ":KUBE-SERVICES - [0:0]\n:KUBE-SVC-ABCDEFGHIJKLMNOP - [0:0]\n"),
		fail:   []string{"KUBE-SVC-"},
		detail: "KUBE-SVC-ABCDEFGHIJKLMNOP",
	}, {
		name: "more than 20 nat rules",
		mutate: func(outs map[string]kernellab.CommandResult) {
			extra := strings.Repeat("-A KUBE-POSTROUTING -j RETURN\n", 7)
			replace(cmdNATSave, "COMMIT\n", extra+"COMMIT\n")(outs)
			replace(cmdNATCount, "14", "21")(outs)
		},
		fail:   []string{"at most 20 rules"},
		detail: "but it has 21",
	}, {
		name:   "the count the reader saw disagrees with iptables-save",
		mutate: replace(cmdNATCount, "14", "15"),
		fail:   []string{"at most 20 rules"},
		detail: "printed \"15\"",
	}, {
		name: "a nat table the proxier never programmed passes nothing",
		mutate: func(outs map[string]kernellab.CommandResult) {
			outs[cmdNATSave] = kernellab.CommandResult{Name: cmdNATSave, Finished: true,
				Output: "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"}
			outs[cmdNATCount] = kernellab.CommandResult{Name: cmdNATCount, Finished: true, ExitCode: 1, Output: "0\n"}
		},
		fail:   []string{"at most 20 rules", "KUBE-SVC-"},
		detail: "no KUBE-SERVICES chain",
	}, {
		name:   "no answer through the ClusterIP",
		mutate: failed(cmdCurlCluster, 1),
		fail:   []string{"traffic to the ClusterIP"},
		detail: "the request exited 1",
	}, {
		name:   "an answer from someone else through the NodePort",
		mutate: replace(cmdCurlNodePort, "pod nginx-test (10.244.3.214:80)", "pod other (10.244.3.215:80)"),
		fail:   []string{"traffic to the NodePort"},
		detail: "expected an answer from",
	}, {
		name:   "the scheduler line missing",
		mutate: replace(cmdProxierLog, "IPVS scheduler not specified, use rr by default", "something else"),
		fail:   []string{"logs \"IPVS scheduler not specified"},
		detail: "lacks the line",
	}, {
		name:   "a scheduler set in the configuration and the line logged anyway",
		config: "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  scheduler: rr\n",
		fail:   []string{"does not log"},
		detail: "the log has the line",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outs := seedRun(t)
			if tt.mutate != nil {
				tt.mutate(outs)
			}
			cfg := seedConfig(t)
			if tt.config != "" {
				cfg = []byte(tt.config)
			}
			var failedNames []string
			var first *Verdict
			for _, v := range Judge(cfg, outs) {
				if v.Pass {
					continue
				}
				failedNames = append(failedNames, v.Name)
				if first == nil {
					first = &v
				}
			}
			if len(failedNames) != len(tt.fail) {
				t.Fatalf("failed verdicts %q, want ones about %q", failedNames, tt.fail)
			}
			for i, f := range tt.fail {
				if !strings.Contains(failedNames[i], f) {
					t.Errorf("failed verdict %d is %q, want one about %q", i, failedNames[i], f)
				}
			}
			if !strings.Contains(first.Detail, tt.detail) {
				t.Errorf("detail of %q lacks %q:\n%s", first.Name, tt.detail, first.Detail)
			}
		})
	}
}

func TestPrintVerdicts(t *testing.T) {
	var b strings.Builder
	ok := PrintVerdicts(&b, []Verdict{{Name: "one", Pass: true}, {Name: "two", Detail: "line 1\nline 2\n"}})
	want := "\n== verdict\nPASS  one\nFAIL  two\n        line 1\n        line 2\n1 of 2 checks passed\n"
	if ok || b.String() != want {
		t.Errorf("PrintVerdicts = %v,\n%q\nwant false,\n%q", ok, b.String(), want)
	}
}
