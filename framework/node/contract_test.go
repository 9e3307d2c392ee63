package node_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/internal/contract"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// TestFakeKeepsTheNodeContract scripts the fake the way a node's shell answers the
// contract's commands; the fake's own plumbing (stdout and stderr, stdin, environment,
// exit codes, cancelled contexts, copied files) must do the rest.
func TestFakeKeepsTheNodeContract(t *testing.T) {
	f := node.NewFake("fake-worker").
		Script("sh -c echo out; echo err >&2", node.Response{Stdout: "out\n", Stderr: "err\n"}).
		Script("sh -c echo why >&2; exit 3", node.Response{Stderr: "why\n", ExitCode: 3}).
		Stdout("rm -rf "+contract.Dir, "")
	f.Handle(func(c node.Call) (node.Response, bool) {
		switch c.Line() {
		case "cat":
			return node.Response{Stdout: string(c.Stdin)}, true
		case "sh -c echo $IPVS_E2E_CONTRACT":
			for _, e := range c.Env {
				if v, ok := strings.CutPrefix(e, "IPVS_E2E_CONTRACT="); ok {
					return node.Response{Stdout: v + "\n"}, true
				}
			}
			return node.Response{Stdout: "\n"}, true
		case "sh -c " + contract.CheckCopied:
			file, ok := f.File(contract.CopiedPath)
			if !ok || file.Mode&fs.FileMode(0o111) == 0 {
				return node.Response{ExitCode: 1}, true
			}
			return node.Response{Stdout: string(file.Content)}, true
		}
		return node.Response{}, false
	})
	contract.Node(t, f)
}
