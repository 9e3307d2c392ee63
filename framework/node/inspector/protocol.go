// Package inspector is the node inspector's wire protocol and its client. The inspector is
// `ipvsdump serve` in a privileged, host-network DaemonSet pod on every node of a cluster
// the project did not create: it answers the node's dataplane and a short list of read-only
// commands over HTTP, which the test process reaches through the API server's pods/proxy
// subresource, so reading a node needs no SSH, docker exec or kubectl exec.
package inspector

// Port is the inspector's container port on the node (host network).
const Port = 10290

// Paths the inspector serves.
const (
	// PathHealthz answers 200 "ok" once the inspector reads the kernel.
	PathHealthz = "/healthz"
	// PathState answers GET with the node's whole dataplane.State as JSON (IPVS with its
	// timeouts, links and addresses, ipsets, iptables and ip6tables, sysctls, conntrack
	// counts).
	PathState = "/state"
	// PathRun answers POST of a RunRequest with a RunResponse: one command of the read-only
	// list, run on the node.
	PathRun = "/run"
)

// ImageEnv names the inspector's image for a cluster the project did not create: the one
// `make inspector-image` builds, pushed to a registry the cluster pulls from.
const ImageEnv = "IPVS_E2E_INSPECTOR_IMAGE"

// RunRequest is one command to run on the node: Args[0] is the command's name.
type RunRequest struct {
	Args []string `json:"args"`
}

// RunResponse is what the command wrote and how it exited. A command the inspector does not
// run at all (not on its read-only list, or not installed on the node) is an HTTP error
// instead, whose body says why.
type RunResponse struct {
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"exitCode"`
}
