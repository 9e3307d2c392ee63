// Package benchcmd is `ipvs-e2e bench`. Its cluster command measures the reference proxier
// and upstream kube-proxy side by side in the lab cluster (framework/cluster/lab): for each N,
// a fresh cluster per proxy, the same burst of N Services x 2 endpoints, the same one-endpoint
// change and, at the Ns of --churn-n, the same churn of endpoint changes (network programming
// latency), measured from the outside by hack/report/clusterbench. It writes cluster-table.txt,
// cluster-results.json, the raw outputs behind them and a CPU profile of the reference
// proxier at the largest N. Its lab command times the proxier alone in the lab guest
// (cmd/ipvs-e2e/internal/scenariocmd).
//
//	ipvs-e2e bench cluster -n 100,1000 --upstream v1.37.2 --out _out/bench
//	ipvs-e2e bench lab -n 100,1000 --out _out/bench
package benchcmd

import (
	"github.com/spf13/cobra"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/scenariocmd"
)

// NewCommand returns the bench command.
func NewCommand() *cobra.Command {
	return cli.Group(&cobra.Command{
		Use:   "bench",
		Short: "Measure the proxies: side by side in the lab cluster, or the reference proxier alone in the lab guest",
	},
		cli.Command(&cobra.Command{Use: "cluster", Short: "Measure the reference proxier and upstream kube-proxy side by side in fresh lab clusters"}, &clusterFlags{}),
		scenariocmd.NewBenchCommand(),
	)
}
