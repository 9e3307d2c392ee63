package upstream

import (
	"slices"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestParseRelease(t *testing.T) {
	tests := []struct {
		in      string
		want    Release
		str     string
		staging string
		wantErr string
	}{
		{in: "v1.37.2", want: Release{1, 37, 2, ""}, str: "v1.37.2", staging: "v0.37.2"},
		{in: "1.34.0", want: Release{1, 34, 0, ""}, str: "v1.34.0", staging: "v0.34.0"},
		{in: " v1.36.3\n", want: Release{1, 36, 3, ""}, str: "v1.36.3", staging: "v0.36.3"},
		{in: "v1.38.0-rc.1", want: Release{1, 38, 0, "rc.1"}, str: "v1.38.0-rc.1", staging: "v0.38.0-rc.1"},
		{in: "v1.37.0-alpha.0", want: Release{1, 37, 0, "alpha.0"}, str: "v1.37.0-alpha.0", staging: "v0.37.0-alpha.0"},
		{in: "v1.37", wantErr: "not a full Kubernetes release version"},
		{in: "v1", wantErr: "not a full Kubernetes release version"},
		{in: "", wantErr: "not a full Kubernetes release version"},
		{in: "latest", wantErr: "not a full Kubernetes release version"},
		{in: "v1.37.2+build.1", wantErr: "not a full Kubernetes release version"},
		{in: "v01.37.2", wantErr: "not a full Kubernetes release version"},
		{in: "v0.37.2", wantErr: "found major version 0"},
		{in: "v2.0.0", wantErr: "found major version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRelease(tt.in)
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if got != tt.want {
				t.Errorf("ParseRelease(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if got.String() != tt.str {
				t.Errorf("String() = %q, want %q", got.String(), tt.str)
			}
			if got.StagingVersion() != tt.staging {
				t.Errorf("StagingVersion() = %q, want %q", got.StagingVersion(), tt.staging)
			}
		})
	}
}

func TestReleaseOrderAndSupport(t *testing.T) {
	var rs []Release
	for _, v := range []string{"v1.37.2", "v1.34.0", "v1.37.0-rc.1", "v1.33.13", "v1.37.0", "v1.34.10", "v1.34.9"} {
		r, err := ParseRelease(v)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, Release.Compare)
	want := "v1.33.13 v1.34.0 v1.34.9 v1.34.10 v1.37.0-rc.1 v1.37.0 v1.37.2"
	if got := JoinReleases(rs); got != want {
		t.Errorf("sorted = %s\nwant     %s", got, want)
	}
	if got, want := JoinReleases(SupportedReleases(rs, false)), "v1.34.0 v1.34.9 v1.34.10 v1.37.0 v1.37.2"; got != want {
		t.Errorf("SupportedReleases(withPre=false) = %s, want %s", got, want)
	}
	if got, want := JoinReleases(SupportedReleases(rs, true)), "v1.34.0 v1.34.9 v1.34.10 v1.37.0-rc.1 v1.37.0 v1.37.2"; got != want {
		t.Errorf("SupportedReleases(withPre=true) = %s, want %s", got, want)
	}
}
