package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func spec(text string, state types.SpecState, msg string) types.SpecReport {
	r := types.SpecReport{LeafNodeType: types.NodeTypeIt, LeafNodeText: text, ContainerHierarchyTexts: []string{"the seed's section 4"}, State: state}
	if msg != "" {
		r.Failure = types.Failure{Message: msg, Location: types.CodeLocation{FileName: "suites/seedlab/seedlab_test.go", LineNumber: 42}}
	}
	return r
}

func report(succeeded bool, specs ...types.SpecReport) types.Report {
	return types.Report{SuiteSucceeded: succeeded, RunTime: 95 * time.Second, SpecReports: specs}
}

func TestSummary(t *testing.T) {
	cfg := Config{Provider: "kind", ClusterName: "ipvs-e2e-seedlab", Switch: SwitchByConfigMap, Artifacts: "/tmp/artifacts"}
	r := report(false,
		spec("the ClusterIP virtual server uses rr", types.SpecStatePassed, ""),
		spec("the nat table stays within 20 kube-proxy rules", types.SpecStateFailed, "Expected at most 20 rules in table nat\nfound 31"),
		spec("deprecation", types.SpecStateSkipped, ""),
	)
	r.SuiteConfig.LabelFilter = "seedlab"
	s := summary(r, summaryInfo{Suite: "seedlab", Config: cfg, Minor: 37, Notes: []string{"kube-proxy switched to ipvs\n  node a: ..."}, Fate: "kept"})
	fixture.Contains(t, "summary", s,
		"=== ipvs-e2e seedlab: FAILED ===",
		"provider kind, cluster ipvs-e2e-seedlab, Kubernetes 1.37, kube-proxy to ipvs by ConfigMap edit + pod restart (method 2)",
		"specs: 1 passed, 1 failed, 1 skipped, 0 pending (1m35s)",
		"label filter: seedlab",
		"FAIL the seed's section 4 the nat table stays within 20 kube-proxy rules\n     at suites/seedlab/seedlab_test.go:42\n     Expected at most 20 rules in table nat ...",
		"note: kube-proxy switched to ipvs\nnote:   node a: ...",
		"artifacts: /tmp/artifacts",
		"cluster: kept",
	)
	ok := summary(report(true, spec("x", types.SpecStatePassed, "")), summaryInfo{Suite: "services", Config: Config{Switch: SwitchAtCreation}})
	if !strings.Contains(ok, "services: PASSED") || !strings.Contains(ok, "Kubernetes provider default") || !strings.Contains(ok, "(method 1)") {
		t.Errorf("passing summary:\n%s", ok)
	}
}

// fakeProvider records the fate calls.
type fakeProvider struct{ calls []string }

// fakeRunDirProvider is a provider with a run directory, as the lab cluster.
type fakeRunDirProvider struct{ fakeProvider }

func (f *fakeRunDirProvider) KeepRunDir() string {
	f.calls = append(f.calls, "keep")
	return "/tmp/ipvs-e2e-labcluster-1"
}

func (f *fakeProvider) Name() string                               { return "fake" }
func (f *fakeProvider) Preflight(context.Context) error            { return nil }
func (f *fakeProvider) Create(context.Context) (bool, error)       { return true, nil }
func (f *fakeProvider) Nodes(context.Context) ([]node.Node, error) { return nil, nil }
func (f *fakeProvider) Kubeconfig(context.Context) ([]byte, error) { return nil, nil }
func (f *fakeProvider) HostEndpoint(context.Context, int32) (netip.AddrPort, error) {
	return netip.AddrPort{}, errors.New("none")
}
func (f *fakeProvider) ExportLogs(_ context.Context, dir string) error {
	f.calls = append(f.calls, "logs")
	return os.MkdirAll(dir, 0o755)
}
func (f *fakeProvider) Delete(context.Context) error { f.calls = append(f.calls, "delete"); return nil }

var _ cluster.Provider = (*fakeProvider)(nil)

func TestFinish(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		created bool
		r       types.Report
		calls   string
		// runDirCalls are the calls on a provider with a run directory (the lab cluster's).
		runDirCalls string
		fate        string
	}{
		{"passed", Config{}, true, report(true), "delete", "delete", "run passed; cluster deleted"},
		{"failed", Config{}, true, report(false), "logs delete", "logs keep delete", "set keep-on-failure"},
		{"failed, keep", Config{KeepOnFailure: true}, true, report(false), "logs", "logs keep", "kept for inspection"},
		{"interrupted", Config{DeleteOnInterrupt: true, KeepOnFailure: true}, true,
			types.Report{SpecialSuiteFailureReasons: []string{"Interrupted by User"}}, "logs delete", "logs keep delete", "delete-on-interrupt"},
		{"reused", Config{Reuse: true}, false, report(true), "", "keep", "not created by this run"},
		{"reused, interrupted, delete-on-interrupt", Config{Reuse: true, DeleteOnInterrupt: true}, false,
			types.Report{SpecialSuiteFailureReasons: []string{"Interrupted by User"}}, "logs", "logs keep", "never deleted"},
	} {
		for _, runDir := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, run directory %v", tc.name, runDir), func(t *testing.T) {
				tc.cfg.Artifacts = t.TempDir()
				tc.cfg.Switch = SwitchAtCreation
				p, want := cluster.Provider(&fakeProvider{}), tc.calls
				calls := &p.(*fakeProvider).calls
				if runDir {
					rp := &fakeRunDirProvider{}
					p, want, calls = rp, tc.runDirCalls, &rp.calls
				}
				e := &Env{Config: tc.cfg, Provider: p, Created: tc.created, Nodes: []node.Node{node.NewFake("n")}}
				s := finish(context.Background(), e, tc.cfg, "seedlab", tc.r)
				if got := strings.Join(*calls, " "); got != want {
					t.Errorf("provider calls %q, want %q", got, want)
				}
				if !strings.Contains(s, "cluster: ") || !strings.Contains(s, tc.fate) {
					t.Errorf("summary lacks fate %q:\n%s", tc.fate, s)
				}
				kept := strings.Contains(want, "keep")
				if got := strings.Contains(s, "cluster run directory kept: /tmp/ipvs-e2e-labcluster-1"); got != kept {
					t.Errorf("summary names the kept run directory: %v, want %v:\n%s", got, kept, s)
				}
				xml, err := os.ReadFile(filepath.Join(tc.cfg.Artifacts, "junit_seedlab_creation.xml"))
				if err != nil || !strings.Contains(string(xml), `<testsuite name="seedlab [creation]"`) {
					t.Errorf("JUnit XML without the run's suite name: %v\n%s", err, xml)
				}
			})
		}
	}
	// setup failed in preflight: nothing to delete, still a summary and JUnit.
	cfg := Config{Artifacts: t.TempDir(), Switch: SwitchAtCreation}
	s := finish(context.Background(), nil, cfg, "services", report(false))
	if !strings.Contains(s, "cluster: no cluster was created") || !strings.Contains(s, "artifacts: "+cfg.Artifacts+"\n") {
		t.Errorf("summary:\n%s", s)
	}
	// an artifacts directory that cannot be created: the summary says so, not its path.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Artifacts = filepath.Join(file, "artifacts")
	s = finish(context.Background(), nil, cfg, "services", report(false))
	if want := "artifacts: none written (mkdir " + file + ": not a directory)\n"; !strings.Contains(s, want) {
		t.Errorf("summary lacks %q:\n%s", want, s)
	}
}

func TestCollectSpecArtifacts(t *testing.T) {
	n := node.NewFake("ipvs-e2e-worker").Stdout("iptables-save", "*nat\nCOMMIT\n")
	e := &Env{Config: Config{Artifacts: t.TempDir()}, Nodes: []node.Node{n}, KubeProxy: kubeproxy.Cluster{Client: fake.NewSimpleClientset()}}
	dir, err := e.collectSpecArtifacts(context.Background(), "seedlab", "the seed's section 4 [seedlab] ClusterIP on kube-ipvs0")
	if err == nil || !strings.Contains(err.Error(), "no kube-proxy pod on node ipvs-e2e-worker") {
		t.Errorf("missing tools and pod were not reported: %v", err)
	}
	if filepath.Base(dir) != "the-seed-s-section-4-seedlab-ClusterIP-on-kube-ipvs0" {
		t.Errorf("dir = %s", dir)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "ipvs-e2e-worker", "iptables-save.txt")); err != nil || string(b) != "*nat\nCOMMIT\n" {
		t.Errorf("iptables-save artifact: %q %v", b, err)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"": "spec", "a/b c": "a-b-c", strings.Repeat("x", 150): strings.Repeat("x", 100)} {
		if got := slug(in); got != want {
			t.Errorf("Slug(%q) = %q", in, got)
		}
	}
}

func TestRunName(t *testing.T) {
	for _, tc := range []struct {
		cfg         Config
		name, title string
	}{
		{Config{Provider: "kind", Switch: SwitchByConfigMap}, "seedlab_kind_configmap", "Seed lab [kind, configmap]"},
		{Config{Provider: "kind", Switch: SwitchAtCreation}, "seedlab_kind_creation", "Seed lab [kind, creation]"},
		{Config{Provider: "lab", Switch: SwitchAtCreation, KubernetesVersion: "v1.37.2"}, "seedlab_lab_creation_v1.37.2", "Seed lab [lab, creation, v1.37.2]"},
		{Config{}, "seedlab", "Seed lab"},
	} {
		if got := runName("seedlab", tc.cfg); got != tc.name {
			t.Errorf("runName(%+v) = %q, want %q", tc.cfg, got, tc.name)
		}
		if got := runTitle("Seed lab", "seedlab", tc.cfg); got != tc.title {
			t.Errorf("runTitle(%+v) = %q, want %q", tc.cfg, got, tc.title)
		}
	}
}

// The step summary of a failed lab run, against a golden file that shows how GitHub renders
// it (go test ./framework/e2e -run TestMarkdownSummary -update rewrites it).
func TestMarkdownSummary(t *testing.T) {
	cfg := Config{Provider: "lab", ClusterName: "ipvs-e2e-seedlab", Switch: SwitchByConfigMap, KubernetesVersion: "v1.37.2", Artifacts: "/w/artifacts/seedlab-configmap"}
	r := report(false,
		spec("the ClusterIP virtual server uses rr", types.SpecStatePassed, ""),
		spec("the nat table stays within 20 kube-proxy rules", types.SpecStateFailed, "Expected at most 20 rules in table nat | filter\nfound 31"),
		spec("deprecation", types.SpecStateSkipped, ""),
	)
	info := summaryInfo{Suite: "seedlab", Config: cfg, Minor: 37, Fate: "run failed; cluster deleted (set keep-on-failure to keep it)",
		Notes: []string{"kube-proxy switched to ipvs by the ConfigMap edit:\n  lab-node: `ipvs` from /proxyMode", "deprecation: kube-proxy v1.37.2 logged the ipvs deprecation warning"}}
	got := markdownSummary(r, info, "https://github.com/o/r/actions/runs/7#artifacts")
	fixture.Golden(t, filepath.Join("testdata", "step-summary-failed.md"), got, *update)
	ok := markdownSummary(report(true, spec("x", types.SpecStatePassed, "")), summaryInfo{Suite: "services", Config: Config{Provider: "kind", Switch: SwitchAtCreation, Artifacts: "a"}}, "")
	fixture.Contains(t, "passing step summary", ok, "### :white_check_mark: ipvs-e2e services [kind, creation]: PASSED", "| 1 passed, 0 failed, 0 skipped, 0 pending |", "Artifacts: `a`")
	if strings.Contains(ok, "failed spec") || strings.Contains(ok, "<details>") {
		t.Errorf("passing step summary lists failures or notes:\n%s", ok)
	}
}

func TestFinishWritesTheStepSummary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", path)
	t.Setenv("GITHUB_SERVER_URL", "https://github.com")
	t.Setenv("GITHUB_REPOSITORY", "o/r")
	t.Setenv("GITHUB_RUN_ID", "7")
	cfg := Config{Provider: "kind", Switch: SwitchAtCreation, Artifacts: t.TempDir()}
	// Two runs in one job step append, as the seedlab runs of `make e2e` do.
	finish(context.Background(), nil, cfg, "seedlab", report(false))
	finish(context.Background(), nil, cfg, "services", report(true))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fixture.Contains(t, "step summary", string(data), "### :x: ipvs-e2e seedlab [kind, creation]: FAILED", "### :white_check_mark: ipvs-e2e services [kind, creation]: PASSED",
		"[JUnit XML and per-node artifacts](https://github.com/o/r/actions/runs/7#artifacts)", "Cluster: no cluster was created")
	// A summary file that cannot be written is said in the terminal summary, not lost.
	t.Setenv("GITHUB_STEP_SUMMARY", filepath.Join(path, "x"))
	if s := finish(context.Background(), nil, cfg, "seedlab", report(true)); !strings.Contains(s, "step summary: not written to "+filepath.Join(path, "x")) {
		t.Errorf("terminal summary does not say the step summary failed:\n%s", s)
	}
}
