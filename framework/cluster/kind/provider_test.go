package kind

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// fakeKind records what the provider asks of kind's API.
type fakeKind struct {
	mu        sync.Mutex
	clusters  []string
	calls     []string
	createErr error
	// block, when set, holds Create until closed.
	block chan struct{}
	nodes []nodes.Node
}

func (f *fakeKind) record(s string) { f.mu.Lock(); f.calls = append(f.calls, s); f.mu.Unlock() }

func (f *fakeKind) Create(name string, _ ...kindcluster.CreateOption) error {
	f.record("create " + name)
	if f.block != nil {
		<-f.block
	}
	if f.createErr == nil {
		f.mu.Lock()
		f.clusters = append(f.clusters, name)
		f.mu.Unlock()
	}
	return f.createErr
}
func (f *fakeKind) Delete(name, _ string) error { f.record("delete " + name); return nil }
func (f *fakeKind) List() ([]string, error)     { f.record("list"); return f.clusters, nil }
func (f *fakeKind) ListInternalNodes(name string) ([]nodes.Node, error) {
	f.record("nodes " + name)
	return f.nodes, nil
}

// KubeConfig answers as kind does: one cluster, user and context named kind-<name>.
func (f *fakeKind) KubeConfig(name string, internal bool) (string, error) {
	return "apiVersion: v1\nkind: Config\ncurrent-context: kind-" + name + "\n" +
		"clusters:\n- name: kind-" + name + "\n  cluster:\n    server: https://127.0.0.1:6443\n" +
		"contexts:\n- name: kind-" + name + "\n  context:\n    cluster: kind-" + name + "\n    user: kind-" + name + "\n" +
		"users:\n- name: kind-" + name + "\n  user: {}\n", nil
}
func (f *fakeKind) CollectLogs(name, dir string) error { f.record("logs " + dir); return nil }

func (f *fakeKind) Calls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ", ")
}

// hostProbe answers preflight like a Linux host with Docker and IPVS, or without Docker.
type hostProbe struct{ docker bool }

func (h hostProbe) LookPath(string) (string, error) { return "/usr/bin/docker", nil }
func (h hostProbe) Run(_ context.Context, name string, args ...string) ([]byte, []byte, error) {
	if h.docker && len(args) == 3 && args[0] == "port" {
		if args[1] == "e2e-control-plane" && args[2] == "30089/tcp" {
			return []byte("127.0.0.1:41234\n"), nil, nil
		}
		return nil, []byte("Error: No such container: " + args[1] + "\n"), errors.New("exit status 1")
	}
	if h.docker {
		return []byte("28.2.2\n"), nil, nil
	}
	return nil, []byte("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"), errors.New("exit status 1")
}
func (h hostProbe) ReadFile(path string) ([]byte, error) {
	if path == "/proc/modules" {
		return []byte("ip_vs_sh 12288 0 - Live 0x0\nip_vs_wrr 12288 0 - Live 0x0\nip_vs_rr 12288 1 - Live 0x0\nip_vs 200704 7 ip_vs_rr, Live 0x0\nnf_conntrack 196608 5 ip_vs, Live 0x0\n"), nil
	}
	return nil, fs.ErrNotExist
}
func (h hostProbe) Exists(path string) bool { return path == "/proc/net/ip_vs" }

func newTestProvider(t *testing.T, o cluster.Options, docker bool) (*Provider, *fakeKind) {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	fk := &fakeKind{}
	p.kind, p.probe, p.goos = fk, hostProbe{docker: docker}, "linux"
	return p, fk
}

func TestCreateStopsBeforeKindWithoutDocker(t *testing.T) {
	p, fk := newTestProvider(t, cluster.Options{}, false)
	created, err := p.Create(context.Background())
	if err == nil || created {
		t.Fatalf("Create without Docker: created=%v err=%v", created, err)
	}
	if !strings.Contains(err.Error(), "no Docker engine") || !strings.Contains(err.Error(), "make lab") {
		t.Errorf("error does not say why: %v", err)
	}
	if got := fk.Calls(); got != "" {
		t.Errorf("kind was called before preflight passed: %s", got)
	}
}

func TestCreateReuseAndConflict(t *testing.T) {
	p, fk := newTestProvider(t, cluster.Options{Name: "e2e"}, true)
	fk.clusters = []string{"e2e"}
	if _, err := p.Create(context.Background()); err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "IPVS_E2E_REUSE") {
		t.Errorf("existing cluster without reuse: %v", err)
	}

	p, fk = newTestProvider(t, cluster.Options{Name: "e2e", Reuse: true}, true)
	fk.clusters = []string{"e2e"}
	created, err := p.Create(context.Background())
	if err != nil || created {
		t.Errorf("reuse: created=%v err=%v", created, err)
	}
	if strings.Contains(fk.Calls(), "create") {
		t.Errorf("reused cluster was created again: %s", fk.Calls())
	}
}

func TestCreateFromTheRenderedConfig(t *testing.T) {
	p, fk := newTestProvider(t, cluster.Options{Name: "e2e", KubernetesVersion: "1.36"}, true)
	created, err := p.Create(context.Background())
	if err != nil || !created {
		t.Fatalf("Create: created=%v err=%v", created, err)
	}
	if got := fk.Calls(); got != "list, create e2e" {
		t.Errorf("kind calls = %s", got)
	}
	if !bytes.Contains(p.RawConfig(), []byte("name: e2e\n")) || !bytes.Contains(p.RawConfig(), []byte("kindest/node:v1.36.4@")) {
		t.Errorf("raw config:\n%s", p.RawConfig())
	}

	p, fk = newTestProvider(t, cluster.Options{Name: "e2e"}, true)
	fk.createErr = errors.New("failed to init node with kubeadm")
	_, err = p.Create(context.Background())
	wanterr.Check(t, err, "kubeProxyMode: ipvs") // a create failure shows the config
}

func TestCreateInterrupted(t *testing.T) {
	for _, tc := range []struct {
		deleteOnInterrupt bool
		wantCalls         string
		wantErr           string
	}{
		{true, "list, create e2e, delete e2e", "deleted"},
		{false, "list, create e2e", "kept"},
	} {
		p, fk := newTestProvider(t, cluster.Options{Name: "e2e", DeleteOnInterrupt: tc.deleteOnInterrupt}, true)
		fk.block = make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error)
		go func() { _, err := p.Create(ctx); errc <- err }()
		cancel()
		close(fk.block)
		err := <-errc
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("deleteOnInterrupt=%v: err = %v", tc.deleteOnInterrupt, err)
		}
		if got := fk.Calls(); got != tc.wantCalls {
			t.Errorf("deleteOnInterrupt=%v: calls = %s, want %s", tc.deleteOnInterrupt, got, tc.wantCalls)
		}
	}
}

func TestNodesAndHostEndpoint(t *testing.T) {
	p, fk := newTestProvider(t, cluster.Options{Name: "e2e"}, true)
	fk.nodes = []nodes.Node{
		&fakeNode{name: "e2e-worker", role: "worker", ip: "172.18.0.3"},
		&fakeNode{name: "e2e-control-plane", role: "control-plane", ip: "172.18.0.2"},
	}
	ns, err := p.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := cluster.NodeNames(ns); strings.Join(got, ",") != "e2e-control-plane,e2e-worker" {
		t.Errorf("nodes = %v", got)
	}
	ap, err := p.HostEndpoint(context.Background(), 30089)
	if err != nil || ap.String() != "127.0.0.1:41234" {
		t.Errorf("mapped NodePort: %v %v", ap, err)
	}
	ap, err = p.HostEndpoint(context.Background(), 31000)
	if err != nil || ap.String() != "172.18.0.2:31000" {
		t.Errorf("unmapped NodePort on linux: %v %v", ap, err)
	}
	p.goos = "darwin"
	_, err = p.HostEndpoint(context.Background(), 31000)
	wanterr.Check(t, err, "HostNodePorts") // unmapped NodePort on darwin
}

// fakeNode is a kind node whose commands are recorded.
type fakeNode struct {
	name, role, ip string
	mu             sync.Mutex
	cmds           []string
	stdin          map[string]string
	fail           string
}

func (n *fakeNode) String() string              { return n.name }
func (n *fakeNode) Role() (string, error)       { return n.role, nil }
func (n *fakeNode) IP() (string, string, error) { return n.ip, "", nil }
func (n *fakeNode) SerialLogs(io.Writer) error  { return nil }
func (n *fakeNode) Command(c string, a ...string) kindexec.Cmd {
	return n.CommandContext(context.Background(), c, a...)
}
func (n *fakeNode) CommandContext(_ context.Context, c string, a ...string) kindexec.Cmd {
	return &fakeCmd{n: n, argv: append([]string{c}, a...)}
}

type fakeCmd struct {
	n      *fakeNode
	argv   []string
	stdin  io.Reader
	stdout io.Writer
}

func (c *fakeCmd) Run() error {
	line := strings.Join(c.argv, " ")
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	c.n.cmds = append(c.n.cmds, line)
	if c.stdin != nil {
		b, _ := io.ReadAll(c.stdin)
		if c.n.stdin == nil {
			c.n.stdin = map[string]string{}
		}
		c.n.stdin[line] = string(b)
	}
	if c.n.fail != "" && strings.HasPrefix(line, c.n.fail) {
		return &kindexec.RunError{Command: c.argv, Output: []byte("cp: cannot create regular file: Read-only file system"), Inner: errors.New("exit status 1")}
	}
	if c.stdout != nil {
		io.WriteString(c.stdout, "ok\n")
	}
	return nil
}
func (c *fakeCmd) SetEnv(...string) kindexec.Cmd      { return c }
func (c *fakeCmd) SetStdin(r io.Reader) kindexec.Cmd  { c.stdin = r; return c }
func (c *fakeCmd) SetStdout(w io.Writer) kindexec.Cmd { c.stdout = w; return c }
func (c *fakeCmd) SetStderr(io.Writer) kindexec.Cmd   { return c }

func TestKindNodeCopyFile(t *testing.T) {
	host := filepath.Join(t.TempDir(), "ipvsdump")
	if err := os.WriteFile(host, []byte("static binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	fn := &fakeNode{name: "e2e-worker"}
	n := NewNode(fn)
	if err := node.InstallIPVSDump(context.Background(), n, host); err != nil {
		t.Fatal(err)
	}
	want := "mkdir -p /usr/local/bin, cp /dev/stdin /usr/local/bin/ipvsdump, chmod 755 /usr/local/bin/ipvsdump"
	if got := strings.Join(fn.cmds, ", "); got != want {
		t.Errorf("commands = %s\nwant %s", got, want)
	}
	if got := fn.stdin["cp /dev/stdin /usr/local/bin/ipvsdump"]; got != "static binary" {
		t.Errorf("streamed %q", got)
	}

	fn = &fakeNode{name: "e2e-worker", fail: "cp "}
	err := NewNode(fn).CopyFile(context.Background(), host, "/usr/local/bin/ipvsdump")
	if err == nil || !strings.Contains(err.Error(), "e2e-worker:/usr/local/bin/ipvsdump") {
		t.Errorf("failed copy: %v", err)
	}

	out, err := node.Output(context.Background(), NewNode(&fakeNode{name: "x"}), "cat", "/kind/version")
	if err != nil || string(out) != "ok\n" {
		t.Errorf("Output through kind node: %q %v", out, err)
	}
}

func TestRegistered(t *testing.T) {
	p, err := cluster.New(ProviderName, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "kind" {
		t.Errorf("name %q", p.Name())
	}
	_, err = cluster.New("minikube", cluster.Options{})
	wanterr.Check(t, err, "[kind]") // an unknown provider: the error lists the known ones
}

func TestParseDockerPort(t *testing.T) {
	for _, tc := range []struct {
		out, want, wantErr string
	}{
		{out: "127.0.0.1:41234\n", want: "127.0.0.1:41234"},
		{out: "[::1]:41234\n127.0.0.1:41235\n", want: "127.0.0.1:41235"},
		{out: "0.0.0.0:30089\n", wantErr: `expected a line 127.0.0.1:<port>, found ["0.0.0.0:30089"]`},
		{out: "", wantErr: "found []"},
		{out: "Error: No such container\n", wantErr: "found [\"Error: No such container\"]"},
	} {
		t.Run(fmt.Sprintf("%q", tc.out), func(t *testing.T) {
			ap, err := parseDockerPort([]byte(tc.out))
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if ap.String() != tc.want {
				t.Errorf("parseDockerPort(%q) = %v; want %s", tc.out, ap, tc.want)
			}
		})
	}
}

func FuzzParseDockerPort(f *testing.F) {
	for _, s := range []string{"127.0.0.1:41234\n", "[::1]:41234\n127.0.0.1:41235\n", "0.0.0.0:1\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := parseDockerPort([]byte(s))
		if err == nil && (!ap.Addr().IsLoopback() || ap.Port() == 0) {
			t.Errorf("parseDockerPort(%q) = %v: not a loopback address with a port", s, ap)
		}
	})
}

// A cluster the provider creates has a kubeconfig of its own: kind would otherwise merge
// it into ~/.kube/config, among the person's other clusters.
func TestOwnKubeconfig(t *testing.T) {
	t.Setenv("CACHE_DIR", "/cache")
	p, _ := newTestProvider(t, cluster.Options{Name: "e2e"}, true)
	if got, want := p.opts.KubeconfigPath, "/cache/kind/e2e.kubeconfig"; got != want || DefaultKubeconfigPath("e2e") != want {
		t.Errorf("kubeconfig path %q, want %q", got, want)
	}
	p, _ = newTestProvider(t, cluster.Options{Name: "e2e", KubeconfigPath: "/tmp/kc"}, true)
	if p.opts.KubeconfigPath != "/tmp/kc" {
		t.Errorf("an explicit path was replaced: %q", p.opts.KubeconfigPath)
	}
}
