package kind

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// kindNode is a kind node container as a node.Node. kind's nodes.Node already runs
// commands through `docker exec`; this adapts its exec.Cmd to node.Cmd and adds CopyFile.
type kindNode struct{ n nodes.Node }

// NewNode adapts a kind node.
func NewNode(n nodes.Node) node.Node { return kindNode{n} }

func (k kindNode) Name() string { return k.n.String() }

func (k kindNode) Command(ctx context.Context, name string, args ...string) node.Cmd {
	return &kindCmd{k.n.CommandContext(ctx, name, args...)}
}

// CopyFile streams the file into the container through `cp /dev/stdin`, the way kind
// writes files into nodes itself: no docker CLI or archive needed, and it works on any
// runtime kind supports.
func (k kindNode) CopyFile(ctx context.Context, hostPath, nodePath string) error {
	f, err := os.Open(hostPath)
	if err != nil {
		return fmt.Errorf("copy to node %s: %w", k.Name(), err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("copy to node %s: %w", k.Name(), err)
	}
	if err := node.Run(ctx, k, "mkdir", "-p", path.Dir(nodePath)); err != nil {
		return err
	}
	if err := k.Command(ctx, "cp", "/dev/stdin", nodePath).SetStdin(f).Run(); err != nil {
		return fmt.Errorf("copy %s to node %s:%s: %w", hostPath, k.Name(), nodePath, err)
	}
	return node.Run(ctx, k, "chmod", fmt.Sprintf("%o", info.Mode().Perm()), nodePath)
}

type kindCmd struct{ c kindexec.Cmd }

func (c *kindCmd) Run() error                     { return c.c.Run() }
func (c *kindCmd) SetEnv(env ...string) node.Cmd  { c.c.SetEnv(env...); return c }
func (c *kindCmd) SetStdin(r io.Reader) node.Cmd  { c.c.SetStdin(r); return c }
func (c *kindCmd) SetStdout(w io.Writer) node.Cmd { c.c.SetStdout(w); return c }
func (c *kindCmd) SetStderr(w io.Writer) node.Cmd { c.c.SetStderr(w); return c }
