package upstream

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
)

// OldestMinor is the oldest Kubernetes minor release Build accepts. The lab's control-plane
// flags, the kube-proxy flag set the suites drive and the etcd embed program were checked
// against 1.34 and later.
const OldestMinor = 34

// Release is a Kubernetes release version, v1.MINOR.PATCH with an optional pre-release
// suffix (v1.37.0-rc.1).
type Release struct {
	Major, Minor, Patch int
	// Pre is the pre-release suffix without its dash ("rc.1"), empty for a release.
	Pre string
}

// ParseRelease parses "v1.37.2" or "1.37.2". Build metadata (+...) is refused: the module
// proxy serves no such versions of k8s.io/kubernetes.
func ParseRelease(s string) (Release, error) {
	v := strings.TrimSpace(s)
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) || semver.Canonical(v) != v {
		return Release{}, fmt.Errorf("version %q is not a full Kubernetes release version: want vMAJOR.MINOR.PATCH, e.g. v1.37.2", s)
	}
	core, pre, _ := strings.Cut(strings.TrimPrefix(v, "v"), "-")
	parts := strings.Split(core, ".")
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil {
			return Release{}, fmt.Errorf("version %q: %q is not a number", s, p)
		}
		n[i] = x
	}
	r := Release{Major: n[0], Minor: n[1], Patch: n[2], Pre: pre}
	if r.Major != 1 {
		return Release{}, fmt.Errorf("version %q: Kubernetes releases are v1.x.y, found major version %d", s, r.Major)
	}
	return r, nil
}

// String returns the version as the module proxy and `kubectl version` spell it.
func (r Release) String() string {
	s := fmt.Sprintf("v%d.%d.%d", r.Major, r.Minor, r.Patch)
	if r.Pre != "" {
		s += "-" + r.Pre
	}
	return s
}

// StagingVersion is the version the staging modules (k8s.io/api, k8s.io/client-go, ...)
// are published at for this release: v1.37.2 -> v0.37.2.
func (r Release) StagingVersion() string {
	s := fmt.Sprintf("v0.%d.%d", r.Minor, r.Patch)
	if r.Pre != "" {
		s += "-" + r.Pre
	}
	return s
}

// IsPrerelease reports whether r is an alpha, beta or release candidate.
func (r Release) IsPrerelease() bool { return r.Pre != "" }

// Compare orders releases by semantic version: -1, 0 or +1.
func (r Release) Compare(o Release) int { return semver.Compare(r.String(), o.String()) }

// Supported reports whether Build accepts the release's minor version.
func (r Release) Supported() bool { return r.Major == 1 && r.Minor >= OldestMinor }
