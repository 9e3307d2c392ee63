package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

// A command's error becomes the exit status and, unless the command printed it, a line
// naming the command.
func TestExecuteExitStatus(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		err    error
		code   int
		stderr string
	}{
		{"success", context.Background(), nil, 0, ""},
		{"exit code, printed already", context.Background(), Exit(3), 3, ""},
		{"exit code with an error", context.Background(), &ExitError{Code: 2, Err: errors.New("no capture")}, 2, "tool sub: no capture\n"},
		{"usage", context.Background(), Usagef("--n %q: expected a number", "x"), ExitUsage, "tool sub: --n \"x\": expected a number\nRun 'tool sub --help'"},
		{"lab without IPVS", context.Background(), fmt.Errorf("running: %w", &kernellab.SetupError{Reason: "no /proc/net/ip_vs"}), kernellab.ExitNoIPVS, "no /proc/net/ip_vs"},
		{"interrupted", cancelled, context.Canceled, ExitInterrupted, "tool sub: interrupted: context canceled\n"},
		{"failure", context.Background(), errors.New("qemu failed"), ExitFailed, "tool sub: qemu failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := &cobra.Command{Use: "sub", Args: NoArgs, RunE: func(*cobra.Command, []string) error { return tt.err }}
			var stderr bytes.Buffer
			code := Execute(tt.ctx, Group(&cobra.Command{Use: "tool"}, sub), []string{"sub"}, &bytes.Buffer{}, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) || (tt.stderr == "" && stderr.Len() > 0) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, `"tool" needs a command: sub`},
		{[]string{"nosuch"}, `unknown command "nosuch" for "tool"; expected one of: sub`},
		{[]string{"sub", "a", "b"}, `"tool sub" takes no arguments, found ["a" "b"]`},
		{[]string{"sub", "--flag"}, "unknown flag: --flag"},
	}
	for _, tt := range tests {
		ran := false
		sub := &cobra.Command{Use: "sub", Args: NoArgs, RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
		var stderr bytes.Buffer
		code := Execute(context.Background(), Group(&cobra.Command{Use: "tool"}, sub), tt.args, &bytes.Buffer{}, &stderr)
		if code != ExitUsage || !strings.Contains(stderr.String(), tt.want) || ran {
			t.Errorf("tool %q: exit %d, stderr %q, ran %v; want exit %d, %q and nothing run", tt.args, code, stderr.String(), ran, ExitUsage, tt.want)
		}
	}
}
