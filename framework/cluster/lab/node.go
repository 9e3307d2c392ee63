package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/agentapi"
)

// agentClient talks to hack/lab/nodeagent through its host port forward, trusting only the
// agent's own certificate and sending the run's token.
type agentClient struct {
	base  string
	token string
	http  *http.Client
}

func newAgentClient(addr string, certPEM []byte, token string) (*agentClient, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, fmt.Errorf("node agent certificate: expected PEM")
	}
	return &agentClient{
		base:  "https://" + addr,
		token: token,
		http: &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: agentServerName, MinVersion: tls.VersionTLS12},
		}},
	}, nil
}

// via is a client for another node of the guest, through this agent (agentapi.NodesPath).
func (c *agentClient) via(node string) *agentClient {
	return &agentClient{base: c.base + strings.TrimSuffix(agentapi.NodesPath, "/") + "/" + node, token: c.token, http: c.http}
}

func (c *agentClient) do(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	return c.http.Do(req)
}

func (c *agentClient) healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, "/healthz", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("node agent /healthz: %s", resp.Status)
	}
	return nil
}

func (c *agentClient) exec(ctx context.Context, req agentapi.ExecRequest) (agentapi.ExecResponse, error) {
	var out agentapi.ExecResponse
	b, err := json.Marshal(req)
	if err != nil {
		return out, err
	}
	resp, err := c.do(ctx, http.MethodPost, agentapi.ExecPath, bytes.NewReader(b))
	if err != nil {
		return out, fmt.Errorf("node agent exec: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return out, fmt.Errorf("node agent exec: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, fmt.Errorf("node agent exec: reading the answer: %w", err)
	}
	return out, nil
}

// labNode is the lab guest as a node.Node: commands and files go through the node agent.
type labNode struct {
	name   string
	client *agentClient
}

var _ node.Node = (*labNode)(nil)

func (n *labNode) Name() string { return n.name }

func (n *labNode) Command(ctx context.Context, name string, args ...string) node.Cmd {
	return &labCmd{ctx: ctx, n: n, argv: append([]string{name}, args...)}
}

func (n *labNode) CopyFile(ctx context.Context, hostPath, nodePath string) error {
	f, err := os.Open(hostPath)
	if err != nil {
		return fmt.Errorf("copy to node %s: %w", n.name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	q := url.Values{"path": {nodePath}, "mode": {fmt.Sprintf("%o", fi.Mode().Perm())}}
	resp, err := n.client.do(ctx, http.MethodPut, agentapi.FilesPath+"?"+q.Encode(), f)
	if err != nil {
		return fmt.Errorf("copy %s to node %s:%s: %w", hostPath, n.name, nodePath, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("copy %s to node %s:%s: %s: %s", hostPath, n.name, nodePath, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// labCmd buffers stdin, runs the command in one request and writes the outputs back.
type labCmd struct {
	ctx            context.Context
	n              *labNode
	argv, env      []string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// ExitError is a command that ran on the lab node and exited non-zero.
type ExitError struct {
	Code    int
	Message string
}

func (e *ExitError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("exit status %d (%s)", e.Code, e.Message)
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

func (c *labCmd) Run() error {
	req := agentapi.ExecRequest{Argv: c.argv, Env: c.env}
	if c.stdin != nil {
		b, err := io.ReadAll(c.stdin)
		if err != nil {
			return err
		}
		req.Stdin = b
	}
	resp, err := c.n.client.exec(c.ctx, req)
	if err != nil {
		return err
	}
	if c.stdout != nil {
		c.stdout.Write(resp.Stdout)
	}
	if c.stderr != nil {
		c.stderr.Write(resp.Stderr)
	}
	if resp.ExitCode != 0 {
		return &ExitError{Code: resp.ExitCode, Message: resp.Error}
	}
	return nil
}

func (c *labCmd) SetEnv(env ...string) node.Cmd  { c.env = env; return c }
func (c *labCmd) SetStdin(r io.Reader) node.Cmd  { c.stdin = r; return c }
func (c *labCmd) SetStdout(w io.Writer) node.Cmd { c.stdout = w; return c }
func (c *labCmd) SetStderr(w io.Writer) node.Cmd { c.stderr = w; return c }
