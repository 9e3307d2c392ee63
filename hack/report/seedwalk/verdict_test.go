package seedwalk

import (
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// The records of real `make lab` runs (LAB_SAVE=DIR): upstream kube-proxy v1.37.2 switched
// by the seed's method 2, the reference proxier in ipvs mode from creation (method 1), and
// upstream v1.37.2 by method 1 (LAB_METHOD=creation).
var realRuns = []string{"v1.37.2-configmap", "reference-creation", "v1.37.2-creation"}

func loadRun(t testing.TB, name string) Record {
	t.Helper()
	rec, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("testdata/%s: %v (regenerate with `make lab LAB_SAVE=$PWD/hack/report/seedwalk/testdata/%s`)", name, err, name)
	}
	return rec
}

func TestJudgeRealRunsPass(t *testing.T) {
	for _, run := range realRuns {
		t.Run(run, func(t *testing.T) {
			vs := Judge(loadRun(t, run))
			if len(vs) != 19 {
				t.Errorf("%d verdicts, want 19", len(vs))
			}
			for _, v := range vs {
				if !v.Pass {
					t.Errorf("FAIL %s\n%s", v.Name, v.Detail)
				}
			}
		})
	}
}

// Each mutation of a real run must fail exactly the verdicts it concerns, and say what it saw.
func TestJudgeFailures(t *testing.T) {
	replace := func(step, old, new string) func(*testing.T, *Record) {
		return func(t *testing.T, rec *Record) {
			r := rec.Results[step]
			r.Output = fixture.Replace(t, step, r.Output, old, new)
			rec.Results[step] = r
		}
	}
	dropLine := func(step, part string) func(*testing.T, *Record) {
		return func(t *testing.T, rec *Record) {
			r := rec.Results[step]
			r.Output = fixture.DropLines(t, step, r.Output, part)
			rec.Results[step] = r
		}
	}
	exited := func(step string, code int) func(*testing.T, *Record) {
		return func(t *testing.T, rec *Record) {
			r := rec.Results[step]
			r.ExitCode = code
			rec.Results[step] = r
		}
	}
	missing := func(step string) func(*testing.T, *Record) {
		return func(t *testing.T, rec *Record) { delete(rec.Results, step) }
	}
	tests := []struct {
		name   string
		run    string
		mutate func(*testing.T, *Record)
		// fail are substrings of the names of exactly the verdicts that must fail; detail
		// must be in the first one's detail.
		fail   []string
		detail string
	}{{
		name: "a module not loaded", run: realRuns[0],
		mutate: dropLine(StepLsmod, "ip_vs_sh "),
		fail:   []string{"lsmod lists"}, detail: "missing ip_vs_sh",
	}, {
		name: "the edit was cancelled", run: realRuns[0],
		mutate: replace(StepEdit, "configmap/kube-proxy edited", "Edit cancelled, no changes made."),
		fail:   []string{"kubectl edit changed"}, detail: "Edit cancelled",
	}, {
		name: "config.conf still says iptables", run: realRuns[0],
		mutate: func(t *testing.T, rec *Record) {
			rec.Facts.ConfigAfter = strings.Replace(rec.Facts.ConfigAfter, `mode: "ipvs"`, `mode: "iptables"`, 1)
		},
		fail: []string{"kubectl edit changed"}, detail: `mode is "iptables"`,
	}, {
		name: "method 1 cluster not in ipvs mode", run: realRuns[1],
		mutate: func(t *testing.T, rec *Record) {
			rec.Facts.ConfigAfter = strings.Replace(rec.Facts.ConfigAfter, `mode: "ipvs"`, `mode: ""`, 1)
		},
		fail: []string{`config.conf says mode: "ipvs"`}, detail: `mode is ""`,
	}, {
		name: "the old pod was not deleted", run: realRuns[0],
		mutate: func(t *testing.T, rec *Record) { rec.Results[StepDeletePods] = Result{Output: "No resources found\n"} },
		fail:   []string{"replaced the pod"}, detail: "did not say it deleted",
	}, {
		name: "the new pod is not Running", run: realRuns[0],
		mutate: replace(StepKubeProxyPods, "Running", "CrashLoopBackOff"),
		fail:   []string{"replaced the pod"}, detail: "1/1 Running",
	}, {
		name: "kube-proxy fell back to iptables", run: realRuns[0],
		mutate: func(t *testing.T, rec *Record) {
			replace(StepFullLog, `"Using ipvs Proxier"`, `"Using iptables Proxier"`)(t, rec)
			replace(StepKubeProxyLog, `"Using ipvs Proxier"`, `"Using iptables Proxier"`)(t, rec)
		},
		fail: []string{`logs "Using ipvs Proxier"`}, detail: `"iptables" proxier`,
	}, {
		name: "no scheduler line", run: realRuns[0],
		mutate: dropLine(StepFullLog, "IPVS scheduler not specified"),
		fail:   []string{"ipvs.scheduler is empty"}, detail: "lacks the line",
	}, {
		name: "1.37 without the deprecation", run: realRuns[0],
		mutate: dropLine(StepFullLog, "has been deprecated"),
		fail:   []string{"logs the ipvs deprecation"}, detail: "no deprecation line",
	}, {
		name: "the reference proxier claiming the deprecation", run: realRuns[1],
		mutate: func(t *testing.T, rec *Record) {
			r := rec.Results[StepFullLog]
			r.Output += `E1126 10:04:20.101654     274 server_linux.go:193] "The ipvs proxier has been deprecated and will be disabled by default in Kubernetes 1.40 and removed in Kubernetes 1.43. Migrate to the 'nftables' proxier instead."` + "\n"
			rec.Results[StepFullLog] = r
		},
		fail: []string{"does not log the ipvs deprecation"}, detail: "it logged",
	}, {
		name: "/proxyMode says iptables", run: realRuns[0],
		mutate: replace(StepProxyMode, "ipvs", "iptables"),
		fail:   []string{"/proxyMode answers ipvs"}, detail: "answers iptables",
	}, {
		name: "/proxyMode not served", run: realRuns[1],
		mutate: func(t *testing.T, rec *Record) {
			rec.Results[StepProxyMode] = Result{ExitCode: 7, Output: `curl: (7) Get "http://127.0.0.1:10249/proxyMode": dial tcp 127.0.0.1:10249: connect: connection refused` + "\n"}
		},
		fail: []string{"/proxyMode answers ipvs"}, detail: "connection refused",
	}, {
		name: "the Pod is not on the node", run: realRuns[0],
		mutate: replace(StepGet, "lab-node", "node2"),
		fail:   []string{"kubectl get svc,pods"}, detail: "no line shows the Pod",
	}, {
		name: "another scheduler on the ClusterIP", run: realRuns[0],
		mutate: replace(StepIPVS, "10.96.65.29:80 rr", "10.96.65.29:80 wrr"),
		fail:   []string{"the seed's block"}, detail: "wrr",
	}, {
		name: "config.conf asks for another scheduler", run: realRuns[0],
		mutate: func(t *testing.T, rec *Record) {
			if !strings.Contains(rec.Facts.ConfigAfter, `scheduler: ""`) {
				t.Fatalf("config.conf has no empty scheduler:\n%s", rec.Facts.ConfigAfter)
			}
			rec.Facts.ConfigAfter = strings.Replace(rec.Facts.ConfigAfter, `scheduler: ""`, `scheduler: "wrr"`, 1)
		},
		fail: []string{"the seed's block", "a NodePort virtual server"}, detail: "its scheduler is rr",
	}, {
		name: "connections counted on the ClusterIP", run: realRuns[1],
		mutate: func(t *testing.T, rec *Record) {
			r := rec.Results[StepIPVS]
			i := strings.Index(r.Output, "TCP  10.96.196.206:80 rr")
			if i < 0 {
				t.Fatal("no ClusterIP block in the reference run's ipvsadm -Ln")
			}
			r.Output = r.Output[:i] + strings.Replace(r.Output[i:], "Masq    1      0          0", "Masq    1      1          0", 1)
			rec.Results[StepIPVS] = r
		},
		fail: []string{"the seed's block"}, detail: "but ipvsadm -Ln shows",
	}, {
		name: "no NodePort virtual server", run: realRuns[0],
		mutate: func(t *testing.T, rec *Record) {
			replace(StepIPVS, "TCP  10.0.2.15:30089 rr\n  -> 10.244.0.2:80                Masq    1      0          0         \n", "")(t, rec)
		},
		fail: []string{"a NodePort virtual server"}, detail: "10.0.2.15:30089",
	}, {
		name: "ipvsadm did not run", run: realRuns[0],
		mutate: missing(StepIPVS),
		fail:   []string{"the seed's block", "a NodePort virtual server"}, detail: "did not get to this step",
	}, {
		name: "ClusterIP not on kube-ipvs0", run: realRuns[0],
		mutate: dropLine(StepKubeIPVS0, "10.96.65.29/32"),
		fail:   []string{"is on kube-ipvs0"}, detail: "10.96.65.29",
	}, {
		name: "no KUBE-NODE-PORT rule (the set still empty)", run: realRuns[0],
		mutate: func(t *testing.T, rec *Record) {
			dropLine(StepNodePortChain, "-A KUBE-NODE-PORT")(t, rec)
			dropLine(StepNATSave, "-A KUBE-NODE-PORT")(t, rec)
			replace(StepNATCount, "18", "17")(t, rec)
			dropLine(StepNodePortSet, "30089")(t, rec)
		},
		fail: []string{"has the seed's rule verbatim", "holds 30089"}, detail: "has 0 rules",
	}, {
		name: "the rule spelled differently", run: realRuns[0],
		mutate: replace(StepNodePortChain, "-m comment --comment", "-m comment  --comment"),
		fail:   []string{"has the seed's rule verbatim"}, detail: "not spelled as in the seed",
	}, {
		name: "the count disagrees with iptables-save", run: realRuns[0],
		mutate: replace(StepNATCount, "18", "17"),
		fail:   []string{"at most 20"}, detail: "printed \"17\"",
	}, {
		name: "more than 20 ipvs-mode rules", run: realRuns[1],
		mutate: func(t *testing.T, rec *Record) {
			extra := strings.Repeat("-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN\n", 7)
			replace(StepNATSave, "COMMIT", extra+"COMMIT")(t, rec)
			replace(StepNATCount, "14", "21")(t, rec)
		},
		fail: []string{"at most 20 (21)"}, detail: "-A KUBE-SERVICES",
	}, {
		name: "iptables-mode rules for the seed's Service", run: realRuns[0],
		mutate: func(t *testing.T, rec *Record) {
			replace(StepNATSave, "COMMIT", `-A KUBE-SERVICES -d 10.96.65.29/32 -p tcp -m comment --comment "default/service-test1:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ`+"\nCOMMIT")(t, rec)
			replace(StepNATCount, "18", "19")(t, rec)
		},
		fail: []string{"no iptables rule names default/service-test1"}, detail: "default/service-test1:http",
	}, {
		name: "method 1 with a KUBE-SVC- chain", run: realRuns[1],
		mutate: replace(StepNATSave, ":KUBE-SERVICES - [0:0]", ":KUBE-SERVICES - [0:0]\n:KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]"),
		fail:   []string{"no KUBE-SVC- or KUBE-SEP- chain"}, detail: "KUBE-SVC-NPX46M4PTMTKRN6Y",
	}, {
		name: "a nat table kube-proxy never programmed", run: realRuns[1],
		mutate: func(t *testing.T, rec *Record) {
			rec.Results[StepNATSave] = Result{Output: "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n"}
			replace(StepNATCount, "14", "0")(t, rec)
		},
		fail: []string{"has the seed's rule verbatim", "at most 20", "no iptables rule names"}, detail: "no KUBE-SERVICES chain",
	}, {
		name: "the ClusterIP does not answer", run: realRuns[0],
		mutate: func(t *testing.T, rec *Record) {
			exited(StepCurlCluster, 7)(t, rec)
			replace(StepCurlCluster, "nginx-test", `curl: (7) Get "http://10.96.65.29/": context deadline exceeded`)(t, rec)
		},
		fail: []string{"the ClusterIP 10.96.65.29:80 reaches the Pod"}, detail: "context deadline exceeded",
	}, {
		name: "someone else answers the NodePort", run: realRuns[1],
		mutate: replace(StepCurlNodePort, "nginx-test", "<html>welcome to nginx</html>"),
		fail:   []string{"from the node, the NodePort"}, detail: "expected the answer \"nginx-test\"",
	}, {
		name: "the host forward fails", run: realRuns[1],
		mutate: exited(StepCurlHost, 7),
		fail:   []string{"from the host"}, detail: "exited 7",
	}, {
		// The Pod answered, but not through the ClusterIP's virtual server.
		name: "the counters did not grow", run: realRuns[0],
		mutate: func(t *testing.T, rec *Record) { rec.Results[StepStatsAfter] = rec.Results[StepStatsBefore] },
		fail:   []string{"traffic went through IPVS"}, detail: "expected Conns and InPkts to grow by at least 1",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := loadRun(t, tt.run)
			tt.mutate(t, &rec)
			vs := Judge(rec)
			var failed []Verdict
			for _, v := range vs {
				if !v.Pass {
					failed = append(failed, v)
				}
			}
			if len(failed) != len(tt.fail) {
				for _, v := range failed {
					t.Logf("FAIL %s\n%s", v.Name, v.Detail)
				}
				t.Fatalf("%d verdicts failed, want %d (%q)", len(failed), len(tt.fail), tt.fail)
			}
			for i, want := range tt.fail {
				if !strings.Contains(failed[i].Name, want) {
					t.Errorf("failed verdict %d is %q, want one with %q", i, failed[i].Name, want)
				}
			}
			if !strings.Contains(failed[0].Detail, tt.detail) {
				t.Errorf("detail of %q lacks %q:\n%s", failed[0].Name, tt.detail, failed[0].Detail)
			}
		})
	}
}

func TestLoadedModules(t *testing.T) {
	got := LoadedModules("Module                  Size  Used by\nip_vs_sh               16384  0 \nip_vs                 188416  6 ip_vs_sh\n\n")
	if len(got) != 2 || !got["ip_vs_sh"] || !got["ip_vs"] || got["Module"] {
		t.Errorf("LoadedModules = %v, want ip_vs and ip_vs_sh", got)
	}
}

func FuzzLoadedModules(f *testing.F) {
	for _, run := range realRuns {
		f.Add(loadRun(f, run).Results[StepLsmod].Output)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for m := range LoadedModules(s) {
			if m == "" || strings.ContainsAny(m, " \t\n") || !strings.Contains(s, m) {
				t.Errorf("module name %q is not a word of the input", m)
			}
		}
	})
}

// Every verdict line of the walk - its own checks and the tutorial's table, for each kind of
// run and on a second node - renders in both languages from the catalogue, passing (the
// recorded runs) and failing (no results, or empty outputs and config): the English line is the
// verdict's Name, the Chinese one is Chinese.
func TestVerdictLinesInBothLanguages(t *testing.T) {
	seen := map[string]bool{}
	for _, run := range realRuns {
		rec := loadRun(t, run)
		rec.Facts.Nodes = []NodeFacts{{Name: "node2", IP: rec.Facts.NodeIP}}
		for step, r := range maps.Clone(rec.Results) {
			rec.Results[OnNode(step, "node2")] = r
		}
		none, blank := rec, rec
		none.Results, blank.Results = map[string]Result{}, map[string]Result{}
		blank.Facts.ConfigAfter = ""
		for step := range rec.Results {
			blank.Results[step] = Result{}
		}
		for _, r := range []Record{rec, none, blank} {
			for _, v := range Judge(r) {
				en, zh := v.Line(lang.English), v.Line(lang.Chinese)
				if en != "PASS  "+v.Name && en != "FAIL  "+v.Name {
					t.Errorf("%s: English line %q is not the verdict's name %q", run, en, v.Name)
				}
				if strings.Contains(en+zh, "%!") || strings.Contains(en+zh, "!check.") || strings.Contains(en+zh, "!verdict.") {
					t.Errorf("%s: %q / %q render a missing message or a bad format", run, en, zh)
				}
				if !strings.ContainsFunc(zh, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
					t.Errorf("%s: Chinese line %q has no Chinese", run, zh)
				}
				seen[string(v.Title.ID)+"/"+strconv.FormatBool(v.Pass)] = true
			}
		}
	}
	// The reference proxier logging a deprecation, and a release before 1.35, are not among
	// the recorded runs: TestJudgeFailures and the catalogue's test cover those.
	for _, id := range []lang.ID{lang.CheckModules, lang.CheckConfigEdited, lang.CheckConfigCreation, lang.CheckPodsReplaced, lang.CheckPodsRunning,
		lang.CheckLogIPVS, lang.CheckLogScheduler, lang.CheckDeprecation, lang.CheckProxyMode, lang.CheckGet, lang.VerdictOnNode} {
		for _, pass := range []string{"true", "false"} {
			if !seen[string(id)+"/"+pass] {
				t.Errorf("no verdict %s with pass=%s was rendered", id, pass)
			}
		}
	}
}
