package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/controlplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
)

func controlPlaneCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("controlplane needs a subcommand: up or down")
	}
	defaultRunDir := filepath.Join(upstream.DefaultCacheDir(), "controlplane")
	switch args[0] {
	case "up":
		fs := newFlagSet("controlplane up", stderr)
		version := fs.String("version", DefaultVersion, "Kubernetes release (built first when not cached)")
		runDir := fs.String("run-dir", defaultRunDir, "folder for PKI, kubeconfigs, logs and etcd data")
		detach := fs.Bool("detach", false, "leave the control plane running and return; stop it with `controlplane down`")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return controlPlaneUp(ctx, *version, *runDir, *detach, stdout)
	case "down":
		fs := newFlagSet("controlplane down", stderr)
		runDir := fs.String("run-dir", defaultRunDir, "the run folder of the control plane to stop")
		grace := fs.Duration("grace", 10*time.Second, "time between SIGTERM and SIGKILL")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return controlplane.StopRecorded(*runDir, *grace, func(s string) { slog.Info(s) })
	default:
		return fmt.Errorf("unknown controlplane subcommand %q: want up or down", args[0])
	}
}

func controlPlaneUp(ctx context.Context, version, runDir string, detach bool, stdout io.Writer) error {
	p, err := upstream.Build(ctx, upstream.Options{
		Version:    version,
		Components: []string{upstream.Etcd, upstream.KubeAPIServer, upstream.KubeControllerManager, upstream.Kubectl},
	})
	if err != nil {
		return err
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Binaries: controlplane.Binaries{
			Etcd:                  p.Binary(upstream.Etcd),
			KubeAPIServer:         p.Binary(upstream.KubeAPIServer),
			KubeControllerManager: p.Binary(upstream.KubeControllerManager),
		},
		RunDir:   runDir,
		Detached: detach,
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
	if detach {
		fmt.Fprintf(stdout, "stop it with: ipvs-upstream controlplane down -run-dir %s\n", cp.RunDir)
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
