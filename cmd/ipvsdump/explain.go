package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/existing"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/paste"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/explain"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
)

const explainUsage = `Usage: ipvsdump explain [--kubeconfig FILE] [--context NAME] [--scheduler S] [--service-cidr CIDR[,CIDR]] [FILE|-]

Reads what was pasted from nodes - ipvsadm -Ln, ip addr show kube-ipvs0, iptables -t nat -S
(or iptables-save), ipset list (or ipset save), several at once, from several nodes split
by ">>> node" lines or by their shell prompts - from FILE or standard input, and says line
by line what each virtual server is (a ClusterIP, a NodePort on which address, an external
or load-balancer IP; which Service when a kubeconfig is given), what looks wrong against
the tutorial, and which lines it did not read.

Flags:
`

// explainTimeout bounds listing the Services when a kubeconfig is given.
const explainTimeout = 30 * time.Second

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

// explainMain is `ipvsdump explain`: it returns the exit code.
func explainMain(args []string, stdin io.Reader, stdout, stderr io.Writer, connect connectFunc) int {
	fs := flag.NewFlagSet("ipvsdump explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), explainUsage)
		fs.PrintDefaults()
	}
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster, to name the Service of each virtual server (default: none; the cluster is not asked)")
	kubeContext := fs.String("context", "", "context of the kubeconfig to use (default: its current-context); needs --kubeconfig")
	scheduler := fs.String("scheduler", explain.DefaultScheduler, "the IPVS scheduler kube-proxy is configured with (ipvs.scheduler)")
	cidrs := fs.String("service-cidr", explain.DefaultServiceCIDR.String(), "the cluster's service CIDRs, comma-separated: an address in one is a ClusterIP")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ipvsdump explain: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 1 {
		return usage("expected one FILE (or - for standard input); found %d arguments: %s", fs.NArg(), strings.Join(fs.Args(), " "))
	}
	if !slices.Contains(ipvs.KernelSchedulers, *scheduler) {
		return usage("--scheduler %q: expected one of the kernel's schedulers (%s)", *scheduler, strings.Join(ipvs.KernelSchedulers, ", "))
	}
	opts := explain.Options{Scheduler: *scheduler}
	for _, c := range strings.Split(*cidrs, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return usage("--service-cidr %q: expected CIDRs such as 10.96.0.0/12,fd00:10:96::/112: %v", *cidrs, err)
		}
		opts.ServiceCIDRs = append(opts.ServiceCIDRs, p.Masked())
	}
	if *kubeContext != "" && *kubeconfig == "" {
		return usage("--context %q needs --kubeconfig: without a kubeconfig the cluster is not asked", *kubeContext)
	}

	in, name := stdin, "standard input"
	if f := fs.Arg(0); f != "" && f != "-" {
		file, err := os.Open(f)
		if err != nil {
			fmt.Fprintf(stderr, "ipvsdump explain: %v\n", err)
			return exitRead
		}
		defer file.Close()
		in, name = file, f
	}
	data, err := io.ReadAll(in)
	if err != nil {
		fmt.Fprintf(stderr, "ipvsdump explain: reading %s: %v\n", name, err)
		return exitRead
	}

	if *kubeconfig != "" {
		ctx, cancel := context.WithTimeout(context.Background(), explainTimeout)
		defer cancel()
		c, err := connect(ctx, *kubeconfig, *kubeContext)
		if err == nil {
			opts.Services, err = explain.ListServices(ctx, c)
		}
		if err != nil {
			fmt.Fprintf(stderr, "ipvsdump explain: %v\n", err)
			return exitRead
		}
	}
	p := paste.Read(string(data))
	if len(p.Nodes) == 0 {
		fmt.Fprintf(stderr, "ipvsdump explain: %s holds no output of ipvsadm -Ln, ip addr, iptables or ipset (%d lines read)\n", name, len(p.Lines))
	}
	if err := explain.Explain(p, opts).Write(stdout); err != nil {
		fmt.Fprintf(stderr, "ipvsdump explain: writing output: %v\n", err)
		return exitRead
	}
	return exitOK
}
