package proxy

import (
	"errors"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// checkKernel reports a bundle with a missing interface, a programming error worth a clear
// message rather than a nil dereference deep inside a sync. Both address families share
// one bundle: each family's reconciler only touches its own objects.
func checkKernel(k *kernel.Kernel) error {
	switch {
	case k == nil:
		return errors.New("no kernel bundle given")
	case k.IPVS == nil:
		return errors.New("kernel bundle has no IPVS interface")
	case k.Links == nil:
		return errors.New("kernel bundle has no links (netif) interface")
	case k.IPSets == nil:
		return errors.New("kernel bundle has no ipset interface")
	case k.IPTables == nil:
		return errors.New("kernel bundle has no iptables interface")
	case k.Sysctl == nil:
		return errors.New("kernel bundle has no sysctl interface")
	}
	return nil
}
