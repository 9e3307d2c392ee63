package e2e

import (
	"context"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Poll is how often a spec re-reads a node while waiting for kube-proxy to program it.
const Poll = 2 * time.Second

// EveryNode reads each node's dataplane until the assertions hold (kube-proxy programs a
// change within a sync or two) or the wait ends; a failure names the node and prints its
// table as ipvsadm or iptables would.
func (e *Env) EveryNode(ctx context.Context, assert func(g gomega.Gomega, n node.Node, st dataplane.State)) {
	ginkgo.GinkgoHelper()
	for _, n := range e.Nodes {
		ginkgo.By("on node " + n.Name())
		gomega.Eventually(ctx, func(g gomega.Gomega) {
			st, err := node.ReadState(ctx, n, e.Read)
			g.Expect(err).NotTo(gomega.HaveOccurred())
			assert(g, n, st)
		}).WithTimeout(e.Wait()).WithPolling(Poll).Should(gomega.Succeed(), "node %s", n.Name())
	}
}

// OnNode is EveryNode for one node.
func (e *Env) OnNode(ctx context.Context, n node.Node, assert func(g gomega.Gomega, st dataplane.State)) {
	ginkgo.GinkgoHelper()
	gomega.Eventually(ctx, func(g gomega.Gomega) {
		st, err := node.ReadState(ctx, n, e.Read)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		assert(g, st)
	}).WithTimeout(e.Wait()).WithPolling(Poll).Should(gomega.Succeed(), "node %s", n.Name())
}

// Node returns the node of that name.
func (e *Env) Node(name string) node.Node {
	for _, n := range e.Nodes {
		if n.Name() == name {
			return n
		}
	}
	ginkgo.Fail("no node named " + name)
	return nil
}
