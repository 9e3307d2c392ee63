package kernel_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipset"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// faultInjector is the fault injection every kernel fake offers.
type faultInjector interface {
	FailNext(op string, err error)
}

// TestFakesFailNext checks that each fake takes a fault for every method of its interface
// and panics, naming itself, at an operation it does not have: a typo in a test must not
// queue a fault that never comes.
func TestFakesFailNext(t *testing.T) {
	for _, c := range []struct {
		name string
		fake faultInjector
		ops  []string
	}{
		{"ipvs.Fake", ipvs.NewFake(), []string{"Services", "RealServers", "AddService", "UpdateService", "DeleteService",
			"AddServices", "AddRealServer", "UpdateRealServer", "DeleteRealServer", "Timeouts", "SetTimeouts", "Close"}},
		{"netif.Fake", netif.NewFake(), []string{"Links", "EnsureDummy", "DeleteLink", "AddAddress", "DeleteAddress", "AddAddresses", "DeleteAddresses"}},
		{"ipset.Fake", ipset.NewFake(), []string{"List", "Create", "Destroy", "Add", "Del"}},
		{"iptables.Fake", iptables.NewFake(), []string{"Save", "Restore"}},
		{"sysctl.Fake", sysctl.NewFake(), []string{"Get", "Set"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, op := range c.ops {
				c.fake.FailNext(op, errors.New("injected"))
			}
			defer func() {
				want := c.name + `.FailNext: unknown operation "NoSuchOp"`
				if got := fmt.Sprint(recover()); !strings.HasPrefix(got, want) {
					t.Errorf("FailNext with an unknown operation: panic %q, expected one starting %q", got, want)
				}
			}()
			c.fake.FailNext("NoSuchOp", errors.New("injected"))
		})
	}
}
