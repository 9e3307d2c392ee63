package upstream

import (
	"fmt"
	"strconv"
	"strings"
)

// Packages whose version variables the release build stamps (hack/lib/version.sh upstream):
// component-base/version feeds `--version`, /version and the compatibility version the
// control plane checks; client-go/pkg/version is what kubectl reports as its client version.
var versionPackages = []string{
	"k8s.io/component-base/version",
	"k8s.io/client-go/pkg/version",
}

// Ldflags returns the linker flags for a component of release rel: stripped (-s -w), with
// the release version stamped in as hack/lib/version.sh does. gitCommit and gitTreeState stay
// unset (the module zip carries no commit) and buildDate at its fixed default, which keeps
// rebuilds byte-identical.
func Ldflags(rel Release) string {
	minor := strconv.Itoa(rel.Minor)
	if rel.IsPrerelease() {
		// Upstream marks non-release builds with a "+" on the minor.
		minor += "+"
	}
	flags := []string{"-s", "-w"}
	for _, pkg := range versionPackages {
		flags = append(flags,
			fmt.Sprintf("-X %s.gitVersion=%s", pkg, rel),
			fmt.Sprintf("-X %s.gitMajor=%d", pkg, rel.Major),
			fmt.Sprintf("-X %s.gitMinor=%s", pkg, minor),
		)
	}
	return strings.Join(flags, " ")
}
