package labcmd

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
)

// cleanFlags is `lab clean`: what every run does when it starts, on its own.
type cleanFlags struct {
	kept bool
}

func (f *cleanFlags) Bind(fs *pflag.FlagSet) {
	fs.BoolVar(&f.kept, "kept", false, "also remove the run directories failed runs kept for inspection")
}

func (f *cleanFlags) Run(cmd *cobra.Command, _ []string) error {
	removed := rundir.Sweep(os.TempDir(), f.kept, slog.Default())
	fmt.Fprintf(cmd.OutOrStdout(), "removed %d run directories of runs whose process is gone\n", len(removed))
	// A lab-up process killed with SIGKILL leaves its state file too.
	if gone, err := removeStale(defaultStateFile()); err == nil && gone != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "removed the state file of lab up pid %d, which is gone\n", gone.Owner.PID)
	}
	return nil
}
