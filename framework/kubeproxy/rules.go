package kubeproxy

import (
	"slices"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// kubelet's chains share the KUBE- prefix but are not kube-proxy's.
var kubeletChains = []string{"KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"}

func kubeProxyChain(chain string) bool {
	return strings.HasPrefix(chain, "KUBE-") && !slices.Contains(kubeletChains, chain)
}

// OwnRules keeps the rules kube-proxy owns: the rules of its KUBE-* chains and the jumps
// into them from other chains. Rules of kubelet, Docker and the CNI (kind's
// KIND-MASQ-AGENT, DOCKER_OUTPUT) go: the seed's "no more than 20 rules" is about what
// kube-proxy writes, which must not grow with the Services. Chains stay, emptied, so
// matchers still find them.
func OwnRules(r dataplane.Ruleset) dataplane.Ruleset {
	out := dataplane.Ruleset{Tables: make([]dataplane.Table, 0, len(r.Tables))}
	for _, t := range r.Tables {
		nt := dataplane.Table{Name: t.Name, Chains: make([]dataplane.Chain, 0, len(t.Chains))}
		for _, c := range t.Chains {
			nc := dataplane.Chain{Name: c.Name, Policy: c.Policy}
			for _, rule := range c.Rules {
				if kubeProxyChain(c.Name) || kubeProxyChain(jumpTarget(rule.Spec)) {
					nc.Rules = append(nc.Rules, rule)
				}
			}
			nt.Chains = append(nt.Chains, nc)
		}
		out.Tables = append(out.Tables, nt)
	}
	return out
}

// KubeProxyRules counts the rules of a table that kube-proxy owns (see OwnRules).
func KubeProxyRules(r dataplane.Ruleset, table string) int { return OwnRules(r).RuleCount(table) }
