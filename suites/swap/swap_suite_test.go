//go:build e2e

// Package swap replaces kube-proxy with the reference proxier on a running cluster and
// back, the way manifests/reference-proxier tells a user to: the kube-proxy DaemonSet's
// image and command swapped by the swap kustomization, then the previous template
// restored. Before the swap, after it and after switching back, the seed tutorial's
// section 4 must pass (suites/seedlab's checks), and each proxy must take the node over
// exactly as the other left it: the same virtual servers, addresses, ipsets and rules,
// nothing stale and nothing missing. It needs a cluster whose nodes can run the reference
// proxier's image (the lab cluster runs its guest build for it).
package swap

import (
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/e2e"
)

var suite = e2e.NewSuite("swap")

func TestSwap(t *testing.T) {
	suite.Run(t, "swap: kube-proxy swapped for the reference proxier and back, the seed's section 4 each time")
}
