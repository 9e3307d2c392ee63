package labcmd

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

type prepareFlags struct {
	refresh bool
}

func newPrepareCommand() *cobra.Command {
	var f prepareFlags
	cmd := &cobra.Command{
		Use:   "prepare",
		Short: "Fetch and cache the kernel, tools and base initramfs",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := kernellab.Prepare(cmd.Context(), kernellab.Options{Refresh: f.refresh})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "kernel %s\n  %s\n  %s (%d modules, %d binaries)\n", l.KernelVersion, l.Kernel, filepath.Base(l.Initramfs), l.Modules, l.Binaries)
			return nil
		},
	}
	cmd.Flags().BoolVar(&f.refresh, "refresh", false, "rebuild the base initramfs even if a cached one matches")
	return cmd
}
