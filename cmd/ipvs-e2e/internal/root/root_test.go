package root

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
)

// takeArgs are the commands whose positional arguments are their input, not a mistake.
var takeArgs = []string{"ipvs-e2e explain", "ipvs-e2e lab run", "ipvs-e2e lab test"}

// Every command path answers --help with its flags and exit 0, and refuses an unknown flag
// and a stray argument with exit 2, naming them, before it does anything else.
func TestEveryCommandShape(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(slices.Clone(path), sub.Name()))
		}
	}
	walk(NewCommand(), nil)

	var names []string
	for _, p := range paths {
		names = append(names, strings.Join(append([]string{"ipvs-e2e"}, p...), " "))
	}
	want := []string{
		"ipvs-e2e",
		"ipvs-e2e bench", "ipvs-e2e bench cluster", "ipvs-e2e bench lab",
		"ipvs-e2e capture",
		"ipvs-e2e diff", "ipvs-e2e diff report", "ipvs-e2e diff run",
		"ipvs-e2e explain",
		"ipvs-e2e image", "ipvs-e2e image inspector", "ipvs-e2e image proxier",
		"ipvs-e2e lab", "ipvs-e2e lab clean", "ipvs-e2e lab down", "ipvs-e2e lab prepare", "ipvs-e2e lab run", "ipvs-e2e lab test", "ipvs-e2e lab up",
		"ipvs-e2e preflight",
		"ipvs-e2e upstream", "ipvs-e2e upstream build", "ipvs-e2e upstream controlplane",
		"ipvs-e2e upstream controlplane down", "ipvs-e2e upstream controlplane up", "ipvs-e2e upstream versions",
		"ipvs-e2e walk",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("command paths:\n  %s\nwant:\n  %s", strings.Join(names, "\n  "), strings.Join(want, "\n  "))
	}

	execute := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), NewCommand(), args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	for i, path := range paths {
		t.Run(names[i], func(t *testing.T) {
			cmd, _, err := NewCommand().Find(path)
			if err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := execute(append(slices.Clone(path), "--help")...)
			if code != 0 || stderr != "" {
				t.Errorf("--help: exit %d, stderr %q; want exit 0 and no error", code, stderr)
			}
			if !strings.Contains(stdout, "Usage:") {
				t.Errorf("--help prints no usage:\n%s", stdout)
			}
			cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if !strings.Contains(stdout, "--"+f.Name+" ") {
					t.Errorf("--help does not list --%s:\n%s", f.Name, stdout)
				}
			})

			code, _, stderr = execute(append(slices.Clone(path), "--no-such-flag")...)
			if code != cli.ExitUsage || !strings.Contains(stderr, "--no-such-flag") {
				t.Errorf("--no-such-flag: exit %d, stderr %q; want exit %d naming the flag", code, stderr, cli.ExitUsage)
			}

			if slices.Contains(takeArgs, names[i]) {
				return
			}
			code, _, stderr = execute(append(slices.Clone(path), "stray-argument")...)
			if code != cli.ExitUsage || !strings.Contains(stderr, "stray-argument") {
				t.Errorf("stray-argument: exit %d, stderr %q; want exit %d naming it", code, stderr, cli.ExitUsage)
			}
		})
	}
}

// Mistakes in a command line are refused with exit 2 and a message that names them, before
// anything is prepared, built, booted or downloaded.
func TestUsage(t *testing.T) {
	t.Setenv("CACHE_DIR", t.TempDir())
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, `"ipvs-e2e" needs a command: bench, capture, diff, explain, image, lab, preflight, upstream, walk`},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate" for "ipvs-e2e"`},

		{[]string{"lab"}, 2, `"ipvs-e2e lab" needs a command: clean, down, prepare, run, test, up`},
		{[]string{"lab", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"lab", "run"}, 2, "expected a static binary"},
		{[]string{"lab", "run", "/nonexistent/bin"}, 2, "stat /nonexistent/bin: no such file or directory"},
		{[]string{"lab", "run", "/"}, 2, "/ is a directory"},
		{[]string{"lab", "run", "root_test.go"}, 2, "root_test.go is not executable"},
		{[]string{"lab", "run", "--mem=-5", "/bin/sh"}, 2, "--mem -5: expected 0"},
		{[]string{"lab", "run", "--timeout=0s", "/bin/sh"}, 2, "--timeout 0s: expected a positive duration"},
		{[]string{"lab", "test", "--mem=-5"}, 2, "--mem -5: expected 0"},
		{[]string{"lab", "test", "--mem=99999"}, 2, "--mem 99999: expected 0"},
		{[]string{"lab", "prepare", "extra"}, 2, `takes no arguments, found ["extra"]`},
		{[]string{"lab", "test", "--nosuchflag"}, 2, "unknown flag: --nosuchflag"},
		{[]string{"lab", "test", "--env", "1A=1"}, 2, `"1A" is not a variable name`},

		{[]string{"walk", "nonsense"}, 2, `takes no arguments, found ["nonsense"]`},
		{[]string{"walk", "--method", "edit"}, 2, `method "edit": expected`},
		{[]string{"walk", "--kube-proxy", "reference", "--method", "configmap"}, 2, "implements ipvs mode only"},
		{[]string{"walk", "--kube-proxy", "1.37"}, 2, "expected a release such as v1.37.2"},

		{[]string{"bench", "lab", "-n", "100,x"}, 2, `invalid argument "100,x"`},
		{[]string{"bench", "lab", "-n", "0"}, 2, "expected positive Service counts"},
		{[]string{"bench", "lab", "--n", "100,-1"}, 2, "expected positive Service counts"},
		{[]string{"bench", "cluster", "-n", "1e3"}, 2, "expected a whole number from 1 to"},
		{[]string{"bench", "cluster", "--parallel", "0"}, 2, "--parallel 0: expected 1 to 1000"},
		{[]string{"bench", "cluster", "--profile-seconds", "-3"}, 2, "--profile-seconds -3: expected 0"},
		{[]string{"upstream", "build", "-p", "0"}, 2, "-p 0: expected 1 to 64"},
		{[]string{"bench", "cluster", "--upstream-n", "0"}, 2, "--upstream-n"},

		{[]string{"diff"}, 2, `"ipvs-e2e diff" needs a command: report, run`},
		{[]string{"diff", "run", "--kube-proxy", "reference"}, 2, "expected an upstream release"},
		{[]string{"diff", "run", "--sides", "upstream,kind"}, 2, "--sides"},
		{[]string{"diff", "report", "--sides", "upstream"}, 2, "unknown flag: --sides"},
		{[]string{"diff", "report", "--scenarios", "nosuch"}, 2, "nosuch"},

		{[]string{"upstream", "deploy"}, 2, `unknown command "deploy"`},
		{[]string{"upstream", "build", "--version", "1.37"}, 2, `version "1.37" is not a full Kubernetes release version`},
		{[]string{"upstream", "build", "--components", "kube-apiserver,kube-dns"}, 2, `unknown component "kube-dns"`},
		{[]string{"upstream", "build", "--jobs", "4"}, 2, "unknown flag: --jobs"},
		{[]string{"upstream", "controlplane"}, 2, "needs a command: down, up"},
		{[]string{"upstream", "controlplane", "restart"}, 2, `unknown command "restart"`},
		{[]string{"upstream", "controlplane", "up", "--version", "v1.37"}, 2, "not a full Kubernetes release version"},
		{[]string{"upstream", "controlplane", "down", "--run-dir", t.TempDir()}, 0, ""},

		{[]string{"preflight", "--schedulers"}, 2, "flag needs an argument: --schedulers"},
		{[]string{"capture", "--out"}, 2, "flag needs an argument: --out"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Execute(context.Background(), NewCommand(), tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.out) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tt.code, tt.out)
			}
		})
	}
}

// A malformed lab setting in the environment stops every command before it starts, named
// with what it accepts; --help still works.
func TestLabSettingsCheckedFirst(t *testing.T) {
	t.Setenv("IPVS_E2E_LAB_ACCEL", "tcg;rm -rf")
	t.Setenv("IPVS_E2E_LAB_NODEAGENT", "/nonexistent/ipvs-nodeagent")
	for _, args := range [][]string{{"walk"}, {"lab", "run", "/bin/sh"}, {"diff", "run"}} {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), NewCommand(), args, &stdout, &stderr)
		for _, want := range []string{`IPVS_E2E_LAB_ACCEL="tcg;rm -rf": not an accelerator`, `IPVS_E2E_LAB_NODEAGENT="/nonexistent/ipvs-nodeagent"`} {
			if code != 2 || !strings.Contains(stderr.String(), want) {
				t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", args, code, stderr.String(), want)
			}
		}
	}
	var stdout, stderr bytes.Buffer
	if code := cli.Execute(context.Background(), NewCommand(), []string{"walk", "--help"}, &stdout, &stderr); code != 0 {
		t.Errorf("walk --help: exit %d, stderr %q", code, stderr.String())
	}
}
