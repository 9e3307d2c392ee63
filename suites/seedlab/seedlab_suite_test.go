//go:build e2e

// Package seedlab reproduces the seed tutorial's section 4 ("verify that IPVS works") on
// every node of a cluster whose kube-proxy reached ipvs mode the seed's first way (set at
// creation) or its second (ConfigMap edit and pod restart), per IPVS_E2E_SWITCH.
package seedlab

import (
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/e2e"
)

var suite = e2e.NewSuite("seedlab")

func TestSeedLab(t *testing.T) {
	suite.Run(t, "seedlab: the seed tutorial's section 4 on every node")
}
