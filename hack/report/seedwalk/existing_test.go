package seedwalk

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// Every node of a cluster the walk did not create is judged: a second node showing what the
// first showed passes the same checks, under its name; one the walk did not get to fails
// each, saying so.
func TestJudgeEveryNode(t *testing.T) {
	rec := loadRun(t, "v1.37.2-creation")
	first := len(Judge(rec))
	perNode := 2 + len(tutorial.Checks) - 1 // modules, /proxyMode, the tutorial's table but the host's traffic

	seen := rec
	seen.Results = maps.Clone(rec.Results)
	seen.Facts.Nodes = []NodeFacts{{Name: "node2", IP: rec.Facts.NodeIP}}
	for _, step := range []string{StepLsmod, StepProxyMode, StepIPVS, StepKubeIPVS0, StepNodePortSet, StepNATSave, StepNodePortChain, StepNATCount, StepCurlCluster, StepCurlNodePort,
		StepStatsBefore, StepStatsAfter, StepConnsAfter} {
		seen.Results[OnNode(step, "node2")] = rec.Results[step]
	}
	vs := Judge(seen)
	if len(vs) != first+perNode {
		t.Fatalf("%d verdicts, want %d for the first node and %d for node2", len(vs), first, perNode)
	}
	for _, v := range vs[first:] {
		if !strings.HasPrefix(v.Name, "node2: ") || !v.Pass {
			t.Errorf("node2's verdict %q pass=%v:\n%s", v.Name, v.Pass, v.Detail)
		}
	}

	unseen := rec
	unseen.Facts.Nodes = []NodeFacts{{Name: "node3", IP: "10.0.0.3"}}
	for _, v := range Judge(unseen)[first:] {
		if v.Pass || !strings.Contains(v.Detail, notReached) && !strings.Contains(v.Detail, "did not get to") {
			t.Errorf("node3, never walked: %q pass=%v detail %q", v.Name, v.Pass, v.Detail)
		}
	}
}

// inspectorAt is an inspector node behind a fake API server whose /run answers with run.
func inspectorAt(t *testing.T, run func(args []string) inspector.RunResponse) *inspector.Node {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req inspector.RunRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || !strings.HasSuffix(r.URL.Path, inspector.PathRun) {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if req.Args[0] == "sh" {
			http.Error(w, `"sh" is not on the inspector's read-only list`, http.StatusForbidden)
			return
		}
		_ = json.NewEncoder(w).Encode(run(req.Args))
	}))
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return inspector.NewNode(cs.CoreV1().RESTClient(), "node1", "ns", "inspector-a")
}

func TestOnInspector(t *testing.T) {
	n := inspectorAt(t, func(args []string) inspector.RunResponse {
		switch strings.Join(args, " ") {
		case "iptables -t nat -S":
			return inspector.RunResponse{Stdout: "-P PREROUTING ACCEPT\n-N KUBE-NODE-PORT\n-A PREROUTING -j KUBE-SERVICES\n-A KUBE-NODE-PORT -j KUBE-MARK-MASQ\n"}
		case "curl -sS http://10.96.0.10/":
			return inspector.RunResponse{Stderr: "curl: (7) Failed to connect\n", ExitCode: 7}
		}
		return inspector.RunResponse{Stdout: strings.Join(args, " ")}
	})
	ctx, dir := context.Background(), t.TempDir()
	for _, tc := range []struct {
		line string
		want Result
	}{
		// The filter runs on the host, on what the node printed; its status is the line's.
		{"iptables -t nat -S | grep -c '^-A'", Result{Output: "2\n"}},
		{"iptables -t nat -S | grep -E '^-N KUBE-SVC-'", Result{ExitCode: 1}},
		{"ipvsdump -Ln", Result{Output: "ipvsdump -Ln"}},
		{"curl -sS http://10.96.0.10/", Result{Output: "curl: (7) Failed to connect\n", ExitCode: 7}},
	} {
		got := onInspector(ctx, n, tc.line, dir)
		if got.Output != tc.want.Output || got.ExitCode != tc.want.ExitCode || got.Err != "" {
			t.Errorf("%s: %+v, want %+v", tc.line, got, tc.want)
		}
	}
	if got := onInspector(ctx, n, "sh -c 'modprobe ip_vs'", dir); got.ExitCode != -1 || !strings.Contains(got.Err, "not on the inspector's read-only list") {
		t.Errorf("a command the inspector refuses: %+v", got)
	}
}

func TestExistingOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    ExistingOptions
		want string
	}{
		{"unknown method", ExistingOptions{Common: Common{Method: "ssh"}}, `method "ssh": expected "creation"`},
		{"disruptive method", ExistingOptions{Common: Common{Method: MethodConfigMap}}, "allow it with --allow-disruptive"},
		{"no kubectl", ExistingOptions{Kubectl: "/nonexistent/kubectl"}, `kubectl "/nonexistent/kubectl"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wanterr.Check(t, tc.o.Validate(), tc.want)
		})
	}
}
