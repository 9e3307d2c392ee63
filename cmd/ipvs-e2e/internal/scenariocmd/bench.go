package scenariocmd

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/scenario"
)

type benchFlags struct {
	services []int
	large    bool
	changes  int
	out      string
	timeout  time.Duration
}

// NewBenchCommand returns the bench command that times the reference proxier in the lab guest.
func NewBenchCommand() *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "lab",
		Short: "Time the reference proxier's full sync of N Services x 2 endpoints and a one-endpoint change in the lab guest",
		Long: `Time the reference proxier's full sync of N Services x 2 endpoints and a one-endpoint change
in the lab guest; writes the table, the results and a CPU profile.

Environment: BENCH_LARGE=1 (add 10,000 Services), and the kernel lab's (see ipvs-e2e lab).`,
	}, &benchFlags{})
}

func (f *benchFlags) Bind(fs *pflag.FlagSet) {
	fs.IntSliceVarP(&f.services, "n", "n", []int{100, 1000}, "Service counts, comma-separated")
	fs.BoolVar(&f.large, "large", os.Getenv("BENCH_LARGE") == "1", "add 10,000 Services (slow under TCG; default from BENCH_LARGE=1)")
	fs.IntVar(&f.changes, "changes", 3, "single-endpoint changes timed at each size")
	fs.StringVar(&f.out, "out", "_out/bench", "folder for the table, the results and the CPU profile")
	fs.DurationVar(&f.timeout, "timeout", 0, "bound for the guest run (0: sized from the Service counts)")
}

func (f *benchFlags) Run(cmd *cobra.Command, _ []string) error {
	ns := f.services
	for _, n := range ns {
		if n < 1 {
			return cli.Usagef("--n %v: expected positive Service counts separated by commas", ns)
		}
	}
	if f.large {
		ns = append(ns, 10000)
	}
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	var bin string
	l, err := kernellab.PrepareWhile(ctx, kernellab.Options{}, func() (err error) {
		bin, err = scenario.BuildGuest(ctx, scenario.DefaultBinDir(), nil)
		return err
	})
	if err != nil {
		return err
	}
	rep, err := scenario.RunBench(ctx, l, scenario.BenchOptions{
		GuestBinary: bin, Services: ns, Changes: f.changes, OutDir: f.out, Timeout: f.timeout, Log: stdout,
	})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Table())
	fmt.Fprintf(stdout, "\nwritten: %s\n", strings.Join(rep.Files, ", "))
	return nil
}
