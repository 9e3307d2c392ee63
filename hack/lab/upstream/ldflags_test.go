package upstream

import (
	"strings"
	"testing"
)

func TestLdflags(t *testing.T) {
	tests := []struct {
		version string
		want    []string
	}{
		{"v1.37.2", []string{
			"-s", "-w",
			"-X", "k8s.io/component-base/version.gitVersion=v1.37.2",
			"-X", "k8s.io/component-base/version.gitMajor=1",
			"-X", "k8s.io/component-base/version.gitMinor=37",
			"-X", "k8s.io/client-go/pkg/version.gitVersion=v1.37.2",
			"-X", "k8s.io/client-go/pkg/version.gitMajor=1",
			"-X", "k8s.io/client-go/pkg/version.gitMinor=37",
		}},
		{"v1.38.0-rc.1", []string{
			"-s", "-w",
			"-X", "k8s.io/component-base/version.gitVersion=v1.38.0-rc.1",
			"-X", "k8s.io/component-base/version.gitMajor=1",
			"-X", "k8s.io/component-base/version.gitMinor=38+",
			"-X", "k8s.io/client-go/pkg/version.gitVersion=v1.38.0-rc.1",
			"-X", "k8s.io/client-go/pkg/version.gitMajor=1",
			"-X", "k8s.io/client-go/pkg/version.gitMinor=38+",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			r, err := ParseRelease(tt.version)
			if err != nil {
				t.Fatal(err)
			}
			// The go command splits -ldflags on spaces; compare the words it will see.
			got := strings.Fields(Ldflags(r))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Ldflags(%s) =\n%s\nwant\n%s", tt.version, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
