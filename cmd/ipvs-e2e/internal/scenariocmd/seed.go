package scenariocmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/scenario"
)

type seedFlags struct {
	timeout time.Duration
	save    string
}

// NewSeedCommand returns the seed command: the seed tutorial's sections on a bare lab node.
func NewSeedCommand() *cobra.Command {
	var f seedFlags
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "The same sections on a bare lab node, the reference proxier fed by a fake object store (no upstream binaries)",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stdout := cmd.Context(), cmd.OutOrStdout()
			start := time.Now()
			l, bin, err := prepare(ctx)
			if err != nil {
				return err
			}
			verdicts, err := scenario.RunSeed(ctx, l, scenario.SeedOptions{GuestBinary: bin, Out: stdout, Timeout: f.timeout, SaveDir: f.save})
			if err != nil {
				return err
			}
			ok := scenario.PrintVerdicts(stdout, verdicts)
			fmt.Fprintf(stdout, "(%s in all, preparation and boot included)\n", time.Since(start).Round(100*time.Millisecond))
			if !ok {
				return cli.Exit(cli.ExitFailed)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "bound for the guest run, boot included")
	cmd.Flags().StringVar(&f.save, "save", "", "write each guest command's output to this folder")
	return cmd
}
