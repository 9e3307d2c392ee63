package upstreamcmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
)

// The CLI's argument handling; none of these cases reaches the network or builds anything.
func TestUsage(t *testing.T) {
	t.Setenv("CACHE_DIR", t.TempDir())
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "no command", args: nil, wantCode: 2, wantStderr: `"upstream" needs a command: build, controlplane, versions`},
		{name: "help", args: []string{"--help"}, wantCode: 0, wantStdout: "controlplane"},
		{name: "unknown command", args: []string{"deploy"}, wantCode: 2, wantStderr: `unknown command "deploy"`},
		{name: "bad version", args: []string{"build", "--version", "1.37"}, wantCode: 2, wantStderr: `version "1.37" is not a full Kubernetes release version`},
		{name: "unknown component", args: []string{"build", "--components", "kube-apiserver,kube-dns"}, wantCode: 2, wantStderr: `unknown component "kube-dns"`},
		{name: "build arguments", args: []string{"build", "extra"}, wantCode: 2, wantStderr: `takes no arguments, found ["extra"]`},
		{name: "controlplane without subcommand", args: []string{"controlplane"}, wantCode: 2, wantStderr: "needs a command: down, up"},
		{name: "controlplane unknown subcommand", args: []string{"controlplane", "restart"}, wantCode: 2, wantStderr: `unknown command "restart"`},
		{name: "down with nothing running", args: []string{"controlplane", "down", "--run-dir", t.TempDir()}, wantCode: 0},
		{name: "unknown flag", args: []string{"build", "--jobs", "4"}, wantCode: 2, wantStderr: "unknown flag: --jobs"},
		{name: "up with a bad version", args: []string{"controlplane", "up", "--version", "v1.37"}, wantCode: 2, wantStderr: "not a full Kubernetes release version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Execute(context.Background(), NewCommand(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q, want it to contain %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}
