package proxy

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
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

// ensureAddr binds a service address to kube-ipvs0.
func (r *Reconciler) ensureAddr(p netip.Prefix) {
	if _, ok := r.addrs[p]; ok {
		r.addrs[p] = r.gen
		return
	}
	object := fmt.Sprintf("%s to %s", p, dataplane.KubeIPVSInterface)
	if !r.dummy {
		r.fail("bind address", object, errors.New("the link does not exist"))
		return
	}
	r.changes++
	if err := r.k.Links.AddAddress(dataplane.KubeIPVSInterface, p); err != nil {
		r.fail("bind address", object, err)
		return
	}
	r.addrs[p] = r.gen
}

// removeAddr unbinds an address from kube-ipvs0.
func (r *Reconciler) removeAddr(p netip.Prefix) {
	if _, ok := r.addrs[p]; !ok {
		return
	}
	r.changes++
	if err := r.k.Links.DeleteAddress(dataplane.KubeIPVSInterface, p); err != nil {
		r.fail("unbind address", fmt.Sprintf("%s from %s", p, dataplane.KubeIPVSInterface), err)
		return
	}
	delete(r.addrs, p)
}
