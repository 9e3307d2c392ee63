package proxy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// syncRules makes the family's iptables hold the desired ruleset in at most one
// iptables-restore --noflush transaction. The desired ruleset's user chains are the
// proxier's and are written in full; the rules it lists in built-in chains are the jumps
// that must be there, inserted only when missing, so other programs' rules in built-in
// chains stay as they are. actual is the ruleset read by a full sync (nil otherwise): an
// ordinary sync restores only when the desired rules changed since the last transaction.
func (r *Reconciler) syncRules(desired dataplane.Ruleset, actual *dataplane.Ruleset) {
	if len(desired.Tables) == 0 {
		return
	}
	key, err := planKey(desired)
	if err != nil {
		r.fail("render iptables-restore input", fmt.Sprintf("IPv%d", r.family), err)
		return
	}
	if actual == nil {
		if key == r.rules.applied {
			return
		}
		saved, err := r.k.IPTables.Save(r.ipFamily(), ruleTables(desired)...)
		if err != nil {
			r.rules.applied = ""
			r.fail("read iptables", fmt.Sprintf("IPv%d %s", r.family, strings.Join(ruleTables(desired), ",")), err)
			return
		}
		actual = &saved
	}
	plan, upToDate := r.planRules(desired, *actual, key)
	if upToDate {
		r.rules.applied = key
		return
	}
	input, err := plan.render()
	if err != nil {
		r.fail("render iptables-restore input", fmt.Sprintf("IPv%d", r.family), err)
		return
	}
	r.changes++
	if err := r.k.IPTables.Restore(r.ipFamily(), input); err != nil {
		r.rules.applied = ""
		r.fail("iptables-restore", fmt.Sprintf("IPv%d %s", r.family, strings.Join(ruleTables(desired), ",")), err)
		return
	}
	r.rules.applied = key
	// Remember how the kernel prints our chains back, so a later full sync does not take
	// iptables-save's spelling of a rule for a change and restore again.
	saved, err := r.k.IPTables.Save(r.ipFamily(), ruleTables(desired)...)
	if err != nil {
		r.log.V(2).Info("Could not read iptables back after restore", "err", err)
		r.rules.canonKey, r.rules.canon = "", nil
		return
	}
	r.rules.canonKey, r.rules.canon = key, ownChains(desired, saved)
}

// planKey renders what a desired ruleset asks for (its chains and the jumps it wants),
// to tell whether it changed since the last transaction.
func planKey(desired dataplane.Ruleset) (string, error) {
	var in restoreInput
	for _, dt := range desired.Tables {
		t := restoreTable{Name: dt.Name}
		for _, c := range dt.Chains {
			if dataplane.BuiltinChain(c.Name) {
				for _, rule := range c.Rules {
					t.Jumps = append(t.Jumps, chainRule{Chain: c.Name, Spec: rule.Spec})
				}
				continue
			}
			t.Chains = append(t.Chains, c)
		}
		in.Tables = append(in.Tables, t)
	}
	b, err := in.render()
	return string(b), err
}

// ownChains picks the desired state's user chains out of a saved ruleset.
func ownChains(desired dataplane.Ruleset, saved dataplane.Ruleset) map[tableChain][]dataplane.Rule {
	out := map[tableChain][]dataplane.Rule{}
	for _, dt := range desired.Tables {
		st, _ := saved.Table(dt.Name)
		for _, c := range dt.Chains {
			if dataplane.BuiltinChain(c.Name) {
				continue
			}
			if sc, ok := st.Chain(c.Name); ok {
				out[tableChain{dt.Name, c.Name}] = sc.Rules
			}
		}
	}
	return out
}

// planRules compares the desired ruleset with the kernel's and returns the transaction
// that fixes every difference, and whether there is none.
func (r *Reconciler) planRules(desired, actual dataplane.Ruleset, key string) (restoreInput, bool) {
	upToDate := true
	var plan restoreInput
	for _, dt := range desired.Tables {
		at, _ := actual.Table(dt.Name)
		pt := restoreTable{Name: dt.Name}
		wanted := map[string]bool{}
		for _, dc := range dt.Chains {
			if dataplane.BuiltinChain(dc.Name) {
				ac, _ := at.Chain(dc.Name)
				for _, rule := range dc.Rules {
					if !hasRule(ac.Rules, rule) {
						pt.Jumps = append(pt.Jumps, chainRule{Chain: dc.Name, Spec: rule.Spec})
					}
				}
				continue
			}
			wanted[dc.Name] = true
			pt.Chains = append(pt.Chains, dc)
			ac, ok := at.Chain(dc.Name)
			same := ok && (slices.Equal(ac.Rules, dc.Rules) ||
				(r.rules.canonKey == key && slices.Equal(ac.Rules, r.rules.canon[tableChain{dt.Name, dc.Name}])))
			if !same {
				upToDate = false
			}
		}
		// Chains of the proxier's that the desired state no longer has.
		var stale []string
		for _, ac := range at.Chains {
			if !wanted[ac.Name] && ownedChain(dt.Name, ac.Name) {
				stale = append(stale, ac.Name)
			}
		}
		if len(stale) > 0 {
			// The chains this transaction rewrites count with their new rules.
			view := dataplane.Table{Name: at.Name}
			for _, c := range at.Chains {
				if wanted[c.Name] {
					c, _ = dt.Chain(c.Name)
				}
				view.Chains = append(view.Chains, c)
			}
			var kept map[string]string
			pt.Deleted, pt.DeletedJumps, kept = removableChains(view, stale)
			for chain, user := range kept {
				r.log.Info("Leaving a chain the proxier no longer uses: another chain still jumps to it", "table", dt.Name, "chain", chain, "usedBy", user)
			}
		}
		if len(pt.Jumps) > 0 || len(pt.Deleted) > 0 {
			upToDate = false
		}
		plan.Tables = append(plan.Tables, pt)
	}
	return plan, upToDate
}

// hasRule tells whether a chain holds a rule, comparing words with quotes removed
// (iptables-save quotes a comment only when it has spaces).
func hasRule(rules []dataplane.Rule, want dataplane.Rule) bool {
	w, werr := want.Args()
	for _, r := range rules {
		if r.Spec == want.Spec {
			return true
		}
		if g, err := r.Args(); err == nil && werr == nil && slices.Equal(g, w) {
			return true
		}
	}
	return false
}

// removableChains works out which candidate chains of a table can be deleted: a chain
// another chain still jumps to cannot, unless that other chain is a built-in one (the jump
// is deleted with it) or is being deleted too. It returns the chains to delete, the jumps
// in built-in chains to delete first, and the chains kept with a chain that uses each.
func removableChains(t dataplane.Table, candidates []string) (remove []string, jumps []chainRule, kept map[string]string) {
	del := map[string]bool{}
	for _, c := range candidates {
		if _, ok := t.Chain(c); ok {
			del[c] = true
		}
	}
	kept = map[string]string{}
	for changed := true; changed; {
		changed = false
		for _, c := range t.Chains {
			if del[c.Name] || dataplane.BuiltinChain(c.Name) {
				continue
			}
			for _, rule := range c.Rules {
				if target := ruleTarget(rule.Spec); del[target] {
					delete(del, target)
					kept[target] = c.Name
					changed = true
				}
			}
		}
	}
	for _, c := range t.Chains {
		if !dataplane.BuiltinChain(c.Name) {
			continue
		}
		for _, rule := range c.Rules {
			if del[ruleTarget(rule.Spec)] {
				jumps = append(jumps, chainRule{Chain: c.Name, Spec: rule.Spec})
			}
		}
	}
	for _, c := range t.Chains {
		if del[c.Name] {
			remove = append(remove, c.Name)
		}
	}
	return remove, jumps, kept
}
