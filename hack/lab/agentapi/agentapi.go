// Package agentapi is the wire format between the lab cluster provider (host) and
// hack/lab/nodeagent (guest): command execution and file upload over TLS with a bearer
// token. It is small on purpose; commands are not streamed.
package agentapi

// Paths of the agent's endpoints.
const (
	// ExecPath takes a POSTed ExecRequest and answers an ExecResponse.
	ExecPath = "/exec"
	// FilesPath takes a PUT body and writes it to ?path= with ?mode= (octal).
	FilesPath = "/files"
	// NodesPath prefixes the endpoints of another node of the same guest: the first node's
	// agent passes <NodesPath><node>/<endpoint> on to that node's agent.
	NodesPath = "/nodes/"
)

// ExecRequest runs one command on the node.
type ExecRequest struct {
	Argv  []string `json:"argv"`
	Env   []string `json:"env,omitempty"`
	Stdin []byte   `json:"stdin,omitempty"`
}

// ExecResponse is how it ended. ExitCode 127 with Error set means the program was not found.
type ExecResponse struct {
	Stdout   []byte `json:"stdout"`
	Stderr   []byte `json:"stderr"`
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error,omitempty"`
}
