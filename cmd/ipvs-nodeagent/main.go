// Command ipvs-nodeagent plays the kubelet's part on the lab cluster's one node: the kernel
// lab guest, which has no container runtime. It is not a kubelet and does not pretend to
// be one beyond what the suites need:
//
//   - it registers the Node (InternalIP, podCIDR from the controller manager) and keeps it
//     Ready; no scheduler runs, so it binds unscheduled Pods to its node as one would;
//   - it "runs" a Pod as a network namespace with a veth and an address from the node's
//     podCIDR, with an HTTP server answering with the Pod's name on each container port
//     (any image is accepted; none is pulled), and reports it Running and Ready;
//   - host-network Pods whose command is kube-proxy (the kube-proxy DaemonSet's pods and the
//     one-off `kube-proxy --cleanup` pods) run that command as a child process, with the
//     Pod's ConfigMap volumes written where they are mounted, so the kube-proxy ConfigMap
//     works exactly as on a kubeadm node: edit it and delete the pod to restart kube-proxy;
//   - it serves, over TLS, container logs at the kubelet's /containerLogs path (the
//     apiserver's `kubectl logs` reaches it through a host port forward) and, with a bearer
//     token, command execution and file upload for the framework's node.Node.
//
// Invoked as "curl" (a symlink the agent makes), it is a minimal curl for the suites'
// `curl -sS --fail --max-time N URL` probes; the guest has no curl.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	if filepath.Base(os.Args[0]) == "curl" {
		os.Exit(curlMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	var cfg agentConfig
	fs := flag.NewFlagSet("ipvs-nodeagent", flag.ExitOnError)
	cfg.bind(fs)
	fs.Parse(os.Args[1:])
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "ipvs-nodeagent: %v\n", err)
		os.Exit(1)
	}
}
