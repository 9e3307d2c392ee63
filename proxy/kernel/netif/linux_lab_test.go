//go:build lab && linux

package netif

import (
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

// TestLinuxContract runs the contract against the lab guest's own namespace.
func TestLinuxContract(t *testing.T) {
	labtest.Require(t)
	testContract(t, func(t *testing.T) Interface { return labtest.Open(t, NewLinux) })
}
