package inspector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Node is a cluster node read through the inspector pod running on it. Its commands are
// the inspector's read-only list, run on the node; its state is the inspector's /state.
type Node struct {
	name      string
	rest      rest.Interface
	namespace string
	pod       string
}

var (
	_ node.Node        = (*Node)(nil)
	_ node.StateReader = (*Node)(nil)
)

// NewNode reads node name through pod in namespace, over the API server's pods/proxy
// subresource; rest is the core/v1 REST client (clientset.CoreV1().RESTClient()).
func NewNode(rest rest.Interface, name, namespace, pod string) *Node {
	return &Node{name: name, rest: rest, namespace: namespace, pod: pod}
}

// Name implements node.Node.
func (n *Node) Name() string { return n.name }

// Pod is the inspector pod the node is read through, as namespace/name.
func (n *Node) Pod() string { return n.namespace + "/" + n.pod }

// ErrReadOnly is what changing the node through its inspector gives.
var ErrReadOnly = errors.New("the node inspector changes nothing on the node")

// CopyFile implements node.Node: the inspector copies nothing into the node.
func (n *Node) CopyFile(ctx context.Context, hostPath, nodePath string) error {
	return fmt.Errorf("node %s: copy %s to %s: %w (it is read through pod %s)", n.name, hostPath, nodePath, ErrReadOnly, n.Pod())
}

// proxy is a request to the inspector pod through the API server.
func (n *Node) proxy(verb, path string) *rest.Request {
	return n.rest.Verb(verb).Namespace(n.namespace).Resource("pods").
		Name(fmt.Sprintf("%s:%d", n.pod, Port)).SubResource("proxy").Suffix(path)
}

// ReadState implements node.StateReader with one GET of the inspector's /state. Like
// node.ReadState, it leaves the IPv6 ruleset out unless opts asks for it.
func (n *Node) ReadState(ctx context.Context, opts node.ReadOptions) (dataplane.State, error) {
	body, err := n.proxy("GET", PathState).DoRaw(ctx)
	if err != nil {
		return dataplane.State{}, fmt.Errorf("read dataplane of node %s through inspector pod %s: %w", n.name, n.Pod(), proxyError(err, body))
	}
	var st dataplane.State
	if err := json.Unmarshal(body, &st); err != nil {
		return dataplane.State{}, fmt.Errorf("node %s: inspector pod %s answered %s with something other than a JSON dataplane state: %w", n.name, n.Pod(), PathState, err)
	}
	st.Node = n.name
	if !opts.IPv6 {
		st.IP6Tables = dataplane.Ruleset{}
	}
	st.IPVS.Sort()
	return st, nil
}

// Command implements node.Node: the command runs on the node when the inspector has it on
// its read-only list; any other fails with the inspector's reason.
func (n *Node) Command(ctx context.Context, name string, args ...string) node.Cmd {
	return &cmd{node: n, ctx: ctx, args: append([]string{name}, args...)}
}

// run posts one command and returns the inspector's answer.
func (n *Node) run(ctx context.Context, args []string) (RunResponse, error) {
	req, err := json.Marshal(RunRequest{Args: args})
	if err != nil {
		return RunResponse{}, err
	}
	body, err := n.proxy("POST", PathRun).SetHeader("Content-Type", "application/json").Body(req).DoRaw(ctx)
	if err != nil {
		return RunResponse{}, fmt.Errorf("inspector pod %s: %w", n.Pod(), proxyError(err, body))
	}
	var resp RunResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return RunResponse{}, fmt.Errorf("inspector pod %s answered %s with something other than a JSON run response: %w", n.Pod(), PathRun, err)
	}
	return resp, nil
}

// proxyError keeps the inspector's own words: the API server passes its error body through.
func proxyError(err error, body []byte) error {
	if s := strings.TrimSpace(string(body)); s != "" && !strings.Contains(err.Error(), s) {
		return fmt.Errorf("%w: %s", err, s)
	}
	return err
}

// ExitError is a command that ran on the node and exited non-zero.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

type cmd struct {
	node           *Node
	ctx            context.Context
	args           []string
	env            []string
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (c *cmd) Run() error {
	// The inspector runs its read-only commands as they are: nothing to feed them, and
	// their environment is its own.
	if c.stdin != nil || len(c.env) > 0 {
		return fmt.Errorf("node %s: `%s` with stdin or environment: the node inspector takes neither", c.node.name, strings.Join(c.args, " "))
	}
	resp, err := c.node.run(c.ctx, c.args)
	if err != nil {
		return err
	}
	if c.stdout != nil {
		if _, err := io.Copy(c.stdout, strings.NewReader(resp.Stdout)); err != nil {
			return err
		}
	}
	if c.stderr != nil {
		if _, err := io.Copy(c.stderr, bytes.NewReader([]byte(resp.Stderr))); err != nil {
			return err
		}
	}
	if resp.ExitCode != 0 {
		return &ExitError{Code: resp.ExitCode}
	}
	return nil
}

func (c *cmd) SetEnv(env ...string) node.Cmd  { c.env = append(c.env, env...); return c }
func (c *cmd) SetStdin(r io.Reader) node.Cmd  { c.stdin = r; return c }
func (c *cmd) SetStdout(w io.Writer) node.Cmd { c.stdout = w; return c }
func (c *cmd) SetStderr(w io.Writer) node.Cmd { c.stderr = w; return c }
