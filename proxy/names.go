package proxy

import (
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/desired"
)

// Sync never needs the names of sets and chains (it programs whatever the desired state
// names); adoption and cleanup do, to tell the proxier's objects from everybody else's.
// They come from the tables package desired declares.

// portalSets hold "address,proto:port" of Service portals: a virtual server whose address
// and port appear in one of them was programmed by the proxier. The SCTP node-port set
// holds "nodeAddress,sctp:port" and serves the same way.
var portalSets = []desired.SetID{desired.SetClusterIP, desired.SetExternalIP, desired.SetExternalIPLocal, desired.SetLoadBalancer, desired.SetNodePortSCTP}

// nodePortSets are the bitmap sets of node ports by protocol.
var nodePortSets = map[dataplane.Protocol]desired.SetID{
	dataplane.TCP: desired.SetNodePortTCP,
	dataplane.UDP: desired.SetNodePortUDP,
}

// ownedSetNames lists the set names of one family.
func ownedSetNames(family int) []string {
	specs := desired.IPSets()
	out := make([]string, 0, len(specs))
	for _, s := range specs {
		out = append(out, s.NameFor(family))
	}
	return out
}

// ownedChain tells whether a chain of a table is one the proxier creates.
func ownedChain(table, chain string) bool {
	for _, c := range desired.Chains() {
		if c.Table == table && c.Name == chain {
			return true
		}
	}
	return false
}

// tableChain names one chain of one table.
type tableChain struct {
	Table, Chain string
}

// ruleTarget returns the chain a rule jumps or goes to ("" when it has neither, or when
// the rule's words cannot be split).
func ruleTarget(spec string) string {
	f, err := dataplane.Rule{Spec: spec}.Args()
	if err != nil {
		return ""
	}
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-j" || f[i] == "--jump" || f[i] == "-g" || f[i] == "--goto" {
			return f[i+1]
		}
	}
	return ""
}
