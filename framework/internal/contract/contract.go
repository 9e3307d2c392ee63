// Package contract holds the behaviour every node.Node and every cluster.Provider must
// show, as test bodies run against each implementation: node's Fake, the kind adapter
// over a fake kind API, and the lab provider on a real lab cluster. A new provider
// passes Provider before the suites run on it.
package contract

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Paths and lines the Node contract uses; a fake node answers them as a node's shell
// would (see Script).
const (
	// Dir is where the contract copies its file; it is removed afterwards.
	Dir = "/tmp/ipvs-e2e-contract"
	// CopiedPath is the file CopyFile writes, in a directory CopyFile must create.
	CopiedPath = Dir + "/sub/run.sh"
	// CopiedScript is the content copied, an executable script.
	CopiedScript = "#!/bin/sh\necho copied\n"
	// CheckCopied prints the copied file when it is executable.
	CheckCopied = "test -x " + CopiedPath + " && cat " + CopiedPath
)

// Node checks the behaviour the framework relies on: commands with separate stdout and
// stderr, stdin and environment, a failure as a *node.CommandError carrying stderr, a
// missing command as an error, a cancelled context stopping a command, and CopyFile
// creating the directory and keeping the content and the executable bit. The node needs
// sh, cat and a writable /tmp.
func Node(t *testing.T, n node.Node) {
	t.Run("names itself", func(t *testing.T) {
		if n.Name() == "" {
			t.Error("Name() is empty: expected the node's Kubernetes name")
		}
	})

	t.Run("keeps stdout and stderr apart", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := n.Command(context.Background(), "sh", "-c", "echo out; echo err >&2").SetStdout(&stdout).SetStderr(&stderr).Run()
		if err != nil || stdout.String() != "out\n" || stderr.String() != "err\n" {
			t.Errorf("sh -c 'echo out; echo err >&2': stdout %q, stderr %q, err %v; expected \"out\\n\", \"err\\n\", nil", stdout.String(), stderr.String(), err)
		}
	})

	t.Run("feeds stdin and the environment", func(t *testing.T) {
		var stdout bytes.Buffer
		err := n.Command(context.Background(), "cat").SetStdin(strings.NewReader("in\n")).SetStdout(&stdout).Run()
		if err != nil || stdout.String() != "in\n" {
			t.Errorf("cat with stdin \"in\\n\": stdout %q, err %v", stdout.String(), err)
		}
		stdout.Reset()
		err = n.Command(context.Background(), "sh", "-c", "echo $IPVS_E2E_CONTRACT").SetEnv("IPVS_E2E_CONTRACT=env").SetStdout(&stdout).Run()
		if err != nil || stdout.String() != "env\n" {
			t.Errorf("sh -c 'echo $IPVS_E2E_CONTRACT' with IPVS_E2E_CONTRACT=env: stdout %q, err %v", stdout.String(), err)
		}
	})

	t.Run("reports a failure with its stderr", func(t *testing.T) {
		_, err := node.Output(context.Background(), n, "sh", "-c", "echo why >&2; exit 3")
		var ce *node.CommandError
		if !errors.As(err, &ce) || !strings.Contains(ce.Stderr, "why") || ce.Node != n.Name() {
			t.Errorf("sh -c 'echo why >&2; exit 3': err %v; expected a *node.CommandError of node %s with stderr \"why\"", err, n.Name())
		}
		if _, err := node.Output(context.Background(), n, "ipvs-e2e-no-such-command"); err == nil {
			t.Error("a command the node does not have succeeded")
		}
	})

	t.Run("stops with its context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		if err := n.Command(ctx, "sleep", "30").Run(); err == nil {
			t.Error("sleep 30 with a cancelled context succeeded")
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("sleep 30 with a cancelled context took %s", d)
		}
	})

	t.Run("copies a file with its mode", func(t *testing.T) {
		host := filepath.Join(t.TempDir(), "run.sh")
		if err := os.WriteFile(host, []byte(CopiedScript), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = node.Run(context.Background(), n, "rm", "-rf", Dir) })
		if err := n.CopyFile(context.Background(), host, CopiedPath); err != nil {
			t.Fatalf("CopyFile to %s: %v", CopiedPath, err)
		}
		out, err := node.Output(context.Background(), n, "sh", "-c", CheckCopied)
		if err != nil || string(out) != CopiedScript {
			t.Errorf("sh -c '%s': %q, %v; expected the copied script, executable", CheckCopied, out, err)
		}
	})
}

// Provider checks a provider's lifecycle: Preflight, Create, Nodes (named, distinct, each
// keeping the Node contract), a kubeconfig that names a server, a host address and port
// for each NodePort in opts.HostNodePorts, ExportLogs into a directory, and Delete, which may be
// called again. p must have been made with opts.
func Provider(t *testing.T, p cluster.Provider, opts cluster.Options) {
	ctx := context.Background()
	if p.Name() == "" {
		t.Error("Name() is empty: expected the registered provider name")
	}
	if err := p.Preflight(ctx); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	if _, err := p.Create(ctx); err != nil {
		t.Fatalf("Create: %v", err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = p.Delete(context.WithoutCancel(ctx))
		}
	})

	nodes, err := p.Nodes(ctx)
	if err != nil || len(nodes) == 0 {
		t.Fatalf("Nodes: %d nodes, %v; expected at least one", len(nodes), err)
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if seen[n.Name()] {
			t.Errorf("Nodes lists %q twice", n.Name())
		}
		seen[n.Name()] = true
	}
	for _, n := range nodes {
		t.Run("node "+n.Name(), func(t *testing.T) { Node(t, n) })
	}

	kc, err := p.Kubeconfig(ctx)
	if err != nil {
		t.Fatalf("Kubeconfig: %v", err)
	}
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		t.Fatalf("Kubeconfig: %v", err)
	}
	if c, ok := cfg.Contexts[cfg.CurrentContext]; !ok || cfg.Clusters[c.Cluster] == nil || cfg.Clusters[c.Cluster].Server == "" {
		t.Errorf("Kubeconfig: current context %q names no cluster with a server", cfg.CurrentContext)
	}

	for _, port := range opts.HostNodePorts {
		ap, err := p.HostEndpoint(ctx, port)
		// kind maps the NodePort to the same host port, the lab forwards it from another.
		if err != nil || !ap.Addr().IsValid() || ap.Port() == 0 {
			t.Errorf("HostEndpoint(%d) = %v, %v; expected an address and port on the host", port, ap, err)
		}
	}

	if err := p.ExportLogs(ctx, t.TempDir()); err != nil {
		t.Errorf("ExportLogs: %v", err)
	}

	deleted = true
	if err := p.Delete(ctx); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := p.Delete(ctx); err != nil {
		t.Errorf("Delete of a deleted cluster: %v; expected no error", err)
	}
}
