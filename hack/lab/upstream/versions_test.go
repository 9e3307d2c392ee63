package upstream

import (
	_ "embed"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// The proxy's answer for k8s.io/kubernetes.
//
//go:embed testdata/versions.json
var realVersions []byte

func TestParseVersionList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{
			name: "proxy answer (testdata/versions.json)",
			in:   string(realVersions),
			want: "v1.13.0 v1.29.6 v1.30.4 v1.30.14 v1.31.0 v1.31.14 v1.32.2 v1.32.13 v1.33.6 v1.33.13 v1.34.0 v1.34.2 v1.34.3 v1.34.4 v1.35.4 v1.36.1 v1.36.3 v1.37.2",
		},
		{
			name: "unsorted, duplicates and non-releases",
			in:   `{"Path":"k8s.io/kubernetes","Versions":["v1.37.2","v1.4.0-alpha.0+abc","v1.37.2","v0.0.0-2020","v1.36.0-rc.1","v1.10.0"]}`,
			want: "v1.10.0 v1.36.0-rc.1 v1.37.2",
		},
		{name: "no versions", in: `{"Path":"k8s.io/kubernetes"}`, want: ""},
		{name: "other module", in: `{"Path":"k8s.io/api","Versions":["v0.37.2"]}`, wantErr: `answered for module "k8s.io/api"`},
		{name: "go list error", in: `{"Path":"k8s.io/kubernetes","Error":{"Err":"module lookup disabled by GOPROXY=off"}}`, wantErr: "GOPROXY=off"},
		{name: "plain text form", in: "k8s.io/kubernetes v1.37.2\n", wantErr: "reading `go list -m -versions -json"},
		{name: "empty", in: "", wantErr: "reading `go list -m -versions -json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVersionList([]byte(tt.in))
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if s := JoinReleases(got); s != tt.want {
				t.Errorf("ParseVersionList =\n%s\nwant\n%s", s, tt.want)
			}
		})
	}
}

func FuzzParseVersionList(f *testing.F) {
	f.Add(realVersions)
	f.Add([]byte(`{"Path":"k8s.io/kubernetes","Versions":["v1.37.2","v1.37.2","v1.36.0-rc.1"]}`))
	f.Add([]byte(`{"Path":"k8s.io/kubernetes","Error":{"Err":"x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseVersionList(data)
		if err != nil {
			return
		}
		for i, r := range rs {
			if r.Major != 1 {
				t.Fatalf("release %s has major %d", r, r.Major)
			}
			again, err := ParseRelease(r.String())
			if err != nil || again != r {
				t.Fatalf("release %#v does not round-trip through %q: %#v, %v", r, r.String(), again, err)
			}
			if i > 0 && rs[i-1].Compare(r) >= 0 {
				t.Fatalf("releases not strictly increasing: %s then %s", rs[i-1], r)
			}
		}
	})
}
