package kubeproxy

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// PodIPSet reads a node's ipsets by running `ipset save` in the kube-proxy pod on that node.
// The kind node image has no ipset binary, the kube-proxy image has (kube-proxy shells out
// to it), and the pod shares the node's network namespace, so it sees the node's sets.
type PodIPSet struct{ Cluster Cluster }

var _ node.IPSetSource = PodIPSet{}

// IPSetSave implements node.IPSetSource.
func (s PodIPSet) IPSetSave(ctx context.Context, n node.Node) ([]byte, error) {
	if s.Cluster.Exec == nil {
		return nil, fmt.Errorf("node %s: reading ipsets through the kube-proxy pod needs a PodExecer", n.Name())
	}
	pod, err := PodOnNode(ctx, s.Cluster, n.Name())
	if err != nil {
		return nil, err
	}
	stdout, stderr, err := s.Cluster.Exec.Exec(ctx, Namespace, pod.Name, ContainerName, []string{"ipset", "save"})
	if err != nil {
		return nil, fmt.Errorf("node %s: `ipset save` in pod %s/%s: %w: %s", n.Name(), Namespace, pod.Name, err, strings.TrimSpace(string(stderr)))
	}
	return stdout, nil
}

// KubeProxyLogArtifact collects the log of the kube-proxy pod on a node, for the per-node
// artifacts of a failed spec.
func KubeProxyLogArtifact(c Cluster) node.Artifact {
	return node.Artifact{File: "kube-proxy.log", Read: func(ctx context.Context, n node.Node) ([]byte, error) {
		pod, err := PodOnNode(ctx, c, n.Name())
		if err != nil {
			return nil, err
		}
		log, err := c.logs().PodLogs(ctx, Namespace, pod.Name, ContainerName, false)
		return []byte(log), err
	}}
}
