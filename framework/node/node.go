// Package node is the one way the framework touches a cluster node: run a command on it and
// copy a file into it. A kind node (a container), a kernel-lab guest and, later, a real host
// all implement Node, so everything built on it (reading the dataplane, collecting
// artifacts, asking kube-proxy for its mode) works on every provider. ReadState is the
// one way to read a node's dataplane into a dataplane.State; the suite harness and the
// kubeproxy package read through it. Fake, beside it, scripts command outputs for unit
// tests.
package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// Node is a machine of the cluster under test.
type Node interface {
	// Name is the node's Kubernetes name (kind names its containers after the nodes).
	Name() string
	// Command prepares a command to run on the node; nothing runs until Run.
	Command(ctx context.Context, name string, args ...string) Cmd
	// CopyFile copies a file from the machine running the tests to nodePath on the node,
	// creating the directory and keeping the file's permission bits (so binaries stay
	// executable).
	CopyFile(ctx context.Context, hostPath, nodePath string) error
}

// Cmd is one command on a node, shaped like kind's exec.Cmd so kind nodes adapt thinly.
type Cmd interface {
	// Run runs the command to completion. A non-zero exit is an error.
	Run() error
	SetEnv(env ...string) Cmd
	SetStdin(r io.Reader) Cmd
	SetStdout(w io.Writer) Cmd
	SetStderr(w io.Writer) Cmd
}

// CommandError is a command that failed on a node, with what it wrote to stderr: the
// message a person needs to see first.
type CommandError struct {
	Node    string
	Command []string
	Stderr  string
	Err     error
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("node %s: `%s` failed: %v", e.Node, strings.Join(e.Command, " "), e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + firstLines(s, 5)
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// Output runs a command on the node and returns its stdout. On failure the error is a
// *CommandError carrying stderr.
func Output(ctx context.Context, n Node, name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	err := n.Command(ctx, name, args...).SetStdout(&stdout).SetStderr(&stderr).Run()
	if err != nil {
		return stdout.Bytes(), &CommandError{
			Node:    n.Name(),
			Command: append([]string{name}, args...),
			Stderr:  stderr.String(),
			Err:     err,
		}
	}
	return stdout.Bytes(), nil
}

// Run runs a command on the node and discards its output; see Output for the error.
func Run(ctx context.Context, n Node, name string, args ...string) error {
	_, err := Output(ctx, n, name, args...)
	return err
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, " | ")
}
