package lab

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestNodeCount(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    []string
		wantErr string
	}{
		{"", []string{"lab-node"}, ""},
		{"1", []string{"lab-node"}, ""},
		{"2", []string{"lab-node", "lab-node2"}, ""},
		{"3", []string{"lab-node", "lab-node2", "lab-node3"}, ""},
		{"0", nil, `IPVS_E2E_LAB_NODES="0": 0 nodes are out of range (they share one guest); expected a node count from 1 to 4`},
		{"9", nil, `IPVS_E2E_LAB_NODES="9": 9 nodes are out of range`},
		{"two", nil, `IPVS_E2E_LAB_NODES="two": not a whole number; expected a node count from 1 to 4 (empty: 1)`},
	} {
		t.Run("nodes="+tc.env, func(t *testing.T) {
			t.Setenv(NodesEnv, tc.env)
			p, err := New(cluster.Options{})
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if got := p.NodeNames(); !slices.Equal(got, tc.want) {
				t.Errorf("NodeNames = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIPVSGated(t *testing.T) {
	for v, want := range map[string]bool{"v1.37.2": true, "v1.38.0": true, "v2.0.0": true, "v1.36.3": false, "v1.34.4": false, "bad": false} {
		if got := ipvsGated(v); got != want {
			t.Errorf("ipvsGated(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestKubeProxyConfigGate(t *testing.T) {
	o := cluster.Options{}.WithDefaults()
	gated := KubeProxyConfigGated(o, "10.244.0.0/16", true)
	if !strings.Contains(gated, "featureGates:\n  KubeProxyIPVS: true\n") {
		t.Errorf("1.37+ config enables no KubeProxyIPVS gate:\n%s", gated)
	}
	if plain := KubeProxyConfig(o, "10.244.0.0/16"); strings.Contains(plain, "featureGates") {
		t.Errorf("config before 1.37 names a gate kube-proxy would refuse as unknown:\n%s", plain)
	}
}

func TestAgentClientVia(t *testing.T) {
	c := &agentClient{base: "https://127.0.0.1:4000", token: "t"}
	if got, want := c.via("lab-node2").base, "https://127.0.0.1:4000/nodes/lab-node2"; got != want {
		t.Errorf("via base = %q, want %q", got, want)
	}
}

func TestRunDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(p *Provider) error // how the run ends
		kept bool
		log  string
	}{
		{name: "passed: Delete removes it", end: func(p *Provider) error { return p.Delete(context.Background()) },
			log: "lab cluster deleted; run directory removed"},
		{name: "failed: kept", end: func(p *Provider) error {
			if dir := p.KeepRunDir(); dir != p.runDir {
				t.Errorf("KeepRunDir = %q, want %q", dir, p.runDir)
			}
			return p.Delete(context.Background())
		}, kept: true, log: "lab cluster deleted; run directory kept for inspection"},
		{name: "Create failed: kept and named in its error", end: func(p *Provider) error {
			dir := p.runDir
			err := p.failCreate(errors.New("kube-proxy on lab-node cannot start"))
			if want := "kube-proxy on lab-node cannot start; run directory kept: " + dir; err == nil || err.Error() != want {
				t.Errorf("failCreate = %v, want %q", err, want)
			}
			return nil
		}, kept: true, log: "run directory kept for inspection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			var log bytes.Buffer
			defer slog.SetDefault(slog.Default())
			slog.SetDefault(slog.New(slog.NewTextHandler(&log, nil)))

			dir, err := newRunDir()
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 || !strings.HasPrefix(filepath.Base(dir), "ipvs-e2e-labcluster-") {
				t.Fatalf("run directory %s: %v %v, want mode 0700", dir, fi.Mode(), err)
			}
			key := filepath.Join(dir, "controlplane", "pki", "ca.key")
			if err := os.MkdirAll(filepath.Dir(key), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(key, []byte("key"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := &Provider{runDir: dir}
			if err := tc.end(p); err != nil {
				t.Fatalf("ending the run: %v", err)
			}
			if _, err := os.Stat(key); (err == nil) != tc.kept {
				t.Errorf("after the run the key is there: %v, want %v", err == nil, tc.kept)
			}
			if !strings.Contains(log.String(), tc.log) || !strings.Contains(log.String(), "runDir="+dir) {
				t.Errorf("log lacks %q and runDir=%s:\n%s", tc.log, dir, log.String())
			}
		})
	}
}

func TestCheckSettings(t *testing.T) {
	for _, tc := range []struct {
		env, value, want string
	}{
		{"IPVS_E2E_LAB_ACCEL", "kvm", ""},
		{"IPVS_E2E_LAB_ACCEL", "tcg,thread=multi", ""},
		{"IPVS_E2E_LAB_ACCEL", ",thread=multi", `IPVS_E2E_LAB_ACCEL=",thread=multi": not an accelerator name with options`},
		{"IPVS_E2E_LAB_KEEP", "1", ""},
		{"IPVS_E2E_LAB_KEEP", "true", `IPVS_E2E_LAB_KEEP="true": not 1; expected 1`},
		{"IPVS_E2E_LAB_NODES", "5", `IPVS_E2E_LAB_NODES="5": 5 nodes are out of range`},
		{"IPVS_E2E_LAB_PROXIER", "/", `IPVS_E2E_LAB_PROXIER="/": / is not a regular file`},
		{"UPSTREAM_SOURCE", "download", ""},
		{"UPSTREAM_SOURCE", "offline", `UPSTREAM_SOURCE="offline": not a source; expected auto, download or build`},
		{"UPSTREAM_RELEASE_URL", "https://mirror.example/k8s", ""},
		{"UPSTREAM_ETCD_URL", "file:///srv/etcd", `UPSTREAM_ETCD_URL="file:///srv/etcd": found scheme "file", want http or https; expected an http(s) base URL`},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			err := CheckSettings()
			wanterr.Check(t, err, tc.want)
		})
	}
}
