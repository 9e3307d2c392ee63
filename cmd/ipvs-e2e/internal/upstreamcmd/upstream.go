// Package upstreamcmd is `ipvs-e2e upstream`: it downloads the upstream Kubernetes release
// binaries, or builds them from the Go module proxy (hack/lab/upstream), and runs a real
// control plane on 127.0.0.1 with them (hack/lab/controlplane), for people poking at the lab
// cluster by hand.
//
//	ipvs-e2e upstream versions                        served releases, and which are cached
//	ipvs-e2e upstream build [--version v1.37.2] [--components a,b] [--source auto|download|build]
//	ipvs-e2e upstream controlplane up [--version v1.37.2] [--detach] [--source ...]
//	ipvs-e2e upstream controlplane down
package upstreamcmd

import (
	"github.com/spf13/cobra"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
)

// DefaultVersion is the release the lab cluster uses unless told otherwise.
const DefaultVersion = "v1.37.2"

// NewCommand returns the upstream command.
func NewCommand() *cobra.Command {
	return cli.Group(&cobra.Command{
		Use:   "upstream",
		Short: "Download or build upstream Kubernetes binaries and run a control plane with them",
		Long: `Download the upstream Kubernetes release binaries (and etcd's), or build them from the Go
module proxy, and run a real control plane on 127.0.0.1 with them.

Environment: CACHE_DIR (cache root, default $HOME/.cache/ipvs-e2e). Binaries are cached in
$CACHE_DIR/upstream/<version>/bin, each with a stamp of its source and sha256, checked on
every use; the control plane's run folder defaults to $CACHE_DIR/controlplane.
UPSTREAM_SOURCE (or --source): auto (default: download from dl.k8s.io and etcd's GitHub
releases, checksums verified; build from the Go module proxy when the release host does not
answer within 4 s), download (only) or build (only). UPSTREAM_RELEASE_URL and
UPSTREAM_ETCD_URL replace the release hosts' base URLs, for mirrors.`,
	},
		cli.Command(&cobra.Command{Use: "versions", Short: "List the served releases and which components of each are cached"}, &versionsFlags{}),
		cli.Command(&cobra.Command{Use: "build", Short: "Download or build a release's binaries into the cache and list them"}, &buildFlags{}),
		cli.Group(&cobra.Command{Use: "controlplane", Short: "Run a control plane of upstream binaries on 127.0.0.1, or stop one"},
			cli.Command(&cobra.Command{Use: "up", Short: "Start etcd, kube-apiserver and kube-controller-manager (fetched first when not cached)"}, &upFlags{}),
			cli.Command(&cobra.Command{Use: "down", Short: "Stop the control plane recorded in a run folder"}, &downFlags{}),
		),
	)
}
