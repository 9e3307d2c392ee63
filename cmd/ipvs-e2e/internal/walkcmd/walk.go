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
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	clusterlab "github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node/inspector"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/seedwalk"
)

type flags struct {
	kubeProxy string
	method    string
	save      string
	lang      string
	replay    string
	worksheet string

	// A cluster the project did not create (--cluster existing).
	cluster         string
	kubeconfig      string
	kubeContext     string
	inspectorImage  string
	nodePortAddress string
	allowDisruptive bool
	kubectl         string
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
IPVS_E2E_LAB_KEEP=1 (see hack/lab/kernellab).

With --cluster existing it walks your own cluster instead (kubeadm, staging, classroom),
found as kubectl finds it (--kubeconfig, KUBECONFIG, --context) and never created or deleted:
read-only (the modules on every node, kube-proxy's ConfigMap, mode and log, then the seed's
Pod and Service in a namespace of the walk's own, every node's IPVS table, kube-ipvs0 and
KUBE-NODE-PORT through the node inspector, traffic), the ConfigMap switch only with
--allow-disruptive --method configmap (restored at the end). The inspector's image must be
pushed where the cluster pulls from (make inspector-image; --inspector-image).

--lang zh prints the headings (the seed's own section numbers and headings), the explanations
and the verdicts in Chinese; commands and their outputs are never translated. The default
follows LC_ALL, then LANG: Chinese when it starts with zh, English otherwise.

--replay DIR prints a walk recorded with --save DIR instead of running one, and judges it;
--worksheet DIR writes the walk (run or replayed) as a Markdown worksheet a teacher can hand
out, worksheet.en.md and worksheet.zh.md (only the --lang one when --lang is given).`,
	}, &flags{})
}

func (f *flags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeProxy, "kube-proxy", clusterlab.DefaultVersion, "upstream release run as kube-proxy and control plane, or \"reference\" (the reference proxier)")
	fs.StringVar(&f.method, "method", "", "how kube-proxy gets to ipvs: configmap (the seed's method 2; default for upstream) or creation (method 1; default and only choice for reference)")
	fs.StringVar(&f.save, "save", "", "write the walk's record (facts and each step's output) to this folder")
	fs.StringVar(&f.lang, "lang", "", "language of the headings, explanations and verdicts: en or zh (default: zh when LC_ALL or LANG starts with zh, else en)")
	fs.StringVar(&f.replay, "replay", "", "print and judge the lab walk recorded in this folder (--save) instead of running one")
	fs.StringVar(&f.worksheet, "worksheet", "", "write the walk as a Markdown worksheet into this folder (worksheet.<lang>.md)")
	fs.StringVar(&f.cluster, "cluster", "lab", "lab (a lab cluster the walk creates) or existing (your cluster, through the node inspector)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "--cluster existing: the kubeconfig file (default: KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.kubeContext, "context", "", "--cluster existing: the kubeconfig context (default: its current-context)")
	fs.StringVar(&f.inspectorImage, "inspector-image", os.Getenv(inspector.ImageEnv), "--cluster existing: the node inspector's image (default $"+inspector.ImageEnv+")")
	fs.StringVar(&f.nodePortAddress, "nodeport-address", os.Getenv("IPVS_E2E_NODEPORT_ADDRESS"), "--cluster existing: where this machine reaches NodePorts (default: the first node's InternalIP)")
	fs.BoolVar(&f.allowDisruptive, "allow-disruptive", false, "--cluster existing: allow --method configmap to edit the kube-proxy ConfigMap (restored at the end)")
	fs.StringVar(&f.kubectl, "kubectl", "", "--cluster existing: the kubectl to type the host's commands with (default: kubectl on PATH)")
}

// existingFlags are the flags of --cluster existing, refused with --cluster lab.
var existingFlags = []string{"kubeconfig", "context", "inspector-image", "nodeport-address", "allow-disruptive", "kubectl"}

// runExisting walks a cluster the project did not create.
func (f *flags) runExisting(cmd *cobra.Command) error {
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	if cmd.Flags().Changed("kube-proxy") {
		return &cli.UsageError{Err: errors.New("--kube-proxy is the lab's: an existing cluster's kube-proxy is what its DaemonSet runs")}
	}
	if f.worksheet != "" || f.replay != "" {
		return &cli.UsageError{Err: errors.New("--worksheet and --replay are for lab walks: a walk of an existing cluster runs its node steps on every node")}
	}
	l, err := f.language(cmd)
	if err != nil {
		return err
	}
	opts := seedwalk.ExistingOptions{Common: seedwalk.Common{Method: f.method, Out: stdout, Lang: l}, Kubectl: f.kubectl, Cluster: cluster.Options{
		Kubeconfig: f.kubeconfig, Context: f.kubeContext, InspectorImage: f.inspectorImage,
		NodePortAddress: f.nodePortAddress, AllowDisruptive: f.allowDisruptive}}
	if err := opts.Validate(); err != nil {
		return &cli.UsageError{Err: err}
	}
	rep, err := seedwalk.WalkExisting(ctx, opts)
	return f.finish(cmd, l, rep, err, func(t seedwalk.Timings) string {
		return fmt.Sprintf("inspector up %s, the seed's steps %s, clean-up %s",
			seedwalk.FormatElapsed(t.Create), seedwalk.FormatElapsed(t.Steps), seedwalk.FormatElapsed(t.Delete))
	})
}

func (f *flags) Run(cmd *cobra.Command, _ []string) error {
	switch f.cluster {
	case "existing":
		return f.runExisting(cmd)
	case "lab":
		for _, name := range existingFlags {
			if cmd.Flags().Changed(name) {
				return &cli.UsageError{Err: fmt.Errorf("--%s goes with --cluster existing", name)}
			}
		}
	default:
		return &cli.UsageError{Err: fmt.Errorf("--cluster %q: expected lab (a lab cluster the walk creates) or existing (your cluster)", f.cluster)}
	}
	l, err := f.language(cmd)
	if err != nil {
		return err
	}
	if f.replay != "" {
		return f.runReplay(cmd, l)
	}
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	opts := seedwalk.Options{KubeProxy: f.kubeProxy, Common: seedwalk.Common{Method: f.method, Out: stdout, Lang: l}}
	if err := opts.Validate(); err != nil {
		return &cli.UsageError{Err: err}
	}
	rep, err := seedwalk.Walk(ctx, opts)
	return f.finish(cmd, l, rep, err, func(t seedwalk.Timings) string {
		return fmt.Sprintf("upstream binaries %s, cluster creation %s, the seed's steps %s, teardown %s",
			seedwalk.FormatElapsed(t.Binaries), seedwalk.FormatElapsed(t.Create), seedwalk.FormatElapsed(t.Steps), seedwalk.FormatElapsed(t.Delete))
	})
}

// finish judges a walk that ran (in full or part way), saves its record when asked and
// prints its times: its phases (worded by phases; a replay has none), the total and what
// ran. The exit status says whether every check passed; a walk that never started (no
// report) returns its error.
func (f *flags) finish(cmd *cobra.Command, l lang.Lang, rep *seedwalk.Report, err error, phases func(seedwalk.Timings) string) error {
	if rep == nil {
		return err
	}
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	if err != nil {
		// The walk stopped part way (Ctrl-C, a lost node): judge what it showed, then fail.
		fmt.Fprintf(stdout, "\n%s\n", l.Sprintf(lang.WalkStopped, err))
	}
	if f.save != "" {
		if serr := rep.Record.Save(f.save); serr != nil {
			return errors.Join(err, serr)
		}
	}
	ok := false
	if ctx.Err() == nil {
		ok = tutorial.Print(stdout, l, seedwalk.Judge(rep.Record))
		if werr := f.writeWorksheets(cmd, l, rep.Record); werr != nil {
			return errors.Join(err, werr)
		}
	}
	if phases != nil {
		fmt.Fprintf(stdout, "\ntimes: %s; %s in all (kube-proxy %s, method %s)\n", phases(rep.Timings),
			seedwalk.FormatElapsed(rep.Timings.Total), rep.Record.Facts.KubeProxy, rep.Record.Facts.Method)
	}
	if err != nil {
		return err
	}
	if !ok {
		return cli.Exit(cli.ExitFailed)
	}
	return nil
}

// language is --lang when given (validated), else the locale's (LC_ALL, LANG).
func (f *flags) language(cmd *cobra.Command) (lang.Lang, error) {
	if !cmd.Flags().Changed("lang") {
		return lang.FromEnv(os.Getenv), nil
	}
	l, err := lang.Parse(f.lang)
	if err != nil {
		return "", &cli.UsageError{Err: fmt.Errorf("--lang: %w", err)}
	}
	return l, nil
}

// runReplay prints and judges a recorded lab walk.
func (f *flags) runReplay(cmd *cobra.Command, l lang.Lang) error {
	for _, name := range []string{"kube-proxy", "method", "save"} {
		if cmd.Flags().Changed(name) {
			return &cli.UsageError{Err: fmt.Errorf("--%s goes with a walk that runs, not with --replay (the record says what ran)", name)}
		}
	}
	rec, err := seedwalk.Load(f.replay)
	if err != nil {
		return &cli.UsageError{Err: fmt.Errorf("--replay %s: expected a folder written by --save (make lab LAB_SAVE=DIR): %w", f.replay, err)}
	}
	if err := seedwalk.Replay(cmd.OutOrStdout(), l, rec); err != nil {
		return &cli.UsageError{Err: fmt.Errorf("--replay %s: %w", f.replay, err)}
	}
	return f.finish(cmd, l, &seedwalk.Report{Record: rec}, nil, nil)
}

// writeWorksheets writes the walk's worksheet in the --lang language, or in both when
// --lang was not given, into the --worksheet folder.
func (f *flags) writeWorksheets(cmd *cobra.Command, l lang.Lang, rec seedwalk.Record) error {
	if f.worksheet == "" {
		return nil
	}
	langs := lang.All
	if cmd.Flags().Changed("lang") {
		langs = []lang.Lang{l}
	}
	if err := os.MkdirAll(f.worksheet, 0o755); err != nil {
		return err
	}
	for _, wl := range langs {
		var b bytes.Buffer
		if err := seedwalk.WriteWorksheet(&b, wl, rec); err != nil {
			return err
		}
		path := filepath.Join(f.worksheet, "worksheet."+string(wl)+".md")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "worksheet: %s\n", path)
	}
	return nil
}
