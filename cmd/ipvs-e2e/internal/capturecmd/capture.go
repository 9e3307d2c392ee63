// Package capturecmd is `ipvs-e2e capture`: it regenerates framework/dataplane/testdata/lab
// with hack/lab/capture (make lab-capture).
package capturecmd

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/capture"
)

type flags struct {
	out string
}

// NewCommand returns the capture command.
func NewCommand() *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "capture",
		Short: "Capture the node tools' real outputs in the kernel lab for the dataplane parsers' tests",
		Long: `Boot the kernel lab, set up a kube-proxy-like dataplane with hack/lab/capture/state.sh (IPVS,
kube-ipvs0, ipsets, iptables) and save what the node tools print about it, one file per
command, for the dataplane parsers' tests; then send requests through a virtual server of
hack/lab/capture/traffic.sh's and save the counter listings (ipvsadm -Ln --stats, --rate).`,
	}, &flags{})
}

func (f *flags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.out, "out", "framework/dataplane/testdata/lab", "folder for the captured files")
}

func (f *flags) Run(cmd *cobra.Command, _ []string) error {
	return capture.Run(cmd.Context(), f.out)
}
