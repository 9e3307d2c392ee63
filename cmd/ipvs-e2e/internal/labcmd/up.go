package labcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/cachedir"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/seedwalk"
)

// upNodePort is the tutorial's NodePort, forwarded from the same host port.
const upNodePort = 30089

// upFlags is `lab up`: a lab cluster left running for a person (or a suite run against an
// existing cluster) until `lab down`.
type upFlags struct {
	kubeProxy  string
	nodes      int
	mode       string
	timeout    time.Duration
	stateFile  string
	foreground bool
}

func newUpCommand() *cobra.Command {
	return cli.Command(&cobra.Command{
		Use:   "up",
		Short: "Bring a lab cluster up and leave it running (stop it with `lab down`)",
		Long: `Bring a lab cluster up (a real control plane on 127.0.0.1, kube-proxy in a QEMU guest) in a
detached process of its own, wait until its nodes and kube-proxy pods are Ready, print the
KUBECONFIG to use and exit, leaving it running. NodePort 30089 is forwarded from host port
127.0.0.1:30089. Stop it with ` + "`ipvs-e2e lab down`" + ` (make lab-down). One runs at a time.`,
	}, &upFlags{})
}

func (f *upFlags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.kubeProxy, "kube-proxy", lab.DefaultVersion, "kube-proxy to run: an upstream release (built when missing, minutes) or \"reference\" (this project's proxier)")
	fs.IntVar(&f.nodes, "nodes", 1, fmt.Sprintf("node count, 1 to %d (nodes beyond the first are network namespaces of the one guest)", lab.MaxNodes))
	fs.StringVar(&f.mode, "mode", cluster.ModeIPVS, "kube-proxy's mode at creation: ipvs or iptables")
	fs.DurationVar(&f.timeout, "timeout", 25*time.Minute, "bound for the cluster to be ready (a first run builds the upstream release)")
	fs.StringVar(&f.stateFile, "state-file", defaultStateFile(), "where the running cluster is recorded (lab down reads it)")
	fs.BoolVar(&f.foreground, "foreground", false, "hold the cluster in this process until SIGTERM or Ctrl-C instead of a detached one (what the detached process runs)")
}

func (f *upFlags) check() error {
	if f.nodes < 1 || f.nodes > lab.MaxNodes {
		return cli.Usagef("--nodes %d: expected 1 to %d (the nodes share one guest)", f.nodes, lab.MaxNodes)
	}
	if f.mode != cluster.ModeIPVS && f.mode != cluster.ModeIPTables {
		return cli.Usagef("--mode %q: expected %q or %q", f.mode, cluster.ModeIPVS, cluster.ModeIPTables)
	}
	if f.kubeProxy != lab.Reference {
		if _, err := upstream.ParseRelease(f.kubeProxy); err != nil {
			return cli.Usagef("--kube-proxy %q: expected a release such as %s, or %q: %v", f.kubeProxy, lab.DefaultVersion, lab.Reference, err)
		}
	}
	if f.timeout <= 0 {
		return cli.Usagef("--timeout %s: expected a positive duration such as 25m", f.timeout)
	}
	return nil
}

func (f *upFlags) Run(cmd *cobra.Command, _ []string) error {
	if err := f.check(); err != nil {
		return err
	}
	if f.foreground {
		return f.hold(cmd.Context())
	}
	if _, err := removeStale(f.stateFile); err != nil {
		return err
	}
	if err := portFree(upNodePort); err != nil {
		return err
	}
	return f.detach(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
}

// portFree fails when 127.0.0.1:port is taken: the forward to the node would fail.
func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("host port 127.0.0.1:%d is in use (%v), so NodePort %d cannot be forwarded to it: free it (`ss -ltnp 'sport = :%d'` shows who holds it) and run lab up again", port, err, upNodePort, port)
	}
	return l.Close()
}

// detach starts `lab up --foreground` in a session of its own (a terminal's Ctrl-C or
// hang-up does not reach it), follows its log until its state file says ready or failed,
// prints how to use the cluster and returns, leaving it running.
func (f *upFlags) detach(ctx context.Context, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"lab", "up", "--foreground", "--kube-proxy", f.kubeProxy, "--nodes", strconv.Itoa(f.nodes),
		"--mode", f.mode, "--timeout", f.timeout.String(), "--state-file", f.stateFile}
	child := exec.Command(exe, args...)
	// Nothing of this terminal: stdin, stdout and stderr are /dev/null; it logs to its run
	// directory.
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := child.Start(); err != nil {
		return fmt.Errorf("starting the lab-up process: %w", err)
	}
	pid := child.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	slog.Info("lab up: cluster process started; following its log", "pid", pid, "stateFile", f.stateFile)

	start := time.Now()
	// The holder bounds its own start by --timeout; this bounds a holder that hangs.
	deadline := time.NewTimer(f.timeout + 2*time.Minute)
	defer deadline.Stop()
	var follow logFollower
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := readState(f.stateFile)
		if err != nil {
			return err
		}
		mine := st != nil && st.Owner.PID == pid
		if mine {
			follow.path = st.Log
			follow.copyTo(stderr)
		}
		switch {
		case mine && st.Phase == phaseReady:
			printUp(stdout, st, time.Since(start))
			return nil
		case mine && st.Phase == phaseFailed:
			<-exited
			os.Remove(f.stateFile)
			return fmt.Errorf("the cluster did not come up: %s (its log: %s; `ipvs-e2e lab clean --kept` removes its run directories)", st.Error, st.Log)
		}
		select {
		case err := <-exited:
			follow.copyTo(stderr)
			if st, _ := readState(f.stateFile); st != nil && st.Owner.PID == pid {
				os.Remove(f.stateFile)
				if st.Phase == phaseFailed {
					return fmt.Errorf("the cluster did not come up: %s (its log: %s; `ipvs-e2e lab clean --kept` removes its run directories)", st.Error, st.Log)
				}
			}
			return fmt.Errorf("the cluster process (pid %d) exited before the cluster was ready (%v); its log is above", pid, err)
		case <-ctx.Done():
			// Interrupted while waiting: the cluster is not wanted any more.
			slog.Info("lab up: interrupted; stopping the cluster process", "pid", pid)
			syscall.Kill(pid, syscall.SIGTERM)
			<-exited
			follow.copyTo(stderr)
			if st, _ := readState(f.stateFile); st != nil && st.Owner.PID == pid {
				os.Remove(f.stateFile)
			}
			return ctx.Err()
		case <-deadline.C:
			syscall.Kill(pid, syscall.SIGTERM)
			<-exited
			follow.copyTo(stderr)
			return fmt.Errorf("the cluster process (pid %d) neither came up nor failed within --timeout %s and 2 minutes more; stopped it (its log is above)", pid, f.timeout)
		case <-tick.C:
		}
	}
}

// logFollower copies what a log file gained since the last call.
type logFollower struct {
	path   string
	offset int64
}

func (l *logFollower) copyTo(w io.Writer) {
	if l.path == "" {
		return
	}
	fh, err := os.Open(l.path)
	if err != nil {
		return
	}
	defer fh.Close()
	if _, err := fh.Seek(l.offset, io.SeekStart); err != nil {
		return
	}
	n, _ := io.Copy(w, fh)
	l.offset += n
}

func printUp(w io.Writer, st *upState, took time.Duration) {
	version := st.KubeProxy
	if version == lab.Reference {
		version = lab.DefaultVersion
	}
	kubectl := cachedir.Join("upstream", version, "bin", "kubectl")
	fmt.Fprintf(w, "\nlab cluster up in %s: kube-proxy %s, %d node(s), mode %s (pid %d)\n\n", took.Round(time.Second), st.KubeProxy, st.Nodes, st.Mode, st.Owner.PID)
	fmt.Fprintf(w, "  KUBECONFIG: %s (its own admin kubeconfig; ~/.kube/config is not touched)\n\n", st.Kubeconfig)
	fmt.Fprintf(w, "  export KUBECONFIG=%s\n", st.Kubeconfig)
	fmt.Fprintf(w, "  %s get nodes,pods -A\n\n", kubectl)
	fmt.Fprintf(w, "  NodePort %d answers at http://%s once a Service uses it (kubectl apply -f manifests/service-ipvs.yml)\n", upNodePort, st.NodePort)
	fmt.Fprintf(w, "  log: %s\n\n", st.Log)
	fmt.Fprintf(w, "  stop it: make lab-down   (or: ipvs-e2e lab down)\n")
}

// hold is the detached process: it brings the cluster up, records it in the state file,
// and holds it until SIGTERM or Ctrl-C, then deletes it (QEMU and the control plane stopped
// by their PIDs) and removes its run directory and the state file. Killed with SIGKILL, its
// children die with it (hack/lab/rundir) and `ipvs-e2e lab clean` removes its directories.
func (f *upFlags) hold(ctx context.Context) (err error) {
	d, err := rundir.New("labup")
	if err != nil {
		return err
	}
	logPath := filepath.Join(d.Path, "lab-up.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.Remove()
		return err
	}
	defer logf.Close()
	// The detached process's stderr is /dev/null: make it the log, so a panic's trace lands
	// there too. Run by a person, it logs to the terminal and the file.
	var logw io.Writer = io.MultiWriter(os.Stderr, logf)
	if stderrIsNull() {
		if err := syscall.Dup3(int(logf.Fd()), 2, 0); err == nil {
			logw = os.Stderr
		}
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo})))

	self, err := rundir.Self()
	if err != nil {
		d.Remove()
		return err
	}
	st := &upState{Owner: self, Phase: phaseStarting, RunDir: d.Path, Log: logPath,
		NodePort: fmt.Sprintf("127.0.0.1:%d", upNodePort), KubeProxy: f.kubeProxy, Nodes: f.nodes, Mode: f.mode}
	if err := claimState(f.stateFile, st); err != nil {
		d.Remove()
		return err
	}
	fail := func(err error) error {
		if ctx.Err() != nil {
			// Stopped on purpose (lab down, Ctrl-C): nothing to inspect here.
			slog.Info("lab up: stopped before the cluster was ready", "err", err)
			os.Remove(f.stateFile)
			// The provider keeps its run directory on a failed start; stopped on
			// purpose, this one's and the provider's go.
			if _, rerr := rundir.RemoveOwned(os.TempDir()); rerr != nil {
				slog.Warn("lab up: removing the run directories", "err", rerr)
			}
			return err
		}
		slog.Error("lab up: the cluster did not come up", "err", err)
		st.Phase, st.Error = phaseFailed, err.Error()
		d.Keep()
		if werr := writeState(f.stateFile, st); werr != nil {
			slog.Warn("lab up: recording the failure", "err", werr)
		}
		return err
	}

	upCtx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	p, rc, err := lab.Up(upCtx, cluster.Options{KubernetesVersion: f.kubeProxy, ProxyMode: f.mode},
		lab.WithNodes(f.nodes), lab.WithNodePortAt(upNodePort, upNodePort))
	if err != nil {
		return fail(err)
	}
	if err := f.ready(upCtx, p, rc, d.Path, st); err != nil {
		p.KeepRunDir()
		if derr := p.Delete(context.Background()); derr != nil {
			err = errors.Join(err, derr)
		}
		return fail(err)
	}
	slog.Info("lab up: cluster ready; holding it until SIGTERM (`ipvs-e2e lab down`)", "kubeconfig", st.Kubeconfig)

	<-ctx.Done()
	slog.Info("lab up: stopping the cluster")
	st.Phase = phaseStopping
	writeState(f.stateFile, st)
	t := time.Now()
	if err := p.Delete(context.Background()); err != nil {
		d.Keep()
		os.Remove(f.stateFile)
		return fmt.Errorf("deleting the cluster: %w (run directory kept: %s)", err, d.Path)
	}
	slog.Info("lab up: cluster deleted", "took", time.Since(t).Round(100*time.Millisecond))
	os.Remove(f.stateFile)
	return d.Remove()
}

// ready waits for the kube-proxy pods (lab.Up waited for the nodes and kube-proxy's first
// sync), writes the cluster's own admin kubeconfig into the run directory and records the
// cluster as ready.
func (f *upFlags) ready(ctx context.Context, p *lab.Provider, rc *rest.Config, dir string, st *upState) error {
	kc, err := p.Kubeconfig(ctx)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return err
	}
	nodes, err := p.Nodes(ctx)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	if _, err := kubeproxy.WaitForPods(ctx, kubeproxy.Cluster{Client: cs, Nodes: nodes}, nil); err != nil {
		return err
	}
	// The nodes as the tutorial's section 2 leaves them, like a cluster its reader prepared:
	// the IPVS modules of the schedulers it names are loaded, not only kube-proxy's.
	for _, n := range nodes {
		if err := node.Run(ctx, n, "modprobe", append([]string{"-a"}, seedwalk.SeedModules...)...); err != nil {
			return fmt.Errorf("loading the tutorial's modules (section 2): %w", err)
		}
	}
	slog.Info("lab up: the tutorial's section 2 done on every node", "modprobe -a", strings.Join(seedwalk.SeedModules, " "))
	st.Phase, st.Kubeconfig, st.ClusterDir = phaseReady, path, p.RunDir()
	return writeState(f.stateFile, st)
}

func stderrIsNull() bool {
	a, err1 := os.Stderr.Stat()
	b, err2 := os.Stat(os.DevNull)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}
