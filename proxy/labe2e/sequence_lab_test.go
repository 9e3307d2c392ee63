//go:build lab

package labe2e

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// The incremental path leaves exactly the state a full sync would, on a real kernel:
// random sequences of Service and EndpointSlice changes (every Service type, externalIPs,
// load-balancer ingress and source ranges, session affinity, TCP/UDP/SCTP, several ports,
// traffic policies Local, headless, endpoints ready/serving/terminating, coming and going)
// go through the fake API server to a proxier over the guest's kernel; after each change
// and its incremental sync, IPVS, kube-ipvs0, the ip sets and the nat and filter rules read
// back equal what a fresh proxier's full sync of the same objects leaves in a new, empty
// network namespace.
func TestRandomChangesMatchFullSyncInLab(t *testing.T) {
	labtest.Require(t)
	first := sequenceSeed(t)
	for i := range labSequences {
		seed := first + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			n := newNode(t)
			sn := sequenceNode{cfg: n.cfg, k: n.k, scratch: func(t *testing.T) (*kernel.Kernel, func()) {
				t.Helper()
				s, err := newScratchNode(netip.MustParsePrefix(nodeCIDR))
				if err != nil {
					t.Fatal(err)
				}
				// The conntrack settings are the node's (nf_conntrack_max is read-only in
				// a namespace); newNode's start-up made them.
				setup := proxy.SetupOptionsFrom(n.cfg)
				setup.Conntrack = config.Conntrack{}
				if err := proxy.Setup(s.k, setup); err != nil {
					s.Close()
					t.Fatalf("proxier start-up in the scratch namespace: %v", err)
				}
				return s.k, func() {
					if err := s.Close(); err != nil {
						t.Errorf("closing the scratch namespace: %v", err)
					}
				}
			}}
			res := runSequence(t, sn, seed, labSteps)
			t.Logf("seed %d: %s", seed, res)
		})
	}
}
