package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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

// countFlags is a Runner that counts to --n and records the arguments it was given.
type countFlags struct {
	n    int
	args []string
}

func (f *countFlags) Bind(fs *pflag.FlagSet) { fs.IntVar(&f.n, "n", 1, "count") }

func (f *countFlags) Run(cmd *cobra.Command, args []string) error {
	f.args = args
	fmt.Fprint(cmd.OutOrStdout(), f.n)
	return nil
}

// A command made by Command parses the flags its Runner binds, runs it with them, and takes
// arguments only when it says so.
func TestCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     cobra.PositionalArgs
		cmdline  []string
		code     int
		stdout   string
		wantArgs []string
	}{
		{"flag default", nil, []string{"count"}, 0, "1", nil},
		{"flag set", nil, []string{"count", "--n", "3"}, 0, "3", nil},
		{"no arguments by default", nil, []string{"count", "a"}, ExitUsage, "", nil},
		{"arguments it allows", cobra.ArbitraryArgs, []string{"count", "a", "--n", "2", "b"}, 0, "2", []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &countFlags{}
			var stdout bytes.Buffer
			code := Execute(context.Background(), Group(&cobra.Command{Use: "tool"}, Command(&cobra.Command{Use: "count", Args: tt.args}, f)), tt.cmdline, &stdout, &bytes.Buffer{})
			if code != tt.code || stdout.String() != tt.stdout || !slices.Equal(f.args, tt.wantArgs) {
				t.Errorf("exit %d, stdout %q, args %q; want %d, %q, %q", code, stdout.String(), f.args, tt.code, tt.stdout, tt.wantArgs)
			}
		})
	}
}
