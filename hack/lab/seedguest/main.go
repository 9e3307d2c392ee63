// Command seedguest runs inside a kernel lab guest (hack/lab/kernellab) and times the
// reference IPVS proxier (proxy.New) on the guest's real kernel:
//
//	seedguest bench -n N [--cpuprofile F]    the proxier's full sync of N Services x 2
//	                                        endpoints and one endpoint change, fed by
//	                                        client-go's fake clientset instead of an API server
//
// hack/lab/scenario builds it, runs it and reads its result line (make bench-lab).
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
