package upstreamcmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// The source setting is refused before anything is fetched or built, from the flag and
// from the environment alike; the cache is not touched.
func TestSourceRefusedBeforeWork(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     string
		wantErr string
	}{
		{"flag misspelt", []string{"build", "--source", "downlaod"}, "", `--source="downlaod": expected one of auto, download or build`},
		{"flag empty", []string{"build", "--source", ""}, "", `--source="": expected one of auto, download or build`},
		{"environment misspelt", []string{"build", "--components", "kubectl"}, "buidl", `UPSTREAM_SOURCE="buidl": expected one of auto, download or build`},
		{"controlplane up", []string{"controlplane", "up", "--source", "Auto"}, "", `--source="Auto": expected one of auto, download or build`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := t.TempDir()
			t.Setenv("CACHE_DIR", cache)
			t.Setenv("UPSTREAM_SOURCE", tt.env)
			cmd := NewCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tt.args)
			err := cmd.ExecuteContext(context.Background())
			wanterr.Check(t, err, tt.wantErr)
			if _, err := os.Stat(filepath.Join(cache, "upstream")); !os.IsNotExist(err) {
				t.Errorf("the cache was touched (%v)", err)
			}
		})
	}
}

func TestSourceFlag(t *testing.T) {
	for _, v := range []string{"auto", "download", "build"} {
		var s source
		if err := s.Set(v); err != nil || string(s) != v {
			t.Errorf("Set(%q) = %v, %q", v, err, s)
		}
	}
}
