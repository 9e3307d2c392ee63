package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The CLI's argument handling; none of these cases reaches the network or builds anything.
func TestRun(t *testing.T) {
	t.Setenv("CACHE_DIR", t.TempDir())
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "no command", args: nil, wantCode: 2, wantStderr: "usage:"},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: "ipvs-upstream controlplane up"},
		{name: "unknown command", args: []string{"deploy"}, wantCode: 2, wantStderr: `unknown command "deploy"`},
		{name: "bad version", args: []string{"build", "-version", "1.37"}, wantCode: 1, wantStderr: `version "1.37" is not a full Kubernetes release version`},
		{name: "unknown component", args: []string{"build", "-components", "kube-apiserver,kube-dns"}, wantCode: 1, wantStderr: `unknown component "kube-dns"`},
		{name: "build arguments", args: []string{"build", "extra"}, wantCode: 1, wantStderr: "build takes no arguments"},
		{name: "controlplane without subcommand", args: []string{"controlplane"}, wantCode: 1, wantStderr: "needs a subcommand: up or down"},
		{name: "controlplane unknown subcommand", args: []string{"controlplane", "restart"}, wantCode: 1, wantStderr: `unknown controlplane subcommand "restart"`},
		{name: "down with nothing running", args: []string{"controlplane", "down", "-run-dir", t.TempDir()}, wantCode: 0},
		{name: "unknown flag", args: []string{"build", "-jobs", "4"}, wantCode: 1, wantStderr: "flag provided but not defined: -jobs"},
		{name: "up with a bad version", args: []string{"controlplane", "up", "-version", "v1.37"}, wantCode: 1, wantStderr: "not a full Kubernetes release version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
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
