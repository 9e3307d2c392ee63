package proxy

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
)

// ensureDummy makes kube-ipvs0 exist once; a full sync's read tells when it has gone.
func (r *Reconciler) ensureDummy() {
	if r.dummy {
		return
	}
	r.changes++
	created, err := r.k.Links.EnsureDummy(dataplane.KubeIPVSInterface)
	if err != nil {
		r.fail("create dummy link", dataplane.KubeIPVSInterface, err)
		return
	}
	r.dummy = true
	if created {
		r.log.V(2).Info("Created the dummy link for service addresses", "link", dataplane.KubeIPVSInterface)
	}
}

// ensureAddrs binds the service addresses kube-ipvs0 lacks, all in one batch, and marks
// the bound ones as wanted by this sync. An address the kernel refused is a failure of its
// own and stays unknown, so the next sync tries it again; the others are bound.
func (r *Reconciler) ensureAddrs(ps []netip.Prefix) {
	var add []netip.Prefix
	for _, p := range ps {
		if _, ok := r.addrs[p]; ok {
			r.addrs[p] = r.gen
			continue
		}
		add = append(add, p)
	}
	if len(add) == 0 {
		return
	}
	if !r.dummy {
		for _, p := range add {
			r.fail("bind address", addrObject(p, "to"), errors.New("the link does not exist"))
		}
		return
	}
	r.changeAddrs("bind address", "to", r.k.Links.AddAddresses, add, func(p netip.Prefix) { r.addrs[p] = r.gen })
}

// removeAddrs unbinds, in one batch, the addresses of kube-ipvs0 it knows of among ps. One
// that fails stays known, so the next sync tries it again.
func (r *Reconciler) removeAddrs(ps []netip.Prefix) {
	var del []netip.Prefix
	for _, p := range ps {
		if _, ok := r.addrs[p]; ok {
			del = append(del, p)
		}
	}
	if len(del) == 0 {
		return
	}
	r.changeAddrs("unbind address", "from", r.k.Links.DeleteAddresses, del, func(p netip.Prefix) { delete(r.addrs, p) })
}

// changeAddrs sends batch to kube-ipvs0 with change, one kernel change, and calls done for
// each address the kernel took; each one it refused is a failure of its own.
func (r *Reconciler) changeAddrs(action, prep string, change func(link string, batch []netip.Prefix) error, batch []netip.Prefix, done func(netip.Prefix)) {
	r.changes++
	failed := addrFailures(change(dataplane.KubeIPVSInterface, batch), batch)
	for _, p := range batch {
		if err, ok := failed[p]; ok {
			r.fail(action, addrObject(p, prep), err)
			continue
		}
		done(p)
	}
}

// addrFailures maps each address of a batch that failed to its error: those a
// *netif.BatchError names, or all of them when the call failed as a whole.
func addrFailures(err error, batch []netip.Prefix) map[netip.Prefix]error {
	if err == nil {
		return nil
	}
	var be *netif.BatchError
	if errors.As(err, &be) {
		out := make(map[netip.Prefix]error, len(be.Failed))
		for _, f := range be.Failed {
			out[f.Prefix] = f
		}
		return out
	}
	out := make(map[netip.Prefix]error, len(batch))
	for _, p := range batch {
		out[p] = err
	}
	return out
}

// addrObject names an address on kube-ipvs0 in failures: "10.96.0.1/32 to kube-ipvs0".
func addrObject(p netip.Prefix, prep string) string {
	return fmt.Sprintf("%s %s %s", p, prep, dataplane.KubeIPVSInterface)
}
