package lab

import (
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Setting is one environment variable the provider reads. The suites check every one up
// front with the other settings of their run (framework/e2e), so a malformed value stops
// the run before anything starts.
type Setting struct {
	Env string
	// Accepts says which values are accepted, for errors and help.
	Accepts string
	// Check returns nil for an accepted (non-empty) value, else why it is not. Nil for
	// File settings.
	Check func(value string) error
	// File says the value is the path of an existing regular file.
	File bool
}

// nodesAccepts is what NodesEnv accepts.
var nodesAccepts = fmt.Sprintf("a node count from 1 to %d (empty: 1)", MaxNodes)

// Settings are the environment variables New and Preflight read.
func Settings() []Setting {
	return []Setting{
		{Env: NodesEnv, Accepts: nodesAccepts,
			Check: func(v string) error { _, err := ParseNodes(v); return err }},
		{Env: NodeAgentEnv, Accepts: "an existing file, a static linux/amd64 build of hack/lab/nodeagent (empty: bin/ipvs-nodeagent of the checkout)",
			File: true},
		{Env: ProxierEnv, Accepts: "an existing file, a static linux/amd64 build of cmd/ipvs-proxier (empty: bin/ipvs-proxier of the checkout)",
			File: true},
	}
}

// ParseNodes reads a node count as NodesEnv holds it; empty is 1. Its error says why the
// value is not accepted.
func ParseNodes(v string) (int, error) {
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	if n < 1 || n > MaxNodes {
		return 0, fmt.Errorf("%d nodes are out of range (they share one guest)", n)
	}
	return n, nil
}

// parseNodesEnv is ParseNodes of NodesEnv, its error naming the variable and what it accepts.
func parseNodesEnv() (int, error) {
	v := os.Getenv(NodesEnv)
	n, err := ParseNodes(v)
	if err != nil {
		return 0, fmt.Errorf("lab cluster: %s=%q: %v; expected %s", NodesEnv, v, err, nodesAccepts)
	}
	return n, nil
}
