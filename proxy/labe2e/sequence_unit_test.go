package labe2e

import (
	"net/netip"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipset"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// The lab test's harness on the kernel fakes: the same sequences through the same
// informers, so the harness itself is checked on every host run, and a seed the lab
// printed can be replayed here (IPVS_E2E_SEQUENCE_SEED) to tell a proxier bug from a
// kernel one.
func TestRandomChangesMatchFullSyncOnFakes(t *testing.T) {
	cfg := nodeConfig(t)
	k := fakeNode(t, cfg)
	sn := sequenceNode{cfg: cfg, k: k, scratch: func(t *testing.T) (*kernel.Kernel, func()) {
		return fakeNode(t, cfg), func() {}
	}}
	seed := sequenceSeed(t)
	res := runSequence(t, sn, seed, labSteps)
	t.Logf("seed %d: %s", seed, res)
}

// fakeNode is node1 on the kernel fakes after the proxier's start-up (proxy.Setup): lo,
// eth0 with the node's address, iptables refusing rules on missing sets as the kernel does.
func fakeNode(t *testing.T, cfg config.Config) *kernel.Kernel {
	t.Helper()
	k := kernel.Fake()
	k.Links = netif.NewFake(
		dataplane.Link{Name: "lo", Kind: "loopback", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
		dataplane.Link{Name: nodeLink, Kind: "dummy", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix(nodeCIDR)}},
	)
	k.IPTables.(*iptables.Fake).CheckSets(k.IPSets.(*ipset.Fake).Has)
	k.Sysctl.(*sysctl.Fake).Define("kernel/osrelease", "6.1.0-27-cloud-amd64")
	if err := proxy.Setup(k, proxy.SetupOptionsFrom(cfg)); err != nil {
		t.Fatal(err)
	}
	return k
}
