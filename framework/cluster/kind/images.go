package kind

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// nodeImages are the node images published with kind v0.33.0 (the kind module this project
// builds against), pinned by digest as kind's release notes ask: an image built for another
// kind release may not boot. One per Kubernetes minor the suites cover.
var nodeImages = map[string]string{
	"1.34": "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",
	"1.35": "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
	"1.36": "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
	"1.37": "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
}

// DefaultKubernetesVersion is kind v0.33.0's default node version.
const DefaultKubernetesVersion = "1.37"

// Version is a Kubernetes minor version.
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// AtLeast tells whether v is minor or newer (major 1 assumed).
func (v Version) AtLeast(minor int) bool { return v.Major > 1 || (v.Major == 1 && v.Minor >= minor) }

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)(?:\.(\d+))?$`)

// imageVersionRE finds the version in a node image reference ("kindest/node:v1.36.4@sha256:...").
var imageVersionRE = regexp.MustCompile(`:v(\d+)\.(\d+)(?:\.\d+)?(?:@|$)`)

// ParseVersion reads "1.37", "v1.37" or "v1.37.2".
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("kubernetes version %q: expected MAJOR.MINOR or vMAJOR.MINOR.PATCH, like 1.37 or v1.36.4", s)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return Version{major, minor}, nil
}

// ResolveImage picks the node image and the Kubernetes version it runs. An explicit image
// wins; its version comes from its tag or, failing that, from version. A version alone
// picks the pinned image of that minor; a full version must be the pinned image's own
// patch release, because any other tag is unknown to this kind release and would only fail
// minutes later, at the image pull.
func ResolveImage(image, version string) (string, Version, error) {
	if image != "" {
		if m := imageVersionRE.FindStringSubmatch(image); m != nil {
			major, _ := strconv.Atoi(m[1])
			minor, _ := strconv.Atoi(m[2])
			return image, Version{major, minor}, nil
		}
		if version == "" {
			return "", Version{}, fmt.Errorf("node image %q has no version tag: also give the Kubernetes version it runs (it decides the KubeProxyIPVS feature gate)", image)
		}
		v, err := ParseVersion(version)
		return image, v, err
	}
	if version == "" {
		version = DefaultKubernetesVersion
	}
	v, err := ParseVersion(version)
	if err != nil {
		return "", Version{}, err
	}
	pinned, ok := nodeImages[v.String()]
	if m := versionRE.FindStringSubmatch(version); ok && m[3] != "" {
		want := fmt.Sprintf("kindest/node:v%s.%s.%s@", m[1], m[2], m[3])
		if !strings.HasPrefix(pinned, want) {
			return "", Version{}, fmt.Errorf("kubernetes %s: kind v0.33.0 publishes no node image of that patch release; known images:\n%s\ngive the minor alone (%s) to use its image, or name an image (IPVS_E2E_NODE_IMAGE, e.g. one built with `kind build node-image %s`)", version, knownImages(), v, version)
		}
	}
	if !ok {
		return "", Version{}, fmt.Errorf("kubernetes %s: no kind v0.33.0 node image pinned; known images:\n%s\ngive one of those minors, or name an image (IPVS_E2E_NODE_IMAGE, e.g. one built with `kind build node-image v%s.0`)", v, knownImages(), v)
	}
	return pinned, v, nil
}

// knownImages lists the pinned images, one a line, oldest first.
func knownImages() string {
	var b strings.Builder
	for _, v := range SupportedVersions() {
		fmt.Fprintf(&b, "  %s  %s\n", v, nodeImages[v])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// SupportedVersions lists the minors with a pinned node image, oldest first.
func SupportedVersions() []string {
	out := make([]string, 0, len(nodeImages))
	for v := range nodeImages {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b string) int {
		va, _ := ParseVersion(a)
		vb, _ := ParseVersion(b)
		return cmp.Or(cmp.Compare(va.Major, vb.Major), cmp.Compare(va.Minor, vb.Minor))
	})
	return out
}
