package existing

import (
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

// kindClusterOf is the kind cluster every node belongs to, read from the provider ID kind
// gives its nodes (kind://docker/<cluster>/<node>), or "" when any node is not kind's.
func kindClusterOf(nodes []corev1.Node) string {
	name := ""
	for _, n := range nodes {
		rest, ok := strings.CutPrefix(n.Spec.ProviderID, "kind://")
		parts := strings.Split(rest, "/")
		if !ok || len(parts) != 3 || parts[1] == "" || name != "" && parts[1] != name {
			return ""
		}
		name = parts[1]
	}
	return name
}

// kindLoadArchive loads an image tarball into every node of a kind cluster through kind's
// API, as `kind load image-archive` does, so that the cluster needs no registry for it.
func kindLoadArchive(cluster, archive string) error {
	nodes, err := kindcluster.NewProvider().ListInternalNodes(cluster)
	if err != nil {
		return fmt.Errorf("nodes of kind cluster %s: %w", cluster, err)
	}
	for _, n := range nodes {
		f, err := os.Open(archive)
		if err != nil {
			return err
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("load %s into kind node %s: %w", archive, n, err)
		}
	}
	return nil
}
