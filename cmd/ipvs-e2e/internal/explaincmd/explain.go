// Package explaincmd is `ipvs-e2e explain`: what a student pasted from their nodes, read
// leniently (hack/report/explain/paste) and explained line by line against the tutorial
// (hack/report/explain). It lives in the tool binary, not in ipvsdump, because it
// needs the tutorial's checks and a cluster client, which would triple the size of the static
// binary the node inspector's image and the lab guest carry.
package explaincmd

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/existing"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/explain"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/explain/paste"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
)

// listTimeout bounds listing the Services when a kubeconfig is given.
const listTimeout = 30 * time.Second

// connectFunc makes a client of the cluster of a kubeconfig and context; tests give a fake.
type connectFunc func(ctx context.Context, kubeconfig, context string) (kubernetes.Interface, error)

// connectKubeconfig finds the kubeconfig as kubectl does (the file, else KUBECONFIG, else
// ~/.kube/config) through the existing-cluster provider, and connects with cluster.Connect.
func connectKubeconfig(ctx context.Context, kubeconfig, kubeContext string) (kubernetes.Interface, error) {
	p, err := existing.New(cluster.Options{Kubeconfig: kubeconfig, Context: kubeContext})
	if err != nil {
		return nil, err
	}
	_, cs, err := cluster.Connect(ctx, p)
	if err != nil {
		return nil, err
	}
	return cs, nil
}

type flags struct {
	kubeconfig   string
	context      string
	scheduler    string
	serviceCIDRs []string
	connect      connectFunc
}

// NewCommand returns the explain command.
func NewCommand() *cobra.Command { return newCommand(connectKubeconfig) }

func newCommand(connect connectFunc) *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "explain [flags] [FILE|-]",
		Short: "Explain pasted ipvsadm, ip addr, iptables and ipset output line by line against the tutorial",
		Long: `Reads what was pasted from nodes - ipvsadm -Ln, ip addr show kube-ipvs0, iptables -t nat -S
(or iptables-save), ipset list (or ipset save), several at once, from several nodes split
by ">>> node" lines or by their shell prompts - from FILE or standard input, and says line
by line what each virtual server is (a ClusterIP, a NodePort on which address, an external
or load-balancer IP; which Service when a kubeconfig is given), what looks wrong against
the tutorial, and which lines it did not read.`,
		Args: cobra.ArbitraryArgs,
	}, &flags{connect: connect})
}

func (f *flags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster, to name the Service of each virtual server (default: none; the cluster is not asked)")
	fs.StringVar(&f.context, "context", "", "context of the kubeconfig to use (default: its current-context); needs --kubeconfig")
	fs.StringVar(&f.scheduler, "scheduler", explain.DefaultScheduler, "the IPVS scheduler kube-proxy is configured with (ipvs.scheduler)")
	fs.StringSliceVar(&f.serviceCIDRs, "service-cidr", []string{explain.DefaultServiceCIDR.String()}, "the cluster's service CIDRs, comma-separated: an address in one is a ClusterIP")
}

// options checks the flags and arguments before anything is read.
func (f *flags) options(args []string) (explain.Options, error) {
	if len(args) > 1 {
		return explain.Options{}, cli.Usagef("expected one FILE (or - for standard input); found %d arguments: %s", len(args), strings.Join(args, " "))
	}
	if !slices.Contains(ipvs.KernelSchedulers, f.scheduler) {
		return explain.Options{}, cli.Usagef("--scheduler %q: expected one of the kernel's schedulers (%s)", f.scheduler, strings.Join(ipvs.KernelSchedulers, ", "))
	}
	opts := explain.Options{Scheduler: f.scheduler}
	for _, c := range f.serviceCIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return explain.Options{}, cli.Usagef("--service-cidr %q: expected CIDRs such as 10.96.0.0/12,fd00:10:96::/112: %v", c, err)
		}
		opts.ServiceCIDRs = append(opts.ServiceCIDRs, p.Masked())
	}
	if f.context != "" && f.kubeconfig == "" {
		return explain.Options{}, cli.Usagef("--context %q needs --kubeconfig: without a kubeconfig the cluster is not asked", f.context)
	}
	return opts, nil
}

func (f *flags) Run(cmd *cobra.Command, args []string) error {
	opts, err := f.options(args)
	if err != nil {
		return err
	}
	in, name := cmd.InOrStdin(), "standard input"
	if len(args) == 1 && args[0] != "-" {
		file, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer file.Close()
		in, name = file, args[0]
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if f.kubeconfig != "" {
		ctx, cancel := context.WithTimeout(cmd.Context(), listTimeout)
		defer cancel()
		c, err := f.connect(ctx, f.kubeconfig, f.context)
		if err == nil {
			opts.Services, err = explain.ListServices(ctx, c)
		}
		if err != nil {
			return err
		}
	}
	p := paste.Read(string(data))
	if len(p.Nodes) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "ipvs-e2e explain: %s holds no output of ipvsadm -Ln, ip addr, iptables or ipset (%d lines read)\n", name, len(p.Lines))
	}
	if err := explain.Explain(p, opts).Write(cmd.OutOrStdout()); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}
