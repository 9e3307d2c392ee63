// Command seedguest runs inside a kernel lab guest (hack/lab/kernellab) and plays the parts of a
// one-node cluster that the lab has no binaries for, so that the seed tutorial's commands
// can be typed as the tutorial types them:
//
//	seedguest node [kube-proxy flags]       the node: an API object store (client-go's fake
//	                                        clientset, standing in for the API server), a
//	                                        "kubelet" that runs each Pod as a network namespace
//	                                        with an HTTP server, an EndpointSlice controller,
//	                                        and the reference IPVS proxier (proxy.New) on top
//	seedguest kubectl apply -f FILE         talk to that store over /run/seedlab.sock
//	seedguest kubectl get pods|svc [-o wide]
//	seedguest wait-vs PROTO VIP:PORT RIP:PORT   wait until the kernel's IPVS table has the real server
//	seedguest wait-synced [-pidfile F]      wait for the node's proxier to finish its first sync
//	seedguest curl URL                      an HTTP GET (the guest has no curl)
//	seedguest bench -n N [--cpuprofile F]    time the proxier's full sync of N Services x 2
//	                                        endpoints and one endpoint change, in this guest
//
// Everything that reaches the kernel is real: IPVS, kube-ipvs0, ipsets, iptables, the pod's
// veth and the traffic. Only the API server is not: see hack/lab/scenario.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  seedguest node [--lab-socket PATH] [--lab-log FILE] [kube-proxy flags: --config, --hostname-override, --cluster-cidr, ...]
  seedguest kubectl apply -f FILE
  seedguest kubectl get pods|services [-o wide]
  seedguest wait-vs [-timeout D] PROTO VIP:PORT RIP:PORT
  seedguest wait-synced [-timeout D] [-pidfile FILE]
  seedguest curl [-m D] URL
  seedguest bench -n N [--changes K] [--cpuprofile FILE] [kube-proxy flags]
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "node":
		err = nodeCmd(ctx, args[1:], stderr)
	case "kubectl":
		err = kubectlCmd(ctx, args[1:], stdout)
	case "wait-vs":
		err = waitVSCmd(ctx, args[1:], stdout)
	case "wait-synced":
		err = waitSyncedCmd(ctx, args[1:], stdout)
	case "curl":
		err = curlCmd(ctx, args[1:], stdout)
	case "bench":
		err = benchCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "seedguest: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "seedguest %s: %v\n", args[0], err)
		if _, ok := err.(usageError); ok {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a mistake in the command line (exit status 2).
type usageError string

func (e usageError) Error() string { return string(e) }
