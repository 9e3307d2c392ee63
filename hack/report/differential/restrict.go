package differential

import (
	"slices"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// ComparedTables are the iptables tables kube-proxy's ipvs mode writes its rules in.
var ComparedTables = []string{"nat", "filter"}

// Restrict keeps what kube-proxy in ipvs mode programs and both runs can be expected to
// agree on: the IPVS table, the kube-ipvs0 link with its addresses, every ipset, and the
// nat and filter tables of each family. Left out: the node's name, the other links (the
// pods' veths are named after their UIDs, eth0 and lo are the guest's) and the other
// iptables tables, which kube-proxy in ipvs mode does not write.
func Restrict(st dataplane.State) dataplane.State {
	out := dataplane.State{IPVS: st.IPVS, IPSets: st.IPSets}
	if l, ok := st.Link(dataplane.KubeIPVSInterface); ok {
		out.Links = []dataplane.Link{l}
	}
	out.IPTables = restrictTables(st.IPTables)
	out.IP6Tables = restrictTables(st.IP6Tables)
	return out
}

func restrictTables(r dataplane.Ruleset) dataplane.Ruleset {
	var out dataplane.Ruleset
	for _, t := range r.Tables {
		if slices.Contains(ComparedTables, t.Name) {
			out.Tables = append(out.Tables, t)
		}
	}
	return out
}
