package proxy

import (
	"fmt"
	"net/netip"
	"strings"

	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
)

// CleanupOptions configure Cleanup.
type CleanupOptions struct {
	// ExcludeCIDRs are ranges whose virtual servers are left even when the proxier's
	// records say they are its own (ipvs.excludeCIDRs).
	ExcludeCIDRs []netip.Prefix
	// Logger; the zero value means klog's default logger.
	Logger klog.Logger
}

// Cleanup removes everything the IPVS proxier programs, in both families, and nothing
// else: the virtual servers the ownership rules give it (see ownership), the KUBE-* chains
// of IPVS mode with the jumps to them from built-in chains, the KUBE-* ip sets, and
// kube-ipvs0 with its addresses. A chain some other chain still jumps to is left (and
// logged), as deleting it would fail the whole transaction. Sysctls keep their values, as
// with kube-proxy --cleanup. It goes on after a failure and returns a *SyncError naming
// every failed call.
func Cleanup(k *kernel.Kernel, opts CleanupOptions) error {
	if err := checkKernel(k); err != nil {
		return err
	}
	c := cleaner{k: k, log: opts.Logger}
	if c.log.GetSink() == nil {
		c.log = klog.Background()
	}

	links, err := k.Links.Links()
	if err != nil {
		c.fail("list links", "all", err)
	}
	sets, err := k.IPSets.List()
	if err != nil {
		c.fail("list ip sets", "all", err)
	}
	c.virtualServers(newOwnership(0, opts.ExcludeCIDRs, links, sets))
	for _, fam := range []iptables.Family{iptables.IPv4, iptables.IPv6} {
		c.chains(fam)
	}
	// Sets go after the rules that use them.
	c.sets(sets)
	for _, l := range links {
		if l.Name == dataplane.KubeIPVSInterface {
			c.changes++
			if err := k.Links.DeleteLink(l.Name); err != nil {
				c.fail("delete link", l.Name, err)
			}
		}
	}
	c.log.Info("Cleaned up the IPVS proxier's kernel state", "changes", c.changes, "failed", len(c.failures))
	if len(c.failures) > 0 {
		return &SyncError{Context: "cleanup", Failures: c.failures}
	}
	return nil
}

type cleaner struct {
	k        *kernel.Kernel
	log      klog.Logger
	changes  int
	failures []Failure
}

func (c *cleaner) fail(op, object string, err error) {
	c.failures = append(c.failures, Failure{Op: op, Object: object, Err: err})
	c.log.Error(err, "Cleanup step failed", "operation", op, "object", object)
}

func (c *cleaner) virtualServers(own *ownership) {
	services, err := c.k.IPVS.Services()
	if err != nil {
		c.fail("list virtual servers", "all", err)
		return
	}
	for _, vs := range services {
		if !own.owns(vs) {
			continue
		}
		c.changes++
		if err := c.k.IPVS.DeleteService(vs.Key()); err != nil {
			c.fail("delete virtual server", vs.Key().String(), err)
		}
	}
}

// chains deletes the proxier's chains of one family in one transaction.
func (c *cleaner) chains(fam iptables.Family) {
	saved, err := c.k.IPTables.Save(fam, "nat", "filter")
	if err != nil {
		if fam == iptables.IPv6 {
			// A node without ip6tables cannot hold IPv6 rules of ours.
			c.log.Info("Could not read ip6tables; leaving IPv6 rules alone", "err", err)
			return
		}
		c.fail("read iptables", fmt.Sprintf("IPv%d nat,filter", fam), err)
		return
	}
	var in restoreInput
	var names []string
	for _, t := range saved.Tables {
		var candidates []string
		for _, ch := range t.Chains {
			if ownedChain(t.Name, ch.Name) {
				candidates = append(candidates, ch.Name)
			}
		}
		if len(candidates) == 0 {
			continue
		}
		remove, jumps, kept := removableChains(t, candidates)
		for chain, user := range kept {
			c.log.Info("Leaving chain: another chain still jumps to it", "table", t.Name, "chain", chain, "usedBy", user)
		}
		in.Tables = append(in.Tables, restoreTable{Name: t.Name, Deleted: remove, DeletedJumps: jumps})
		for _, r := range remove {
			names = append(names, t.Name+"/"+r)
		}
	}
	input, err := in.render()
	if err != nil || input == nil {
		if err != nil {
			c.fail("render iptables-restore input", fmt.Sprintf("IPv%d", fam), err)
		}
		return
	}
	c.changes++
	if err := c.k.IPTables.Restore(fam, input); err != nil {
		c.fail("iptables-restore", fmt.Sprintf("IPv%d delete %s", fam, strings.Join(names, " ")), err)
	}
}

// sets destroys the proxier's sets of both families.
func (c *cleaner) sets(sets []dataplane.IPSet) {
	owned := map[string]bool{}
	for _, fam := range []int{4, 6} {
		for _, n := range ownedSetNames(fam) {
			owned[n] = true
		}
	}
	for _, s := range sets {
		if !owned[s.Name] {
			continue
		}
		c.changes++
		if err := c.k.IPSets.Destroy(s.Name); err != nil {
			c.fail("destroy ip set", s.Name, err)
		}
	}
}
