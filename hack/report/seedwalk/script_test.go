package seedwalk

import (
	"maps"
	"slices"
	"strings"
	"testing"

	clusterlab "github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// Every step the walk can take has a unique name and file; a visible step shows a typed
// line or a note; and a real run's record holds a result for exactly the steps of its
// script, plus the metrics the service wait read.
func TestScriptMatchesRealRuns(t *testing.T) {
	for _, run := range realRuns {
		t.Run(run, func(t *testing.T) {
			rec := loadRun(t, run)
			steps := Script(rec.Facts)
			names, files := map[string]bool{}, map[string]bool{}
			for _, s := range steps {
				if s.Name == "" || names[s.Name] || files[OutputFile(s.Name)] {
					t.Errorf("step name %q is empty or not unique (file %s)", s.Name, OutputFile(s.Name))
				}
				names[s.Name], files[OutputFile(s.Name)] = true, true
				if !s.Hidden && s.Typed == "" && s.Note.IsZero() {
					t.Errorf("visible step %q shows neither a typed line nor a note", s.Name)
				}
				if note := lang.English.Render(s.Note); s.Typed == "" && !strings.HasPrefix(note, "lab: ") {
					t.Errorf("step %q runs no command, so it is one of the lab's waits, whose note must start with \"lab: \": %q", s.Name, note)
				}
			}
			names[StepMetrics] = true
			got, want := slices.Sorted(maps.Keys(rec.Results)), slices.Sorted(maps.Keys(names))
			if !slices.Equal(got, want) {
				t.Errorf("the record has results for\n  %q\nthe script has steps\n  %q", got, want)
			}
		})
	}
}

// The typed lines hold what the walk learned on the way, as a person would type them.
func TestScriptTypesWhatTheRunLearned(t *testing.T) {
	rec := loadRun(t, realRuns[0])
	f := rec.Facts
	typed := map[string]string{}
	for _, s := range Script(f) {
		typed[s.Name] = s.Typed
	}
	for step, want := range map[string]string{
		StepKubeProxyLog: "kubectl -n kube-system logs " + f.PodsAfter[0] + " | grep -E '",
		StepCurlCluster:  "curl -sS http://" + f.ClusterIP + "/",
		StepCurlNodePort: "curl -sS http://10.0.2.15:30089/",
		StepCurlHost:     "curl -sS http://" + f.HostNodePort + "/",
		StepEdit:         "kubectl -n kube-system edit configmap kube-proxy",
		StepDeletePods:   "kubectl -n kube-system delete pod -l k8s-app=kube-proxy",
		StepApply:        "kubectl apply -f manifests/service-ipvs.yml",
		StepGet:          "kubectl get svc,pods -o wide",
		StepIPVS:         "ipvsadm -Ln",
		StepNATCount:     "iptables -t nat -S | grep -c '^-A'",
	} {
		if !strings.HasPrefix(typed[step], want) {
			t.Errorf("step %q types %q, want it to start with %q", step, typed[step], want)
		}
	}
	for _, s := range Script(Facts{Method: MethodCreation}) {
		if s.Name == StepEdit || s.Name == StepDeletePods || s.Name == StepLeftovers {
			t.Errorf("method 1 has method 2's step %q", s.Name)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{name: "defaults", o: Options{}},
		{name: "upstream by creation", o: Options{KubeProxy: "v1.35.4", Common: Common{Method: MethodCreation}}},
		{name: "reference", o: Options{KubeProxy: clusterlab.Reference}},
		{name: "reference by ConfigMap", o: Options{KubeProxy: clusterlab.Reference, Common: Common{Method: MethodConfigMap}}, wantErr: "implements ipvs mode only"},
		{name: "unknown method", o: Options{Common: Common{Method: "edit"}}, wantErr: `method "edit": expected`},
		{name: "release without v", o: Options{KubeProxy: "1.37"}, wantErr: "expected a release such as v1.37.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wanterr.Check(t, tt.o.Validate(), tt.wantErr)
		})
	}
	if m := DefaultMethod(clusterlab.Reference); m != MethodCreation {
		t.Errorf("the reference proxier's default method is %q, want %q", m, MethodCreation)
	}
	if m := DefaultMethod("v1.37.2"); m != MethodConfigMap {
		t.Errorf("upstream's default method is %q, want %q (the seed's main path)", m, MethodConfigMap)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	rec := loadRun(t, realRuns[1])
	dir := t.TempDir()
	if err := rec.Save(dir); err != nil {
		t.Fatal(err)
	}
	back, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Facts.ClusterIP != rec.Facts.ClusterIP || len(back.Results) != len(rec.Results) {
		t.Fatalf("round trip lost facts or results: %+v", back.Facts)
	}
	for n, r := range rec.Results {
		if back.Results[n] != r {
			t.Errorf("step %q: saved %+v, loaded %+v", n, r, back.Results[n])
		}
	}
	clash := Record{Results: map[string]Result{"curl NodePort": {}, "curl/NodePort": {}}}
	wanterr.Check(t, clash.Save(t.TempDir()), "would both be saved as")
}
