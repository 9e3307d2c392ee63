// Command ipvs-nodeagent plays the kubelet's part on the lab cluster's nodes: the kernel
// lab guest, which has no container runtime. It is not a kubelet and does not pretend to
// be one beyond what the suites need:
//
//   - it registers the Node (InternalIP, podCIDR from the controller manager) and keeps it
//     Ready; no scheduler runs, so the first node's agent binds unscheduled Pods to a node
//     that fits their nodeSelector and required node affinity, the least busy one;
//   - it "runs" a Pod as a network namespace with a veth and an address from the node's
//     podCIDR, answering like agnhost netexec on each container port, whatever the image
//     (none is pulled): HTTP /hostname (and any path) with the Pod's name, /dial (HTTP and
//     UDP, from inside the pod), /clientip, /echo, /healthz, /readyz; UDP "hostname",
//     "echo", "clientip". It reports the Pod Running and Ready;
//   - a deleted Pod terminates as a kubelet would: its "process" gets SIGTERM (/readyz
//     turns 503, so a Pod with a readiness probe turns unready and its endpoint
//     terminating), keeps serving for netexec's --delay-shutdown within the grace period,
//     then the agent deletes the Pod object and tears the namespace down;
//   - host-network Pods of kube-proxy (the kube-proxy DaemonSet's pods and the one-off
//     `kube-proxy --cleanup` pods) run their command as a child process, with the Pod's
//     ConfigMap volumes written where they are mounted, so the kube-proxy ConfigMap works
//     exactly as on a kubeadm node: edit it and delete the pod to restart kube-proxy. The
//     image decides the binary, as on a real node: upstream kube-proxy's image runs
//     --kube-proxy, the reference proxier's (manifests.ProxierImage) runs --ipvs-proxier,
//     so swapping the DaemonSet's image swaps the proxy live (runtime.go, hostProcess);
//   - host-network Pods whose command is ipvsdump (the node inspector's DaemonSet, `ipvsdump
//     serve`) run --ipvsdump as a child process, hostPath mount paths in their arguments
//     turned into the node's paths, Ready while their httpGet readiness probe answers;
//   - with --proxy-listen it serves a proxy (SOCKS5 and HTTP, fwdproxy.go) for the host's
//     kube-apiserver only, so pods/proxy and services/proxy reach the guest's addresses;
//   - with --workers=N it makes N more nodes in the same guest, each a network namespace
//     (own IPVS, iptables, ipsets, kube-ipvs0, sysctls) on a bridged node network with its
//     own agent process and kube-proxy (nodes.go);
//   - it serves, over TLS, container logs at the kubelet's /containerLogs path (the
//     apiserver's `kubectl logs` reaches it through a host port forward) and, with a bearer
//     token, command execution and file upload for the framework's node.Node, for its own
//     node and (agentapi.NodesPath) the further ones.
//
// Invoked as "curl" (a symlink the agent makes), it is a minimal curl for the suites'
// `curl -sS --fail --max-time N URL` probes; the guest has no curl.
//
// It is a guest program of its own, not an ipvs-e2e subcommand: framework/cluster/lab ships
// it into the guest as /usr/local/bin/ipvs-nodeagent, it answers as curl by its argv[0] and
// re-executes itself for the further nodes, none of which the host tool should carry.
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
