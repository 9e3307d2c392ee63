package kind

import (
	"context"
	"io"
	"testing"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/internal/contract"
)

// hostNode is a kind node whose commands run on the machine running the tests, through
// kind's own local exec, as `docker exec` runs them in a node container: the adapter's
// command plumbing and CopyFile run for real.
type hostNode struct{ name, role, ip string }

func (n hostNode) String() string              { return n.name }
func (n hostNode) Role() (string, error)       { return n.role, nil }
func (n hostNode) IP() (string, string, error) { return n.ip, "", nil }
func (n hostNode) SerialLogs(io.Writer) error  { return nil }
func (n hostNode) Command(c string, a ...string) kindexec.Cmd {
	return kindexec.Command(c, a...)
}
func (n hostNode) CommandContext(ctx context.Context, c string, a ...string) kindexec.Cmd {
	return kindexec.CommandContext(ctx, c, a...)
}

// TestProviderContract runs the provider contract against the kind provider over a fake
// kind API whose nodes run their commands on this machine.
func TestProviderContract(t *testing.T) {
	opts := cluster.Options{Name: "e2e", HostNodePorts: []int32{30089}}
	p, fk := newTestProvider(t, opts, true)
	fk.nodes = []nodes.Node{
		hostNode{name: "e2e-control-plane", role: "control-plane", ip: "172.18.0.2"},
		hostNode{name: "e2e-worker", role: "worker", ip: "172.18.0.3"},
	}
	contract.Provider(t, p, opts)
}
