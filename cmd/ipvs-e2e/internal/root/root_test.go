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
var takeArgs = []string{"ipvs-e2e lab run", "ipvs-e2e lab test"}

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
		"ipvs-e2e lab", "ipvs-e2e lab prepare", "ipvs-e2e lab run", "ipvs-e2e lab test",
		"ipvs-e2e preflight",
		"ipvs-e2e upstream", "ipvs-e2e upstream build", "ipvs-e2e upstream controlplane",
		"ipvs-e2e upstream controlplane down", "ipvs-e2e upstream controlplane up", "ipvs-e2e upstream versions",
		"ipvs-e2e walk", "ipvs-e2e walk seed",
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
