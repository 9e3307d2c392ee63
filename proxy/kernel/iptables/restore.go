package iptables

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// builtinChains lists each table's built-in chains in the order iptables-save prints them.
var builtinChains = map[string][]string{
	"raw":    {"PREROUTING", "OUTPUT"},
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
}

// tableOrder is the order the fake lists tables in.
var tableOrder = []string{"raw", "mangle", "nat", "filter"}

// standardTargets are the verdicts; extensionTargets the target extensions iptables loads
// when no chain of that name exists, with the only table each is valid in ("" for any).
var (
	standardTargets  = []string{"ACCEPT", "DROP", "RETURN", "QUEUE"}
	extensionTargets = map[string]string{
		"MASQUERADE": "nat", "SNAT": "nat", "DNAT": "nat", "REDIRECT": "nat", "NETMAP": "nat",
		"NOTRACK": "raw", "CT": "raw",
		"MARK": "", "CONNMARK": "", "REJECT": "", "LOG": "", "NFLOG": "", "NFQUEUE": "",
		"TCPMSS": "", "TPROXY": "", "CHECKSUM": "", "CLASSIFY": "", "TRACE": "", "SET": "",
		"AUDIT": "", "DSCP": "", "TOS": "", "TTL": "", "HL": "", "SECMARK": "", "CONNSECMARK": "",
		"TEE": "", "IDLETIMER": "", "SYNPROXY": "", "HMARK": "",
	}
)

// maxChainName is iptables' limit (XT_EXTENSION_MAXNAMELEN - 1).
const maxChainName = 28

// emptyRuleset is a fresh kernel's ruleset: every table with its built-in chains, ACCEPT.
func emptyRuleset() dataplane.Ruleset {
	var r dataplane.Ruleset
	for _, name := range tableOrder {
		t := dataplane.Table{Name: name}
		for _, c := range builtinChains[name] {
			t.Chains = append(t.Chains, dataplane.Chain{Name: c, Policy: "ACCEPT"})
		}
		r.Tables = append(r.Tables, t)
	}
	return r
}

func cloneRuleset(r dataplane.Ruleset) dataplane.Ruleset {
	out := dataplane.Ruleset{Tables: make([]dataplane.Table, len(r.Tables))}
	for i, t := range r.Tables {
		out.Tables[i] = dataplane.Table{Name: t.Name, Chains: make([]dataplane.Chain, len(t.Chains))}
		for j, c := range t.Chains {
			c.Rules = slices.Clone(c.Rules)
			out.Tables[i].Chains[j] = c
		}
	}
	return out
}

// restorer applies iptables-restore --noflush input to a ruleset, line by line, with the
// checks iptables and the kernel make. It works on a copy: the caller keeps the result
// only when the whole input applied.
type restorer struct {
	rs dataplane.Ruleset
	// setExists, when set, is asked about every "-m set --match-set NAME": the kernel
	// refuses rules matching sets that do not exist.
	setExists func(name string) bool

	table *dataplane.Table // the table between "*name" and COMMIT
}

// lineError is a refusal at one line; the caller turns it into a RestoreError.
type lineError struct {
	line int
	text string
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func (r *restorer) apply(input string) error {
	lines := strings.Split(input, "\n")
	last := 0
	for i, raw := range lines {
		n := i + 1
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		last = n
		if err := r.applyLine(line); err != nil {
			return &lineError{line: n, text: raw, msg: err.Error()}
		}
	}
	if r.table != nil {
		return &lineError{line: last + 1, msg: fmt.Sprintf("COMMIT expected at the end of table %s", r.table.Name)}
	}
	return nil
}

func (r *restorer) applyLine(line string) error {
	switch {
	case strings.HasPrefix(line, "*"):
		if r.table != nil {
			return fmt.Errorf("table %s has no COMMIT before %s", r.table.Name, line)
		}
		name := line[1:]
		i := slices.IndexFunc(r.rs.Tables, func(t dataplane.Table) bool { return t.Name == name })
		if i < 0 {
			return fmt.Errorf("table %q does not exist: expected one of %s", name, strings.Join(tableOrder, ", "))
		}
		r.table = &r.rs.Tables[i]
		return nil
	case line == "COMMIT":
		if r.table == nil {
			return fmt.Errorf("COMMIT outside a table")
		}
		r.table = nil
		return nil
	case r.table == nil:
		return fmt.Errorf("expected *table before %q", line)
	case strings.HasPrefix(line, ":"):
		return r.declareChain(strings.Fields(line[1:]))
	}
	if strings.HasPrefix(line, "[") {
		end := strings.IndexByte(line, ']')
		if end < 0 {
			return fmt.Errorf("unterminated [packets:bytes] counters")
		}
		line = strings.TrimSpace(line[end+1:])
	}
	words, err := dataplane.SplitWords(line)
	if err != nil {
		return fmt.Errorf("%q: %w", line, err)
	}
	if len(words) == 0 {
		return fmt.Errorf("counters without a command")
	}
	return r.command(line, words)
}

// declareChain handles ":CHAIN POLICY [counters]": with --noflush a user chain is created
// or, when it exists, flushed; a built-in chain keeps its rules and takes the policy.
func (r *restorer) declareChain(f []string) error {
	if len(f) < 2 {
		return fmt.Errorf(`expected ":CHAIN POLICY [packets:bytes]"`)
	}
	name, policy := f[0], f[1]
	if err := checkChainName(name); err != nil {
		return err
	}
	if r.builtin(name) {
		if policy != "-" {
			return r.setPolicy(name, policy)
		}
		return nil
	}
	if policy != "-" {
		return fmt.Errorf("can't set policy %s on %s: it is not a built-in chain", policy, name)
	}
	if c := r.chain(name); c != nil {
		c.Rules = nil
		return nil
	}
	r.addChain(name)
	return nil
}

func (r *restorer) builtin(name string) bool {
	return slices.Contains(builtinChains[r.table.Name], name)
}

func (r *restorer) chain(name string) *dataplane.Chain {
	for i := range r.table.Chains {
		if r.table.Chains[i].Name == name {
			return &r.table.Chains[i]
		}
	}
	return nil
}

// addChain adds a user chain where iptables-save lists it: after the built-in chains,
// user chains sorted by name.
func (r *restorer) addChain(name string) {
	t := r.table
	i := len(t.Chains)
	for j, c := range t.Chains {
		if !slices.Contains(builtinChains[t.Name], c.Name) && c.Name > name {
			i = j
			break
		}
	}
	t.Chains = slices.Insert(t.Chains, i, dataplane.Chain{Name: name, Policy: "-"})
}

func (r *restorer) setPolicy(chain, policy string) error {
	if policy != "ACCEPT" && policy != "DROP" {
		return fmt.Errorf("bad policy %q for %s: expected ACCEPT or DROP", policy, chain)
	}
	c := r.chain(chain)
	if c == nil || !r.builtin(chain) {
		return fmt.Errorf("can't set policy on %s: it is not a built-in chain of table %s", chain, r.table.Name)
	}
	c.Policy = policy
	return nil
}

func checkChainName(name string) error {
	if name == "" || len(name) > maxChainName || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "!") {
		return fmt.Errorf("invalid chain name %q: expected 1 to %d characters not starting with - or !", name, maxChainName)
	}
	return nil
}

var commands = map[string]string{
	"-A": "-A", "--append": "-A", "-I": "-I", "--insert": "-I", "-D": "-D", "--delete": "-D",
	"-R": "-R", "--replace": "-R", "-N": "-N", "--new-chain": "-N", "-X": "-X", "--delete-chain": "-X",
	"-F": "-F", "--flush": "-F", "-P": "-P", "--policy": "-P", "-Z": "-Z", "--zero": "-Z",
	"-E": "-E", "--rename-chain": "-E",
}

// command applies one rule line: words[0] is the command, words[1] its chain.
func (r *restorer) command(line string, words []dataplane.Word) error {
	for _, w := range words {
		if w.Text == "-t" || w.Text == "--table" {
			return fmt.Errorf("the -t option cannot be used in iptables-restore input")
		}
	}
	cmd, ok := commands[words[0].Text]
	if !ok {
		return fmt.Errorf("unknown command %q: expected -A, -I, -D, -R, -N, -X, -F, -P, -Z or -E", words[0].Text)
	}
	args := words[1:]
	chainName := ""
	if len(args) > 0 {
		chainName = args[0].Text
	}
	needChain := func() (*dataplane.Chain, error) {
		if chainName == "" {
			return nil, fmt.Errorf("%s needs a chain", cmd)
		}
		c := r.chain(chainName)
		if c == nil {
			return nil, fmt.Errorf("no chain %s in table %s", chainName, r.table.Name)
		}
		return c, nil
	}
	// spec is the rule text after the chain and, when skip is set, a rule number.
	spec := func(skip int) string {
		if len(args) <= 1+skip {
			return ""
		}
		return strings.TrimSpace(line[args[1+skip].Start:])
	}
	number := func() (int, bool) {
		if len(args) < 2 {
			return 0, false
		}
		n, err := strconv.Atoi(args[1].Text)
		return n, err == nil
	}

	switch cmd {
	case "-A":
		c, err := needChain()
		if err != nil {
			return err
		}
		rule, err := r.checkRule(spec(0))
		if err != nil {
			return err
		}
		c.Rules = append(c.Rules, rule)
	case "-I":
		c, err := needChain()
		if err != nil {
			return err
		}
		pos, skip := 1, 0
		if n, ok := number(); ok {
			pos, skip = n, 1
		}
		if pos < 1 || pos > len(c.Rules)+1 {
			return fmt.Errorf("index of insertion %d too big: %s has %d rules", pos, c.Name, len(c.Rules))
		}
		rule, err := r.checkRule(spec(skip))
		if err != nil {
			return err
		}
		c.Rules = slices.Insert(c.Rules, pos-1, rule)
	case "-R":
		c, err := needChain()
		if err != nil {
			return err
		}
		n, ok := number()
		if !ok {
			return fmt.Errorf("-R %s needs a rule number", c.Name)
		}
		if n < 1 || n > len(c.Rules) {
			return fmt.Errorf("index of replacement %d too big: %s has %d rules", n, c.Name, len(c.Rules))
		}
		rule, err := r.checkRule(spec(1))
		if err != nil {
			return err
		}
		c.Rules[n-1] = rule
	case "-D":
		c, err := needChain()
		if err != nil {
			return err
		}
		if n, ok := number(); ok && len(args) == 2 {
			if n < 1 || n > len(c.Rules) {
				return fmt.Errorf("index of deletion %d too big: %s has %d rules", n, c.Name, len(c.Rules))
			}
			c.Rules = slices.Delete(c.Rules, n-1, n)
			return nil
		}
		i, err := findRule(c.Rules, spec(0))
		if err != nil {
			return err
		}
		if i < 0 {
			return fmt.Errorf("bad rule (does a matching rule exist in %s?)", c.Name)
		}
		c.Rules = slices.Delete(c.Rules, i, i+1)
	case "-N":
		if err := checkChainName(chainName); err != nil {
			return err
		}
		if r.chain(chainName) != nil {
			return fmt.Errorf("chain %s already exists", chainName)
		}
		r.addChain(chainName)
	case "-X":
		if chainName == "" {
			for _, c := range slices.Clone(r.table.Chains) {
				if !r.builtin(c.Name) {
					if err := r.deleteChain(c.Name); err != nil {
						return err
					}
				}
			}
			return nil
		}
		return r.deleteChain(chainName)
	case "-F":
		if chainName == "" {
			for i := range r.table.Chains {
				r.table.Chains[i].Rules = nil
			}
			return nil
		}
		c, err := needChain()
		if err != nil {
			return err
		}
		c.Rules = nil
	case "-P":
		if len(args) != 2 {
			return fmt.Errorf("expected -P CHAIN POLICY")
		}
		return r.setPolicy(chainName, args[1].Text)
	case "-Z":
		// Counters are not modelled.
	case "-E":
		if len(args) != 2 {
			return fmt.Errorf("expected -E OLD-CHAIN NEW-CHAIN")
		}
		return r.renameChain(chainName, args[1].Text)
	}
	return nil
}

// userChain returns the user chain name that -X or -E (verb "delete" or "rename") is to
// change, or why it cannot: it is missing or built in.
func (r *restorer) userChain(verb, name string) (*dataplane.Chain, error) {
	c := r.chain(name)
	switch {
	case c == nil:
		return nil, fmt.Errorf("no chain %s in table %s", name, r.table.Name)
	case r.builtin(name):
		return nil, fmt.Errorf("cannot %s built-in chain %s", verb, name)
	}
	return c, nil
}

func (r *restorer) deleteChain(name string) error {
	c, err := r.userChain("delete", name)
	switch {
	case err != nil:
		return err
	case len(c.Rules) > 0:
		return fmt.Errorf("cannot delete chain %s: it still has %d rules (directory not empty)", name, len(c.Rules))
	}
	if from := r.references(name); len(from) > 0 {
		return fmt.Errorf("cannot delete chain %s: rules in %s jump to it (too many links)", name, strings.Join(from, ", "))
	}
	r.table.Chains = slices.DeleteFunc(r.table.Chains, func(c dataplane.Chain) bool { return c.Name == name })
	return nil
}

func (r *restorer) renameChain(old, name string) error {
	c, err := r.userChain("rename", old)
	switch {
	case err != nil:
		return err
	case r.chain(name) != nil:
		return fmt.Errorf("chain %s already exists", name)
	}
	if err := checkChainName(name); err != nil {
		return err
	}
	rules := c.Rules
	r.table.Chains = slices.DeleteFunc(r.table.Chains, func(c dataplane.Chain) bool { return c.Name == old })
	r.addChain(name)
	r.chain(name).Rules = rules
	// The kernel links jumps to the chain itself, so they follow the new name.
	for i := range r.table.Chains {
		for j, rule := range r.table.Chains[i].Rules {
			if target, _ := jumpTarget(rule); target == old {
				r.table.Chains[i].Rules[j] = renameTarget(rule, old, name)
			}
		}
	}
	return nil
}

// references lists the chains holding rules that jump or go to name.
func (r *restorer) references(name string) []string {
	var from []string
	for _, c := range r.table.Chains {
		for _, rule := range c.Rules {
			if t, _ := jumpTarget(rule); t == name && !slices.Contains(from, c.Name) {
				from = append(from, c.Name)
			}
		}
	}
	return from
}

// checkRule refuses rules the kernel would: a jump to a chain that does not exist (and is
// no known target), a target in the wrong table, a match on a set that does not exist.
func (r *restorer) checkRule(spec string) (dataplane.Rule, error) {
	rule := dataplane.Rule{Spec: spec}
	args, err := rule.Args()
	if err != nil {
		return rule, err
	}
	target, goTo := jumpTarget(rule)
	switch {
	case target == "", slices.Contains(standardTargets, target):
	case r.chain(target) != nil:
		if r.builtin(target) {
			return rule, fmt.Errorf("cannot jump to built-in chain %s", target)
		}
	case goTo:
		return rule, fmt.Errorf("goto target %s is not a chain of table %s", target, r.table.Name)
	default:
		only, ok := extensionTargets[target]
		if !ok {
			return rule, fmt.Errorf("couldn't load target %q: no chain of that name in table %s and no such target extension", target, r.table.Name)
		}
		if only != "" && only != r.table.Name {
			return rule, fmt.Errorf("target %s is only valid in table %s, not %s", target, only, r.table.Name)
		}
	}
	if r.setExists != nil {
		for i, a := range args {
			if a == "--match-set" && i+1 < len(args) && !r.setExists(args[i+1]) {
				return rule, fmt.Errorf("set %s doesn't exist", args[i+1])
			}
		}
	}
	return rule, nil
}

// jumpTarget returns the -j/--jump or -g/--goto target of a rule and whether it is a goto.
func jumpTarget(rule dataplane.Rule) (string, bool) {
	args, err := rule.Args()
	if err != nil {
		return "", false
	}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-j", "--jump":
			return args[i+1], false
		case "-g", "--goto":
			return args[i+1], true
		}
	}
	return "", false
}

func renameTarget(rule dataplane.Rule, old, name string) dataplane.Rule {
	words, err := dataplane.SplitWords(rule.Spec)
	if err != nil {
		return rule
	}
	for i := 0; i+1 < len(words); i++ {
		switch words[i].Text {
		case "-j", "--jump", "-g", "--goto":
			w := words[i+1]
			if w.Text == old {
				return dataplane.Rule{Spec: rule.Spec[:w.Start] + name + rule.Spec[w.Start+len(old):]}
			}
		}
	}
	return rule
}

// findRule finds the first rule whose words equal those of spec: iptables matches a rule
// to delete by what it does, not by how it was spelled.
func findRule(rules []dataplane.Rule, spec string) (int, error) {
	want, err := dataplane.Rule{Spec: spec}.Args()
	if err != nil {
		return -1, err
	}
	for i, rule := range rules {
		got, err := rule.Args()
		if err == nil && slices.Equal(got, want) {
			return i, nil
		}
	}
	return -1, nil
}
