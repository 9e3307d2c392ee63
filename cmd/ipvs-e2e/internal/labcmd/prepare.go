package labcmd

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

// prepareFlags is `lab prepare`: it fetches and caches what a guest boots.
type prepareFlags struct {
	refresh bool
}

func (f *prepareFlags) Bind(fs *pflag.FlagSet) {
	fs.BoolVar(&f.refresh, "refresh", false, "rebuild the base initramfs even if a cached one matches")
}

func (f *prepareFlags) Run(cmd *cobra.Command, _ []string) error {
	l, err := kernellab.Prepare(cmd.Context(), kernellab.Options{Refresh: f.refresh})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "kernel %s\n  %s\n  %s (%d modules, %d binaries)\n", l.KernelVersion, l.Kernel, filepath.Base(l.Initramfs), l.Modules, l.Binaries)
	return nil
}
