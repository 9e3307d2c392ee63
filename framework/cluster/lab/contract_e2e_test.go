//go:build e2e

package lab

import (
	"os"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/internal/contract"
)

// TestProviderContract runs the provider contract, node contract included, on a real lab
// cluster: the guest's busybox through the node agent. Like TestLabCluster it needs the
// upstream release built and the guest binaries (`make lab-cluster-binaries`).
func TestProviderContract(t *testing.T) {
	opts := cluster.Options{KubernetesVersion: os.Getenv("IPVS_E2E_K8S_VERSION"), HostNodePorts: []int32{30089}}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	contract.Provider(t, p, opts)
}
