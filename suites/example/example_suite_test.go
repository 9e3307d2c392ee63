//go:build e2e

// Package example is the smallest suite: one check, written against the suite harness
// (framework/e2e), that runs unchanged on every provider. Copy it to start a new one.
package example

import (
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/e2e"
)

// suite brings up the cluster IPVS_E2E_PROVIDER names (kind by default) before the first
// spec, with kube-proxy in ipvs mode, and collects artifacts and the summary after.
var suite = e2e.NewSuite("example")

func TestExample(t *testing.T) {
	suite.Run(t, "example: one check against any provider")
}
