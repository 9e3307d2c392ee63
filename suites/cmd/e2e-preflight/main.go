// Command e2e-preflight runs, in a second and before anything is built or created, the
// checks the suites' kind provider runs before creating a cluster: a Docker engine that
// answers, and IPVS in the host kernel the kind nodes share. `make e2e` calls it first, so
// on a machine without Docker it stops at once and says why.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/preflight"
)

func main() {
	schedulers := flag.String("schedulers", "rr,wrr,sh", "IPVS schedulers whose kernel modules the run needs (comma-separated)")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := preflight.ForKind(ctx, preflight.Host{}, runtime.GOOS, strings.Split(*schedulers, ",")...)
	if err := r.Err(); err != nil {
		for _, w := range r.Warnings {
			fmt.Fprintf(os.Stderr, "preflight warning: %s\n", w)
		}
		fmt.Fprintf(os.Stderr, "%v\n", err)
		fmt.Fprintln(os.Stderr, "make e2e: stopped before building the suites or creating a cluster.")
		os.Exit(1)
	}
	fmt.Print(r.String())
}
