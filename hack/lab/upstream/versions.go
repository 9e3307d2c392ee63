package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// KubernetesModule is the module path Build resolves releases of.
const KubernetesModule = "k8s.io/kubernetes"

// ParseVersionList reads the output of `go list -m -versions -json k8s.io/kubernetes` and
// returns the releases it lists, oldest first. Versions that are not Kubernetes releases
// (no v1 major, build metadata) are left out; the proxy serves a few such oddities.
func ParseVersionList(data []byte) ([]Release, error) {
	var m struct {
		Path     string
		Versions []string
		Error    *struct{ Err string }
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("reading `go list -m -versions -json %s` output: %w (output starts %q)", KubernetesModule, err, head(data, 80))
	}
	if m.Error != nil {
		return nil, fmt.Errorf("go list -m -versions %s: %s", KubernetesModule, m.Error.Err)
	}
	if m.Path != KubernetesModule {
		return nil, fmt.Errorf("go list -m -versions answered for module %q, want %s", m.Path, KubernetesModule)
	}
	var out []Release
	for _, v := range m.Versions {
		r, err := ParseRelease(v)
		if err != nil {
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, Release.Compare)
	return slices.CompactFunc(out, func(a, b Release) bool { return a == b }), nil
}

// SupportedReleases keeps the releases Build accepts (minor >= OldestMinor), without
// pre-releases unless withPre is set.
func SupportedReleases(all []Release, withPre bool) []Release {
	var out []Release
	for _, r := range all {
		if r.Supported() && (withPre || !r.IsPrerelease()) {
			out = append(out, r)
		}
	}
	return out
}

// JoinReleases spells releases as "v1.34.0 v1.35.4 ...", for messages.
func JoinReleases(rs []Release) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, " ")
}

func head(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
