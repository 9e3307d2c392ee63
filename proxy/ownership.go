package proxy

import (
	"net/netip"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// ownership decides which of the kernel's virtual servers the proxier programmed, from
// the proxier's own records in the kernel, so that a restarted proxier and --cleanup agree
// with a running one. A virtual server (never a firewall-mark one) is the proxier's when
//
//   - its address is bound on kube-ipvs0 (ClusterIPs, and external and load-balancer IPs
//     that no other interface holds), or
//   - "address,proto:port" is a member of KUBE-CLUSTER-IP, KUBE-EXTERNAL-IP(-LOCAL) or
//     KUBE-LOAD-BALANCER (external and load-balancer IPs that another interface holds), or
//   - its address is one of the node's own and its port is in KUBE-NODE-PORT-TCP/-UDP for
//     its protocol, or "address,sctp:port" is in KUBE-NODE-PORT-SCTP-HASH (NodePorts),
//
// and its address is outside every excludeCIDR. Everything else - LVS set up by hand or by
// another program on the node's addresses - is left alone.
type ownership struct {
	family    int
	exclude   []netip.Prefix
	bound     map[netip.Addr]bool
	nodeAddrs map[netip.Addr]bool
	// members of the portal sets and the SCTP node-port set.
	portals map[dataplane.Member]bool
	// node ports from the bitmap sets, by protocol.
	nodePorts map[dataplane.Protocol]map[uint16]bool
}

// newOwnership reads the records from the kernel's links and sets. family 0 means both
// families (cleanup).
func newOwnership(family int, exclude []netip.Prefix, links []dataplane.Link, sets []dataplane.IPSet) *ownership {
	o := &ownership{
		family:    family,
		exclude:   exclude,
		bound:     map[netip.Addr]bool{},
		nodeAddrs: map[netip.Addr]bool{},
		portals:   map[dataplane.Member]bool{},
		nodePorts: map[dataplane.Protocol]map[uint16]bool{},
	}
	for _, l := range links {
		for _, p := range l.Addrs {
			switch {
			case l.Name == dataplane.KubeIPVSInterface:
				o.bound[p.Addr()] = true
			case !p.Addr().IsLoopback():
				o.nodeAddrs[p.Addr()] = true
			}
		}
	}
	families := []int{family}
	if family == 0 {
		families = []int{4, 6}
	}
	byName := map[string]dataplane.IPSet{}
	for _, s := range sets {
		byName[s.Name] = s
	}
	for _, fam := range families {
		for _, id := range portalSets {
			for _, m := range byName[id.Spec().NameFor(fam)].Members {
				o.portals[m] = true
			}
		}
		for proto, id := range nodePortSets {
			set := byName[id.Spec().NameFor(fam)]
			if set.Type != dataplane.SetBitmapPort {
				continue
			}
			for _, m := range set.Members {
				if o.nodePorts[proto] == nil {
					o.nodePorts[proto] = map[uint16]bool{}
				}
				o.nodePorts[proto][m.Port] = true
			}
		}
	}
	return o
}

// excluded tells whether an address is inside one of the excludeCIDRs.
func (o *ownership) excluded(a netip.Addr) bool {
	for _, p := range o.exclude {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// inFamily tells whether a virtual server belongs to the family the ownership is for.
func (o *ownership) inFamily(vs dataplane.VirtualServer) bool {
	switch o.family {
	case 4:
		return !vs.IsIPv6()
	case 6:
		return vs.IsIPv6()
	}
	return true
}

// owns applies the rules in the type's comment.
func (o *ownership) owns(vs dataplane.VirtualServer) bool {
	if vs.FWMark != 0 || !vs.Address.IsValid() || !o.inFamily(vs) || o.excluded(vs.Address) {
		return false
	}
	if o.bound[vs.Address] || o.portals[dataplane.Member{IP: vs.Address, Proto: vs.Protocol.Lower(), Port: vs.Port}] {
		return true
	}
	return o.nodeAddrs[vs.Address] && o.nodePorts[vs.Protocol][vs.Port]
}
