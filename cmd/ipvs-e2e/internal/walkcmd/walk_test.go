package walkcmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
)

// Usage mistakes are caught before anything is built or booted.
func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{args: []string{"--help"}, code: 0, out: "--kube-proxy string"},
		{args: []string{"nonsense"}, code: 2, out: `unknown command "nonsense"`},
		{args: []string{"seed", "--help"}, code: 0, out: "--timeout duration"},
		{args: []string{"seed", "extra"}, code: 2, out: `takes no arguments, found ["extra"]`},
		{args: []string{"--method", "edit"}, code: 2, out: `method "edit": expected`},
		{args: []string{"--kube-proxy", "reference", "--method", "configmap"}, code: 2, out: "implements ipvs mode only"},
		{args: []string{"--kube-proxy", "1.37"}, code: 2, out: "expected a release such as v1.37.2"},
		{args: []string{"--nonsense"}, code: 2, out: "unknown flag: --nonsense"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if code := cli.Execute(context.Background(), NewCommand(), tt.args, &out, &out); code != tt.code || !strings.Contains(out.String(), tt.out) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out.String(), tt.code, tt.out)
			}
		})
	}
}
