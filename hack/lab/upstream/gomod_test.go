package upstream

import (
	_ "embed"
	"flag"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// stagingV1372 lists the staging modules k8s.io/kubernetes v1.37.2 requires and replaces;
// its replace block also names k8s.io/sample-cli-plugin and k8s.io/sample-controller,
// which nothing requires.
var stagingV1372 = []string{
	"k8s.io/api", "k8s.io/apiextensions-apiserver", "k8s.io/apimachinery", "k8s.io/apiserver",
	"k8s.io/cli-runtime", "k8s.io/client-go", "k8s.io/cloud-provider", "k8s.io/cluster-bootstrap",
	"k8s.io/code-generator", "k8s.io/component-base", "k8s.io/component-helpers",
	"k8s.io/controller-manager", "k8s.io/cri-api", "k8s.io/cri-client", "k8s.io/cri-streaming",
	"k8s.io/csi-translation-lib", "k8s.io/dynamic-resource-allocation", "k8s.io/endpointslice",
	"k8s.io/externaljwt", "k8s.io/kms", "k8s.io/kube-aggregator", "k8s.io/kube-controller-manager",
	"k8s.io/kube-proxy", "k8s.io/kube-scheduler", "k8s.io/kubectl", "k8s.io/kubelet",
	"k8s.io/metrics", "k8s.io/mount-utils", "k8s.io/pod-security-admission",
	"k8s.io/sample-apiserver", "k8s.io/streaming",
}

//go:embed testdata/kubernetes-v1.37.2.go.mod
var kubernetesModV1372 []byte

func readKubernetesModFile(t testing.TB) *KubernetesModFile {
	t.Helper()
	k, err := ParseKubernetesModFile(kubernetesModV1372)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKubernetesModFileRelease(t *testing.T) {
	k := readKubernetesModFile(t)
	if k.Go != "1.26.0" {
		t.Errorf("Go = %q, want 1.26.0", k.Go)
	}
	if len(k.Godebug) != 1 || k.Godebug[0] != [2]string{"default", "go1.26"} {
		t.Errorf("Godebug = %q, want [[default go1.26]]", k.Godebug)
	}
	if !slices.Equal(k.Staging, stagingV1372) {
		t.Errorf("Staging =\n%s\nwant\n%s", strings.Join(k.Staging, "\n"), strings.Join(stagingV1372, "\n"))
	}
	if k.EtcdModule != "go.etcd.io/etcd/server/v3" || k.EtcdVersion != "v3.7.0" {
		t.Errorf("etcd = %s %s, want go.etcd.io/etcd/server/v3 v3.7.0", k.EtcdModule, k.EtcdVersion)
	}
}

func TestParseKubernetesModFile(t *testing.T) {
	const head = "module k8s.io/kubernetes\n\ngo 1.25.0\n\n"
	tests := []struct {
		name        string
		gomod       string
		wantStaging string
		wantEtcd    string
		wantErr     string
	}{
		{
			name: "etcd client only",
			gomod: head + "require (\n\tgo.etcd.io/etcd/client/v3 v3.6.5\n\tk8s.io/api v0.0.0\n)\n" +
				"replace k8s.io/api => ./staging/src/k8s.io/api\n",
			wantStaging: "k8s.io/api",
			wantEtcd:    "go.etcd.io/etcd/client/v3 v3.6.5",
		},
		{
			name: "other replacements are not staging",
			gomod: head + "require (\n\tgo.etcd.io/etcd/server/v3 v3.6.4\n\tk8s.io/api v0.0.0\n\tk8s.io/utils v0.0.0\n\tk8s.io/klog/v2 v2.0.0\n\tk8s.io/client-go v0.0.0\n)\n" +
				"replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n" +
				"\tk8s.io/utils => ../utils\n" + // a local checkout, not staging
				"\tk8s.io/klog/v2 => k8s.io/klog/v2 v2.1.0\n" + // a version pin
				"\tk8s.io/client-go v0.0.0 => ./staging/src/k8s.io/client-go\n" + // one version only
				")\n",
			wantStaging: "k8s.io/api",
			wantEtcd:    "go.etcd.io/etcd/server/v3 v3.6.4",
		},
		{
			name:    "not kubernetes",
			gomod:   "module example.com/x\n\ngo 1.25.0\n",
			wantErr: "expected the go.mod of k8s.io/kubernetes, found module example.com/x",
		},
		{
			name:    "no go directive",
			gomod:   "module k8s.io/kubernetes\n",
			wantErr: "has no go directive",
		},
		{
			name:    "no staging",
			gomod:   head + "require go.etcd.io/etcd/server/v3 v3.6.4\n",
			wantErr: "replaces no required module with ./staging/src",
		},
		{
			name: "no etcd",
			gomod: head + "require k8s.io/api v0.0.0\n" +
				"replace k8s.io/api => ./staging/src/k8s.io/api\n",
			wantErr: "requires none of go.etcd.io/etcd/server/v3, go.etcd.io/etcd/client/v3",
		},
		{
			name:    "syntax error",
			gomod:   head + "require (\n",
			wantErr: "parsing the go.mod of k8s.io/kubernetes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKubernetesModFile([]byte(tt.gomod))
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if got := strings.Join(k.Staging, ","); got != tt.wantStaging {
				t.Errorf("Staging = %s, want %s", got, tt.wantStaging)
			}
			if got := k.EtcdModule + " " + k.EtcdVersion; got != tt.wantEtcd {
				t.Errorf("etcd = %s, want %s", got, tt.wantEtcd)
			}
		})
	}
}

// mustRender renders k's go.mod for the release version with render (BuildGoMod or
// EtcdGoMod).
func mustRender(t *testing.T, render func(*KubernetesModFile, Release) ([]byte, error), k *KubernetesModFile, version string) []byte {
	t.Helper()
	rel, err := ParseRelease(version)
	if err != nil {
		t.Fatal(err)
	}
	got, err := render(k, rel)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBuildGoMod(t *testing.T) {
	k := readKubernetesModFile(t)
	got := mustRender(t, BuildGoMod, k, "v1.37.2")
	fixture.Golden(t, "testdata/build-v1.37.2.go.mod", string(got), *update)

	// Whatever the formatting, the go command must see these statements.
	f, err := modfile.Parse("go.mod", got, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Module.Mod.Path != buildModulePath || f.Go.Version != "1.26.0" {
		t.Errorf("module %s go %s, want %s go 1.26.0", f.Module.Mod.Path, f.Go.Version, buildModulePath)
	}
	if len(f.Godebug) != 1 || f.Godebug[0].Key != "default" || f.Godebug[0].Value != "go1.26" {
		t.Errorf("godebug lines = %v, want default=go1.26", f.Godebug)
	}
	if len(f.Require) != 1 || f.Require[0].Mod.Path != KubernetesModule || f.Require[0].Mod.Version != "v1.37.2" {
		t.Errorf("requires = %v, want only %s v1.37.2", f.Require, KubernetesModule)
	}
	var replaced []string
	for _, r := range f.Replace {
		if r.Old.Path != r.New.Path || r.Old.Version != "" || r.New.Version != "v0.37.2" {
			t.Errorf("replace %s %s => %s %s, want %s => %s v0.37.2", r.Old.Path, r.Old.Version, r.New.Path, r.New.Version, r.Old.Path, r.Old.Path)
		}
		replaced = append(replaced, r.Old.Path)
	}
	if !slices.Equal(replaced, stagingV1372) {
		t.Errorf("replaced =\n%s\nwant\n%s", strings.Join(replaced, "\n"), strings.Join(stagingV1372, "\n"))
	}

	got = mustRender(t, BuildGoMod, k, "v1.38.0-rc.1")
	if !strings.Contains(string(got), "\tk8s.io/api => k8s.io/api v0.38.0-rc.1\n") || !strings.Contains(string(got), "require k8s.io/kubernetes v1.38.0-rc.1\n") {
		t.Errorf("pre-release build go.mod lacks the rc versions:\n%s", got)
	}
}

func TestEtcdGoMod(t *testing.T) {
	k := readKubernetesModFile(t)
	fixture.Golden(t, "testdata/etcd-v1.37.2.go.mod", string(mustRender(t, EtcdGoMod, k, "v1.37.2")), *update)

	// A release that only requires the etcd client still gets the etcd server module, at
	// the client's version (etcd releases all its modules together).
	k.EtcdModule, k.EtcdVersion = "go.etcd.io/etcd/client/v3", "v3.6.8"
	got := mustRender(t, EtcdGoMod, k, "v1.37.2")
	if !strings.Contains(string(got), "\nrequire go.etcd.io/etcd/server/v3 v3.6.8\n") {
		t.Errorf("etcd go.mod does not require the server at the client's version:\n%s", got)
	}
}

// Values copied into a generated go.mod are checked, so none can smuggle in a statement.
func TestGoModRefusesBadValues(t *testing.T) {
	rel, _ := ParseRelease("v1.37.2")
	tests := []struct {
		name    string
		edit    func(k *KubernetesModFile)
		wantErr string
	}{
		{"etcd version with a comment", func(k *KubernetesModFile) { k.EtcdVersion = "v3.6.8 // x" }, "etcd module"},
		{"etcd version with a statement", func(k *KubernetesModFile) { k.EtcdVersion = "v3.6.8\nreplace x => y" }, "etcd module"},
		{"go version with a comment", func(k *KubernetesModFile) { k.Go = "1.26.0 // x" }, `go version "1.26.0 // x"`},
		{"godebug value with a space", func(k *KubernetesModFile) { k.Godebug = [][2]string{{"default", "go1.26 x"}} }, "is not a key=value setting"},
		{"bad staging path", func(k *KubernetesModFile) { k.Staging = append(k.Staging, "k8s.io/a b") }, "staging module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, render := range []func(*KubernetesModFile, Release) ([]byte, error){BuildGoMod, EtcdGoMod} {
				k := readKubernetesModFile(t)
				tt.edit(k)
				if got, err := render(k, rel); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("rendered %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
			}
		})
	}
}

func FuzzParseKubernetesModFile(f *testing.F) {
	f.Add(kubernetesModV1372)
	f.Add([]byte("module k8s.io/kubernetes\ngo 1.25.0\nrequire (\n\tgo.etcd.io/etcd/client/v3 v3.6.5\n\tk8s.io/api v0.0.0\n)\nreplace k8s.io/api => ./staging/src/k8s.io/api\n"))
	rel, _ := ParseRelease("v1.37.2")
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKubernetesModFile(data)
		if err != nil {
			return
		}
		if len(k.Staging) == 0 || k.EtcdVersion == "" {
			t.Fatalf("accepted a go.mod without staging modules or etcd: %+v", k)
		}
		mod, err := BuildGoMod(k, rel)
		if err != nil {
			return
		}
		f, err := modfile.Parse("go.mod", mod, nil)
		if err != nil {
			t.Fatalf("BuildGoMod output does not parse: %v\n%s", err, mod)
		}
		if len(f.Replace) != len(k.Staging) {
			t.Fatalf("BuildGoMod wrote %d replacements for %d staging modules:\n%s", len(f.Replace), len(k.Staging), mod)
		}
	})
}
