package scenariocmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
)

// Service counts are checked before the lab is prepared or the guest program built.
func TestBenchUsage(t *testing.T) {
	tests := []struct {
		args []string
		out  string
	}{
		{args: []string{"-n", "100,x"}, out: `invalid argument "100,x"`},
		{args: []string{"-n", "0"}, out: "expected positive Service counts"},
		{args: []string{"--n", "100,-1"}, out: "expected positive Service counts"},
		{args: []string{"extra"}, out: `takes no arguments, found ["extra"]`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if code := cli.Execute(context.Background(), NewBenchCommand(), tt.args, &out, &out); code != cli.ExitUsage || !strings.Contains(out.String(), tt.out) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out.String(), cli.ExitUsage, tt.out)
			}
		})
	}
}
