// Package preflightcmd is `ipvs-e2e preflight`: in a second and before anything is built or
// created, the checks the suites' kind provider runs before creating a cluster: a Docker
// engine that answers, and IPVS in the host kernel the kind nodes share. `make e2e` calls it
// first, so on a machine without Docker it stops at once and says why.
package preflightcmd

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/preflight"
)

type flags struct {
	schedulers []string
}

// NewCommand returns the preflight command.
func NewCommand() *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "preflight",
		Short: "Check, before make e2e builds anything, that this host can run kind clusters in ipvs mode",
	}, &flags{})
}

func (f *flags) Bind(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.schedulers, "schedulers", []string{"rr", "wrr", "sh"}, "IPVS schedulers whose kernel modules the run needs (comma-separated)")
}

func (f *flags) Run(cmd *cobra.Command, _ []string) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	r := preflight.ForKind(ctx, preflight.Host{}, runtime.GOOS, f.schedulers...)
	if err := r.Err(); err != nil {
		stderr := cmd.ErrOrStderr()
		for _, w := range r.Warnings {
			fmt.Fprintf(stderr, "preflight warning: %s\n", w)
		}
		fmt.Fprintf(stderr, "%v\n", err)
		fmt.Fprintln(stderr, "make e2e: stopped before building the suites or creating a cluster.")
		return cli.Exit(cli.ExitFailed)
	}
	fmt.Fprint(cmd.OutOrStdout(), r.String())
	return nil
}
