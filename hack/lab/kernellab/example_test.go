package kernellab_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

// A scripted scenario: start a program in the background, then read the node's state with
// one command per view, each captured on its own.
func ExampleLab_Run() {
	ctx := context.Background()
	l, err := kernellab.Prepare(ctx, kernellab.Options{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := l.Run(ctx, kernellab.Job{
		Name:  "seed",
		Files: []kernellab.File{{Path: "/lab/bin/ipvs-proxier", Source: "bin/ipvs-proxier", Mode: 0o755}},
		Commands: []kernellab.Command{
			{Name: "proxier", Shell: "/lab/bin/ipvs-proxier --kubeconfig /lab/kubeconfig >/tmp/proxier.log 2>&1 & sleep 10"},
			{Name: "ipvs", Args: []string{"ipvsadm", "-Ln"}},
			{Name: "addresses", Args: []string{"ip", "addr", "show", "kube-ipvs0"}},
			{Name: "nodeport rules", Args: []string{"iptables", "-t", "nat", "-S", "KUBE-NODE-PORT"}},
			{Name: "proxier log", Args: []string{"cat", "/tmp/proxier.log"}},
		},
		Network: &kernellab.Network{}, // the guest reaches an API server on the host's loopback as 10.0.2.2
		Timeout: 5 * time.Minute,
	})
	if err != nil {
		log.Fatal(err) // the guest failed as a whole: no IPVS, timeout, QEMU error
	}
	if c := res.Failed(); c != nil {
		log.Fatalf("%s exited %d:\n%s", c.Name, c.ExitCode, c.Output)
	}
	fmt.Print(res.Output("ipvs"))
}
