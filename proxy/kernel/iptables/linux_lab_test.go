//go:build lab

package iptables

import (
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

func TestLinuxContract(t *testing.T) {
	labtest.Require(t)
	requireBinaries(t, "iptables-restore", "ip6tables-restore", "ipset")
	testContract(t, func(t *testing.T) contractEnv { return linuxEnv(t, ExecRunner) })
}
