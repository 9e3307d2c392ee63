// Package walkcmd is `ipvs-e2e walk`: the seed tutorial's sections 2 to 4.1 on the lab cluster
// (real control plane on 127.0.0.1, upstream kube-proxy or the reference proxier in the lab
// guest; hack/report/seedwalk), each step printed as typed with its real output and time, then
// a PASS/FAIL verdict per assertion (make lab).
//
// Exit status: 0 when every check passed, 1 when one failed or the run did not complete,
// 97 when the lab could not be set up (no IPVS in the guest), 2 for usage errors, 130 on
// Ctrl-C, which stops QEMU (by its PID) and the control plane first.
package walkcmd

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	clusterlab "github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/seedwalk"
)

type flags struct {
	kubeProxy string
	method    string
	save      string
}

// NewCommand returns the walk command.
func NewCommand() *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "walk",
		Short: "Walk the seed tutorial's sections 2 to 4.1 on the lab cluster and judge each step",
		Long: `Walk the seed tutorial's sections 2 to 4.1 on the lab cluster: a real control plane on
127.0.0.1, upstream kube-proxy or the reference proxier in the kernel lab guest. Each step is
printed as typed with its real output and time, then a PASS/FAIL verdict per assertion.

Environment: CACHE_DIR (cache root, default $HOME/.cache/ipvs-e2e), IPVS_E2E_LAB_ACCEL,
IPVS_E2E_LAB_NODEAGENT and IPVS_E2E_LAB_PROXIER (the guest binaries, default bin/),
IPVS_E2E_LAB_KEEP=1 (see hack/lab/kernellab).`,
	}, &flags{})
}

func (f *flags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeProxy, "kube-proxy", clusterlab.DefaultVersion, "upstream release run as kube-proxy and control plane, or \"reference\" (the reference proxier)")
	fs.StringVar(&f.method, "method", "", "how kube-proxy gets to ipvs: configmap (the seed's method 2; default for upstream) or creation (method 1; default and only choice for reference)")
	fs.StringVar(&f.save, "save", "", "write the walk's record (facts and each step's output) to this folder")
}

func (f *flags) Run(cmd *cobra.Command, _ []string) error {
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	opts := seedwalk.Options{KubeProxy: f.kubeProxy, Method: f.method, Out: stdout}
	if err := opts.Validate(); err != nil {
		return &cli.UsageError{Err: err}
	}
	rep, err := seedwalk.Walk(ctx, opts)
	if rep == nil {
		return err
	}
	if err != nil {
		// The walk stopped part way (Ctrl-C, a lost node): judge what it showed, then fail.
		fmt.Fprintf(stdout, "\nlab: the walk stopped: %v\n", err)
	}
	if f.save != "" {
		if serr := rep.Record.Save(f.save); serr != nil {
			return errors.Join(err, serr)
		}
	}
	ok := false
	if ctx.Err() == nil {
		ok = tutorial.Print(stdout, seedwalk.Judge(rep.Record))
	}
	t := rep.Timings
	fmt.Fprintf(stdout, "\ntimes: upstream binaries %s, cluster creation %s, the seed's steps %s, teardown %s; %s in all (kube-proxy %s, method %s)\n",
		seedwalk.FormatElapsed(t.Binaries), seedwalk.FormatElapsed(t.Create), seedwalk.FormatElapsed(t.Steps),
		seedwalk.FormatElapsed(t.Delete), seedwalk.FormatElapsed(t.Total), rep.Record.Facts.KubeProxy, rep.Record.Facts.Method)
	if err != nil {
		return err
	}
	if !ok {
		return cli.Exit(cli.ExitFailed)
	}
	return nil
}
