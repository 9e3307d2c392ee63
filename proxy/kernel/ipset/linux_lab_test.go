//go:build lab && linux

package ipset

import (
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

func TestLinuxContract(t *testing.T) {
	labtest.Require(t)
	testContract(t, func(t *testing.T) Interface {
		l := NewLinux()
		t.Cleanup(func() { l.Close() })
		return l
	})
}
