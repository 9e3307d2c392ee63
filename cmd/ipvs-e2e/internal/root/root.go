// Package root is the ipvs-e2e command: the project's tools as subcommands of one binary,
// each a NewCommand and a flags struct that binds its flags and runs (cli.Command;
// cmd/ipvs-e2e/internal/cli holds what they share).
package root

import (
	"github.com/spf13/cobra"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/benchcmd"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/capturecmd"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/diffcmd"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/explaincmd"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/imagecmd"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/labcmd"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/preflightcmd"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/upstreamcmd"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/walkcmd"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
)

// NewCommand returns the ipvs-e2e command with every subcommand. Before any of them runs,
// the lab's environment settings are checked with the same table the suites check them with
// (framework/cluster/lab.Settings), so a malformed one stops the command before it prepares
// or downloads anything.
func NewCommand() *cobra.Command {
	root := cli.Group(&cobra.Command{
		Use:   "ipvs-e2e",
		Short: "The ipvs-e2e project's tools: the kernel lab, the seed walk, reports and benchmarks",
		Long: `The ipvs-e2e project's tools: the kernel lab, the seed walk, the differential report,
benchmarks, upstream builds, lab captures, the e2e preflight, container images and pasted
node output explained. The Makefile's targets run
them (README.md lists which); each command's --help lists its flags.

Exit status: 0 on success, 1 when a check or run failed, 2 for a command line that could not
be understood (nothing ran), 97 when the kernel lab could not be set up (no IPVS in the
guest), 130 when interrupted; diff and lab run document their own.`,
	},
		labcmd.NewCommand(),
		walkcmd.NewCommand(),
		diffcmd.NewCommand(),
		benchcmd.NewCommand(),
		upstreamcmd.NewCommand(),
		capturecmd.NewCommand(),
		preflightcmd.NewCommand(),
		imagecmd.NewCommand(),
		explaincmd.NewCommand(),
	)
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if err := lab.CheckSettings(); err != nil {
			return &cli.UsageError{Err: err}
		}
		return nil
	}
	return root
}
