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

// ruleTarget returns the chain a rule jumps or goes to ("" when it has neither), read from
// the rule's words as iptables-save prints them; quoted words (comments) are skipped.
func ruleTarget(spec string) string {
	f := ruleWords(spec)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-j" || f[i] == "--jump" || f[i] == "-g" || f[i] == "--goto" {
			return f[i+1]
		}
	}
	return ""
}

// ruleWords splits a rule into words, keeping a double-quoted word (with its quotes) whole.
func ruleWords(spec string) []string {
	var out []string
	for i := 0; i < len(spec); {
		for i < len(spec) && spec[i] == ' ' {
			i++
		}
		if i == len(spec) {
			break
		}
		start := i
		if spec[i] == '"' {
			i++
			for i < len(spec) && spec[i] != '"' {
				if spec[i] == '\\' {
					i++
				}
				i++
			}
			i = min(i+1, len(spec))
		} else {
			for i < len(spec) && spec[i] != ' ' {
				i++
			}
		}
		out = append(out, spec[start:i])
	}
	return out
}
