package upstreamcmd

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/controlplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
)

func defaultRunDir() string { return filepath.Join(upstream.DefaultCacheDir(), "controlplane") }

// upFlags is `upstream controlplane up`: it runs a control plane until Ctrl-C, or detached.
type upFlags struct {
	version release
	source  source
	runDir  string
	detach  bool
}

func (f *upFlags) Bind(fs *pflag.FlagSet) {
	f.version.bind(fs, "Kubernetes release (downloaded or built first when not cached)")
	f.source.bind(fs)
	fs.StringVar(&f.runDir, "run-dir", defaultRunDir(), "folder for PKI, kubeconfigs, logs and etcd data")
	fs.BoolVar(&f.detach, "detach", false, "leave the control plane running and return; stop it with controlplane down")
}

func (f *upFlags) Run(cmd *cobra.Command, _ []string) error {
	ctx, stdout := cmd.Context(), cmd.OutOrStdout()
	p, err := upstream.Build(ctx, upstream.Options{
		Version:    string(f.version),
		Components: []string{upstream.Etcd, upstream.KubeAPIServer, upstream.KubeControllerManager, upstream.Kubectl},
		Source:     upstream.Source(f.source),
	})
	if err != nil {
		return err
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Binaries: controlplane.UpstreamBinaries(p),
		RunDir:   f.runDir,
		Detached: f.detach,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "control plane %s up in %s\n", p.Release, cp.RunDir)
	for _, proc := range cp.Processes() {
		fmt.Fprintf(stdout, "  %-24s pid %-7d log %s\n", proc.Name, proc.PID, proc.LogFile)
	}
	fmt.Fprintf(stdout, "export KUBECONFIG=%s\nexport PATH=%s:$PATH   # kubectl %s\n", cp.AdminKubeconfig, p.BinDir, p.Release)
	fmt.Fprintf(stdout, "kube-proxy kubeconfig for a lab guest: %s (server %s)\n", cp.KubeProxyKubeconfig, cp.GuestAPIServerURL)
	if f.detach {
		fmt.Fprintf(stdout, "stop it with: ipvs-e2e upstream controlplane down --run-dir %s\n", cp.RunDir)
		return nil
	}
	fmt.Fprintln(stdout, "Ctrl-C stops it.")
	<-cp.Done()
	stopErr := cp.Stop()
	if err := cp.Err(); err != nil {
		return err
	}
	return stopErr
}

// downFlags is `upstream controlplane down`: it stops a detached control plane.
type downFlags struct {
	runDir string
	grace  time.Duration
}

func (f *downFlags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.runDir, "run-dir", defaultRunDir(), "the run folder of the control plane to stop")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL")
}

func (f *downFlags) Run(*cobra.Command, []string) error {
	return controlplane.StopRecorded(f.runDir, f.grace, func(s string) { slog.Info(s) })
}
