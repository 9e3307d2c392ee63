package e2e

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// isolate clears every setting's variable and points the file and directory settings at
// temporary ones, so only what a test sets counts.
func isolate(t *testing.T) (ipvsdump, artifacts string) {
	t.Helper()
	for _, s := range settings() {
		t.Setenv(s.env, "")
	}
	dir := t.TempDir()
	// The setting takes a Linux executable: this test binary is one.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ipvsdump = filepath.Join(dir, "ipvsdump")
	if err := os.Symlink(self, ipvsdump); err != nil {
		t.Fatal(err)
	}
	artifacts = filepath.Join(dir, "artifacts")
	t.Setenv("IPVS_E2E_IPVSDUMP", ipvsdump)
	t.Setenv("IPVS_E2E_ARTIFACTS", artifacts)
	return ipvsdump, artifacts
}

func bind(t *testing.T, suite string, args ...string) (Config, error) {
	t.Helper()
	var st Settings
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	st.Bind(fs, suite)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return st.Config()
}

func TestConfigFromEnvAndFlags(t *testing.T) {
	ipvsdump, artifacts := isolate(t)
	t.Setenv("IPVS_E2E_SWITCH", "configmap")
	t.Setenv("IPVS_E2E_K8S_VERSION", "1.35")
	t.Setenv("IPVS_E2E_REUSE", "true")
	t.Setenv("IPVS_E2E_TIMEOUT", "90s")
	t.Setenv("IPVS_E2E_LAB_NODES", "2")
	t.Setenv("IPVS_E2E_CLUSTER", "from-env") // the flag wins
	c, err := bind(t, "seedlab", "-e2e.cluster=mine", "-e2e.keep-leftovers", "-e2e.scheduler=wrr")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Provider: "kind", ClusterName: "mine", KubernetesVersion: "1.35", Switch: SwitchByConfigMap, Scheduler: "wrr",
		Reuse: true, DeleteOnInterrupt: true, KeepLeftovers: true, IPVSDump: ipvsdump, Artifacts: artifacts, Timeout: 90 * time.Second}
	if c != want {
		t.Errorf("config\n got %+v\nwant %+v", c, want)
	}
	if fi, err := os.Stat(artifacts); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("artifacts directory not created 0755: %v %v", fi, err)
	}
	o := c.clusterOptions()
	if o.ProxyMode != cluster.ModeIPTables || o.Name != "mine" || !o.Reuse || o.HostNodePorts[0] != 30089 {
		t.Errorf("cluster options = %+v", o)
	}

	isolate(t)
	d, err := bind(t, "services")
	if err != nil {
		t.Fatal(err)
	}
	if d.ClusterName != "ipvs-e2e-services" || d.Timeout != 3*time.Minute || d.Switch != SwitchAtCreation || !d.DeleteOnInterrupt {
		t.Errorf("defaults = %+v", d)
	}
}

func TestSettingsRejected(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A script, as a binary built for another system would be: not ELF.
	script := filepath.Join(t.TempDir(), "ipvsdump")
	if err := os.WriteFile(script, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env, value string
		args       []string
		want       string
	}{
		{"IPVS_E2E_TIMEOUT", "banana", nil, `IPVS_E2E_TIMEOUT="banana": not a duration; expected a duration greater than 0 as time.ParseDuration reads it, such as 90s, 5m or 1h30m`},
		{"IPVS_E2E_TIMEOUT", "0s", nil, `IPVS_E2E_TIMEOUT="0s": not greater than 0; expected a duration greater than 0`},
		{"IPVS_E2E_TIMEOUT", "-1m", nil, `IPVS_E2E_TIMEOUT="-1m": not greater than 0`},
		{"", "", []string{"-e2e.timeout=banana"}, `-e2e.timeout="banana": not a duration; expected a duration`},
		{"IPVS_E2E_KEEP_ON_FAILURE", "yes", nil, `IPVS_E2E_KEEP_ON_FAILURE="yes": not a boolean; expected a boolean as strconv.ParseBool reads it: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False`},
		{"IPVS_E2E_REUSE", "on", nil, `IPVS_E2E_REUSE="on": not a boolean`},
		{"IPVS_E2E_DELETE_ON_INTERRUPT", "no", nil, `IPVS_E2E_DELETE_ON_INTERRUPT="no": not a boolean`},
		{"IPVS_E2E_KEEP_LEFTOVERS", "2", nil, `IPVS_E2E_KEEP_LEFTOVERS="2": not a boolean`},
		{"", "", []string{"-e2e.reuse=maybe"}, `-e2e.reuse="maybe": not a boolean`},
		{"IPVS_E2E_LAB_NODES", "99", nil, `IPVS_E2E_LAB_NODES="99": 99 nodes are out of range (they share one guest); expected a node count from 1 to 4 (empty: 1)`},
		{"IPVS_E2E_LAB_NODES", "0", nil, `IPVS_E2E_LAB_NODES="0": 0 nodes are out of range`},
		{"IPVS_E2E_LAB_NODES", "two", nil, `IPVS_E2E_LAB_NODES="two": not a whole number; expected a node count from 1 to 4`},
		{"IPVS_E2E_LAB_NODEAGENT", "/nonexistent/ipvs-nodeagent", nil, `IPVS_E2E_LAB_NODEAGENT="/nonexistent/ipvs-nodeagent": stat /nonexistent/ipvs-nodeagent: no such file or directory; expected an existing file`},
		{"IPVS_E2E_LAB_PROXIER", "/", nil, `IPVS_E2E_LAB_PROXIER="/": / is not a regular file; expected an existing file`},
		{"IPVS_E2E_IPVSDUMP", script, nil, `IPVS_E2E_IPVSDUMP="` + script + `": ` + script + ` is not a Linux (ELF) binary (it starts with "#!/b", not "\x7fELF"); build it with CGO_ENABLED=0 GOOS=linux go build`},
		{"IPVS_E2E_ARTIFACTS", file + "/sub", nil, `IPVS_E2E_ARTIFACTS="` + file + `/sub": mkdir ` + file + `: not a directory; expected a directory that can be created (0755) and written`},
		{"IPVS_E2E_ARTIFACTS", "", []string{"-e2e.artifacts="}, `-e2e.artifacts="": empty; expected a directory`},
		{"IPVS_E2E_IPVSDUMP", "/nonexistent/ipvsdump", nil, `IPVS_E2E_IPVSDUMP="/nonexistent/ipvsdump": stat /nonexistent/ipvsdump: no such file or directory; expected an existing file, a static linux build of cmd/ipvsdump`},
		{"IPVS_E2E_PROVIDER", "docker", nil, `IPVS_E2E_PROVIDER="docker": no such provider; expected one of existing, kind, lab`},
		{"IPVS_E2E_SWITCH", "edit", nil, `IPVS_E2E_SWITCH="edit": no such method; expected creation (method 1: created in ipvs mode) or configmap (method 2: ConfigMap edit)`},
		{"IPVS_E2E_SCHEDULER", "bogus", nil, `IPVS_E2E_SCHEDULER="bogus": not a scheduler kube-proxy accepts; expected empty (rr, as in the seed) or one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh`},
		{"IPVS_E2E_CLUSTER", "My_Cluster", nil, `IPVS_E2E_CLUSTER="My_Cluster": not a cluster name; expected lowercase letters`},
		{"IPVS_E2E_K8S_VERSION", "latest", nil, `IPVS_E2E_K8S_VERSION="latest": not a Kubernetes release; expected empty (the provider's default), a release such as 1.36 or v1.37.2, or reference`},
		{"IPVS_E2E_NODE_IMAGE", "kindest/node v1", nil, `IPVS_E2E_NODE_IMAGE="kindest/node v1": contains spaces or control characters`},
	} {
		t.Run(tc.env+tc.value+strings.Join(tc.args, " "), func(t *testing.T) {
			isolate(t)
			if tc.env != "" && tc.value != "" {
				t.Setenv(tc.env, tc.value)
			}
			_, err := bind(t, "seedlab", tc.args...)
			wanterr.Check(t, err, tc.want)
			source, _, _ := strings.Cut(tc.want, "=")
			if !strings.HasPrefix(err.Error(), "malformed setting "+source+":\n") {
				t.Errorf("Config() = %v, want exactly one malformed setting, %s", err, source)
			}
		})
	}
}

func TestSettingsReportedTogether(t *testing.T) {
	isolate(t)
	t.Setenv("IPVS_E2E_TIMEOUT", "banana")
	t.Setenv("IPVS_E2E_KEEP_ON_FAILURE", "yes")
	t.Setenv("IPVS_E2E_LAB_NODES", "99")
	_, err := bind(t, "seedlab")
	if err == nil {
		t.Fatal("Config() accepted three malformed settings")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 || lines[0] != "malformed settings IPVS_E2E_KEEP_ON_FAILURE, IPVS_E2E_TIMEOUT, IPVS_E2E_LAB_NODES:" {
		t.Fatalf("Config() = %v, want a header and three lines", err)
	}
	for i, v := range []string{"IPVS_E2E_KEEP_ON_FAILURE=", "IPVS_E2E_TIMEOUT=", "IPVS_E2E_LAB_NODES="} {
		if !strings.HasPrefix(lines[i+1], v) {
			t.Errorf("line %d = %q, want it to start with %s", i+1, lines[i+1], v)
		}
	}
}

// A malformed setting stops the suite before the provider is asked for anything; with
// the setting mended, the same suite does reach the provider.
func TestMalformedSettingStopsBeforeProvider(t *testing.T) {
	asked := 0
	errAsked := errors.New("provider asked")
	cluster.Register("settings-test", func(cluster.Options) (cluster.Provider, error) {
		asked++
		return nil, errAsked
	})
	for _, tc := range []struct {
		timeout   string
		wantAsked int
		wantErr   string
	}{
		{"banana", 0, `IPVS_E2E_TIMEOUT="banana": not a duration`},
		{"1m", 1, errAsked.Error()},
	} {
		t.Run("timeout="+tc.timeout, func(t *testing.T) {
			asked = 0
			isolate(t)
			t.Setenv("IPVS_E2E_PROVIDER", "settings-test")
			t.Setenv("IPVS_E2E_TIMEOUT", tc.timeout)
			s := &Suite{Name: "seedlab"}
			s.settings.Bind(flag.NewFlagSet("t", flag.ContinueOnError), s.Name)
			err := s.start(context.Background())
			// Asked first: wanterr.Check ends the case.
			if asked != tc.wantAsked {
				t.Errorf("provider asked %d times, want %d", asked, tc.wantAsked)
			}
			wanterr.Check(t, err, tc.wantErr)
		})
	}
}

func TestOneProcess(t *testing.T) {
	for _, total := range []int{0, 1} {
		if err := oneProcess(total); err != nil {
			t.Errorf("oneProcess(%d) = %v", total, err)
		}
	}
	if err := oneProcess(4); err == nil || !strings.Contains(err.Error(), "ginkgo runs this suite in 4 parallel processes (-p or --procs)") || !strings.Contains(err.Error(), "drop -p/--procs") {
		t.Errorf("oneProcess(4) = %v, want a refusal naming -p", err)
	}
}

// On a cluster the run did not create, disruptive specs run only with the opt-in; elsewhere
// the label changes nothing.
func TestRefuseDisruptive(t *testing.T) {
	disruptive := []string{LabelServices, "scheduler", LabelDisruptive}
	for _, tc := range []struct {
		cfg    Config
		labels []string
		refuse bool
	}{
		{Config{Provider: "existing"}, disruptive, true},
		{Config{Provider: "existing", AllowDisruptive: true}, disruptive, false},
		{Config{Provider: "existing"}, []string{LabelSeedLab}, false},
		{Config{Provider: "kind"}, disruptive, false},
		{Config{Provider: "lab"}, disruptive, false},
	} {
		got := tc.cfg.refuseDisruptive(tc.labels)
		if (got != "") != tc.refuse || tc.refuse && (!strings.HasPrefix(got, disruptiveRefused) || !strings.Contains(got, "-allow-disruptive (IPVS_E2E_ALLOW_DISRUPTIVE=1)")) {
			t.Errorf("%+v %v: refuse %q, want refused=%v with the opt-in named", tc.cfg, tc.labels, got, tc.refuse)
		}
	}
}

// The existing provider's settings are refused elsewhere, where they would be ignored, and
// the ConfigMap switch on a cluster the run did not create wants the opt-in.
func TestProviderOnlySettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{name: "kubeconfig on kind", args: []string{"-kubeconfig=/etc/hosts"}, want: "settings -kubeconfig apply to provider existing only (a cluster the project did not create), not to provider kind"},
		{name: "context and image on lab", env: map[string]string{"IPVS_E2E_PROVIDER": "lab", "IPVS_E2E_CONTEXT": "prod", "IPVS_E2E_INSPECTOR_IMAGE": "r/i"},
			want: "settings IPVS_E2E_CONTEXT, IPVS_E2E_INSPECTOR_IMAGE apply to provider existing only"},
		{name: "ConfigMap switch on existing", env: map[string]string{"IPVS_E2E_PROVIDER": "existing", "IPVS_E2E_SWITCH": "configmap"},
			want: "IPVS_E2E_SWITCH=configmap on provider existing edits the kube-proxy ConfigMap and deletes kube-proxy's pods on a cluster the project did not create: allow it with -allow-disruptive"},
		{name: "ConfigMap switch on existing, allowed", env: map[string]string{"IPVS_E2E_PROVIDER": "existing", "IPVS_E2E_SWITCH": "configmap"}, args: []string{"-allow-disruptive"}},
		{name: "everything of existing", env: map[string]string{"IPVS_E2E_PROVIDER": "existing", "IPVS_E2E_NODEPORT_ADDRESS": "127.0.0.1"},
			args: []string{"-kubeconfig=/etc/hosts", "-context=c", "-allow-disruptive"}},
		{name: "a NodePort address that is none", env: map[string]string{"IPVS_E2E_PROVIDER": "existing", "IPVS_E2E_NODEPORT_ADDRESS": "node1"},
			want: `IPVS_E2E_NODEPORT_ADDRESS="node1": not an IP address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := bind(t, "seedlab", tc.args...)
			wanterr.Check(t, err, tc.want)
		})
	}
}
