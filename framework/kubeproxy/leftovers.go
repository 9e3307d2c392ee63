package kubeproxy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// iptables-mode chains. Switching a running node from iptables to ipvs (the seed's method 2)
// leaves them behind: the ipvs proxier only cleans up nftables at start, and rewrites the
// shared chains (nat KUBE-SERVICES, KUBE-POSTROUTING, KUBE-MARK-MASQ, filter KUBE-FORWARD,
// KUBE-PROXY-FIREWALL) without touching the rest. Taken from pkg/proxy/iptables.
var (
	iptablesModePrefixes = []string{"KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-FW-"}
	iptablesModeChains   = map[string][]string{
		"nat":    {"KUBE-NODEPORTS", "KUBE-PROXY-CANARY"},
		"filter": {"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-CANARY"},
		"mangle": {"KUBE-PROXY-CANARY"},
	}
	// The iptables proxier's jumps into a chain both proxiers share carry this comment
	// (the ipvs proxier's say "kube-proxy firewall rules").
	iptablesModeJumpComment = `--comment "kubernetes load balancer firewall"`
)

// Leftover is an iptables-mode chain on a node whose kube-proxy runs in ipvs mode, with its
// rules and the rules elsewhere that jump to it.
type Leftover struct {
	Table, Chain string
	Rules, Jumps int
}

func (l Leftover) String() string {
	return fmt.Sprintf("%s/%s (%d rules, %d jumps to it)", l.Table, l.Chain, l.Rules, l.Jumps)
}

// isIPTablesModeChain tells whether a chain of a table is one only the iptables proxier writes.
func isIPTablesModeChain(table, chain string) bool {
	for _, p := range iptablesModePrefixes {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return slices.Contains(iptablesModeChains[table], chain)
}

// FindLeftovers lists the iptables-mode chains in a ruleset.
func FindLeftovers(r dataplane.Ruleset) []Leftover {
	var out []Leftover
	for _, t := range r.Tables {
		for _, c := range t.Chains {
			if !isIPTablesModeChain(t.Name, c.Name) {
				continue
			}
			out = append(out, Leftover{Table: t.Name, Chain: c.Name, Rules: len(c.Rules), Jumps: jumpsTo(t, c.Name)})
		}
	}
	return out
}

// LeftoverRules counts the rules of a table that belong to leftovers: the rules of
// leftover chains and the rules of other chains that jump into them. They are what a rule
// budget must not be charged for before cleanup.
func LeftoverRules(r dataplane.Ruleset, table string) int {
	t, ok := r.Table(table)
	if !ok {
		return 0
	}
	n := 0
	for _, c := range t.Chains {
		if isIPTablesModeChain(table, c.Name) {
			n += len(c.Rules)
			continue
		}
		for _, rule := range c.Rules {
			if isLeftoverJump(table, rule.Spec) {
				n++
			}
		}
	}
	return n
}

func isLeftoverJump(table, spec string) bool {
	return isIPTablesModeChain(table, jumpTarget(spec)) || strings.Contains(spec, iptablesModeJumpComment)
}

func jumpsTo(t dataplane.Table, chain string) int {
	n := 0
	for _, c := range t.Chains {
		if c.Name == chain {
			continue
		}
		for _, r := range c.Rules {
			if jumpTarget(r.Spec) == chain {
				n++
			}
		}
	}
	return n
}

// jumpTarget is the chain after -j (or -g) in a rule spec.
func jumpTarget(spec string) string {
	f := strings.Fields(spec)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-j" || f[i] == "--jump" || f[i] == "-g" || f[i] == "--goto" {
			return f[i+1]
		}
	}
	return ""
}
