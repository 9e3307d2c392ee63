//go:build lab

package sysctl

import (
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

func TestLinuxContract(t *testing.T) {
	labtest.Require(t)
	testContract(t, func(*testing.T) Interface { return NewLinux() })
}
