package explaincmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

func noCluster(context.Context, string, string) (kubernetes.Interface, error) {
	return nil, errors.New("the test asked no cluster")
}

func runExplain(t *testing.T, stdin string, connect connectFunc, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newCommand(connect)
	cmd.SetIn(strings.NewReader(stdin))
	code = cli.Execute(context.Background(), cmd, args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestExplainFlags(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // a piece of stderr
	}{
		{"an unknown flag", []string{"--bogus"}, cli.ExitUsage, "unknown flag: --bogus"},
		{"a scheduler the kernel does not have", []string{"--scheduler", "fastest"}, cli.ExitUsage, `--scheduler "fastest": expected one of the kernel's schedulers`},
		{"a malformed service CIDR", []string{"--service-cidr", "10.96.0.0/33"}, cli.ExitUsage, `--service-cidr "10.96.0.0/33"`},
		{"a context without a kubeconfig", []string{"--context", "kind-kind"}, cli.ExitUsage, "--context \"kind-kind\" needs --kubeconfig"},
		{"two files", []string{"a", "b"}, cli.ExitUsage, "expected one FILE"},
		{"a missing file", []string{"/nonexistent/paste.txt"}, cli.ExitFailed, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runExplain(t, "", noCluster, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
	help, _, code := runExplain(t, "", noCluster, "--help")
	if code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	fixture.Contains(t, "--help", help, "--kubeconfig", "--context", "--scheduler", "--service-cidr")
}

// TestExplainStdinAndFile reads the multi-node paste from standard input and as a file, with
// the same answer.
func TestExplainStdinAndFile(t *testing.T) {
	// explain's own multi-node test paste (real outputs in odd forms).
	const multiNodePaste = "hack/report/explain/testdata/multinode.paste"
	data := fixture.ReadRepo(t, multiNodePaste)
	fromStdin, stderr, code := runExplain(t, data, noCluster)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dash, _, _ := runExplain(t, data, noCluster, "-")
	fromFile, _, _ := runExplain(t, "", noCluster, fixture.RepoFile(t, multiNodePaste))
	if fromStdin != fromFile || fromStdin != dash {
		t.Errorf("standard input, - and the file give different answers")
	}
	fixture.Contains(t, "the answer", fromStdin, ">>> lab-node", ">>> node1", ">>> lab", "findings: 8", "skipped lines: 2")
	if _, stderr, code := runExplain(t, "nothing to see\n", noCluster); code != 0 || !strings.Contains(stderr, "holds no output of ipvsadm -Ln") {
		t.Errorf("a paste without tool output: exit %d, stderr %q", code, stderr)
	}
}

// TestExplainKubeconfig goes through the --kubeconfig path with a fake clientset: the
// Services are listed and named, the kubeconfig and context are the flags'.
func TestExplainKubeconfig(t *testing.T) {
	var gotConfig, gotContext string
	connect := func(_ context.Context, kubeconfig, kubeContext string) (kubernetes.Interface, error) {
		gotConfig, gotContext = kubeconfig, kubeContext
		return fake.NewClientset(&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "service-test1"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.106.71.137", ClusterIPs: []string{"10.106.71.137"},
				Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30089}}},
		}), nil
	}
	paste := "[root@node1 ~]# ipvsadm -Ln\nTCP  10.0.2.15:30089 rr\n  -> 10.244.3.214:80 Masq 1 0 0\nTCP  10.106.71.137:80 rr\n  -> 10.244.3.214:80 Masq 1 0 0\n"
	out, stderr, code := runExplain(t, paste, connect, "--kubeconfig", "/home/student/.kube/config", "--context", "lab")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if gotConfig != "/home/student/.kube/config" || gotContext != "lab" {
		t.Errorf("connected with kubeconfig %q context %q", gotConfig, gotContext)
	}
	for _, want := range []string{
		"NodePort 30089 on the node address 10.0.2.15, Service default/service-test1 port http (type NodePort)",
		"ClusterIP 10.106.71.137 port 80, Service default/service-test1 port http (type NodePort)",
		"findings: 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the answer lacks %q:\n%s", want, out)
		}
	}
	failing := func(context.Context, string, string) (kubernetes.Interface, error) {
		return nil, errors.New(`context "lab" is not in kubeconfig /home/student/.kube/config`)
	}
	if _, stderr, code := runExplain(t, paste, failing, "--kubeconfig", "/home/student/.kube/config", "--context", "lab"); code != cli.ExitFailed || !strings.Contains(stderr, `context "lab" is not in kubeconfig`) {
		t.Errorf("a kubeconfig that fails: exit %d, stderr %q", code, stderr)
	}
}

// TestExplainRealKubeconfigErrors goes through connectKubeconfig (the existing-cluster
// provider and cluster.Connect) with kubeconfigs that cannot work: the message names the file
// or the context.
func TestExplainRealKubeconfigErrors(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	if err := os.WriteFile(config, []byte(`apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: lab
  context: {cluster: lab, user: student}
users:
- name: student
  user: {token: abc}
current-context: lab
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--kubeconfig", filepath.Join(dir, "missing")}, "missing"},
		{[]string{"--kubeconfig", config, "--context", "prod"}, `context "prod" is not in kubeconfig`},
	}
	for _, tt := range tests {
		_, stderr, code := runExplain(t, "TCP 10.96.0.1:443 rr\n", connectKubeconfig, tt.args...)
		if code != cli.ExitFailed || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, cli.ExitFailed, tt.want)
		}
	}
}
