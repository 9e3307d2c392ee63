package dataplane

import (
	"fmt"
	"strings"
)

// The iptables text formats: `iptables-save` ("*nat", ":CHAIN POLICY [0:0]", "-A ...",
// "COMMIT") and `iptables [-t T] -S [CHAIN]` ("-P CHAIN POLICY", "-N CHAIN", "-A ...").
// Both print every chain's header first and then the rules chain by chain, in chain order.

// FormatIPTablesS prints one table, or one chain of it when chain is not empty, as
// `iptables -t table -S [chain]` does: "-P" for built-in chains, "-N" for user chains,
// then the rules. It returns "" when the table or chain is absent.
func FormatIPTablesS(r Ruleset, table, chain string) string {
	t, ok := r.Table(table)
	if !ok {
		return ""
	}
	chains := t.Chains
	if chain != "" {
		c, ok := t.Chain(chain)
		if !ok {
			return ""
		}
		chains = []Chain{c}
	}
	var b strings.Builder
	for _, c := range chains {
		if isUserChain(c) {
			b.WriteString("-N " + c.Name + "\n")
		} else {
			b.WriteString("-P " + c.Name + " " + c.Policy + "\n")
		}
	}
	writeRules(&b, chains)
	return b.String()
}

// FormatIPTablesSave prints the ruleset as iptables-save does, without its "# Generated"
// and "# Completed" comment lines and with zero counters.
func FormatIPTablesSave(r Ruleset) string {
	var b strings.Builder
	for _, t := range r.Tables {
		b.WriteString("*" + t.Name + "\n")
		for _, c := range t.Chains {
			policy := c.Policy
			if policy == "" {
				policy = "-"
			}
			b.WriteString(":" + c.Name + " " + policy + " [0:0]\n")
		}
		writeRules(&b, t.Chains)
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

func isUserChain(c Chain) bool { return c.Policy == "" || c.Policy == "-" }

func writeRules(b *strings.Builder, chains []Chain) {
	for _, c := range chains {
		for _, r := range c.Rules {
			b.WriteString("-A " + c.Name)
			if r.Spec != "" {
				b.WriteString(" " + r.Spec)
			}
			b.WriteString("\n")
		}
	}
}

// ParseIPTablesSave reads iptables-save (or ip6tables-save) output: comment lines, one
// block per table from "*name" to "COMMIT", chain lines with or without counters, and
// rules, with or without a leading "[packets:bytes]" (iptables-save -c).
func ParseIPTablesSave(text string) (Ruleset, error) {
	const format = "iptables-save"
	var r Ruleset
	var cur *Table
	var last textLine
	for _, l := range numberedLines(text) {
		last = l
		line := strings.TrimSpace(l.text)
		fail := func(err error) (Ruleset, error) {
			return Ruleset{}, &ParseError{Format: format, Line: l.n, Text: l.text, Err: err}
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "*"):
			if cur != nil {
				return fail(expected("COMMIT before the next table", quoteFound(line)))
			}
			name := line[1:]
			if !validChainName(name) {
				return fail(expected("a table name after *", quoteFound(name)))
			}
			if _, dup := r.Table(name); dup {
				return fail(expected("each table once", "a second *"+name))
			}
			r.Tables = append(r.Tables, Table{Name: name})
			cur = &r.Tables[len(r.Tables)-1]
		case line == "COMMIT":
			if cur == nil {
				return fail(expected("COMMIT only inside a table", "COMMIT"))
			}
			cur = nil
		case cur == nil:
			return fail(expected(`"*table" before chains and rules`, quoteFound(line)))
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if len(f) < 2 || len(f) > 3 || (len(f) == 3 && !isCounters(f[2])) {
				return fail(expected(`":CHAIN POLICY [packets:bytes]"`, quoteFound(line)))
			}
			if err := addChain(cur, f[0], f[1]); err != nil {
				return fail(err)
			}
		default:
			if strings.HasPrefix(line, "[") {
				end := strings.IndexByte(line, ']')
				if end < 0 || !isCounters(line[:end+1]) {
					return fail(expected(`"[packets:bytes]" counters`, quoteFound(line)))
				}
				line = strings.TrimSpace(line[end+1:])
			}
			if err := addRuleLine(cur, line); err != nil {
				return fail(err)
			}
		}
	}
	if cur != nil {
		return Ruleset{}, &ParseError{Format: format, Line: last.n, Text: last.text, Err: expected("COMMIT at the end of table "+cur.Name, "end of input")}
	}
	return r, nil
}

// ParseIPTablesS reads `iptables [-t table] -S [CHAIN]` output. The text does not name its
// table, so the caller does.
func ParseIPTablesS(text, table string) (Ruleset, error) {
	format := "iptables -t " + table + " -S"
	t := Table{Name: table}
	for _, l := range numberedLines(text) {
		line := strings.TrimSpace(l.text)
		if line == "" {
			continue
		}
		fail := func(err error) (Ruleset, error) {
			return Ruleset{}, &ParseError{Format: format, Line: l.n, Text: l.text, Err: err}
		}
		f := strings.Fields(line)
		var err error
		switch f[0] {
		case "-P":
			if len(f) != 3 {
				return fail(expected(`"-P CHAIN POLICY"`, quoteFound(line)))
			}
			if f[2] == "-" {
				return fail(expected("a policy such as ACCEPT or DROP", quoteFound(f[2])))
			}
			err = addChain(&t, f[1], f[2])
		case "-N":
			if len(f) != 2 {
				return fail(expected(`"-N CHAIN"`, quoteFound(line)))
			}
			err = addChain(&t, f[1], "-")
		case "-A":
			err = addRuleLine(&t, line)
		default:
			return fail(expected(`a "-P", "-N" or "-A" line`, quoteFound(f[0])))
		}
		if err != nil {
			return fail(err)
		}
	}
	return Ruleset{Tables: []Table{t}}, nil
}

func isCounters(s string) bool {
	if len(s) < 5 || s[0] != '[' || s[len(s)-1] != ']' {
		return false
	}
	p, b, ok := strings.Cut(s[1:len(s)-1], ":")
	_, err1 := parseDecimal("packets", p, 64)
	_, err2 := parseDecimal("bytes", b, 64)
	return ok && err1 == nil && err2 == nil
}

func addChain(t *Table, name, policy string) error {
	if !validChainName(name) {
		return expected("a chain name", quoteFound(name))
	}
	if !validChainName(policy) {
		return expected(`a policy ("ACCEPT", "DROP" or "-")`, quoteFound(policy))
	}
	if _, dup := t.Chain(name); dup {
		return expected("each chain declared once", "a second "+name)
	}
	t.Chains = append(t.Chains, Chain{Name: name, Policy: policy})
	return nil
}

// addRuleLine adds "-A CHAIN spec" to its chain, which must have been declared.
func addRuleLine(t *Table, line string) error {
	rest, ok := strings.CutPrefix(line, "-A ")
	if !ok {
		return expected(`a rule "-A CHAIN ..."`, quoteFound(line))
	}
	rest = strings.TrimLeft(rest, " \t")
	name, spec, _ := strings.Cut(rest, " ")
	spec = strings.TrimSpace(spec)
	for i := range t.Chains {
		if t.Chains[i].Name != name {
			continue
		}
		r := Rule{Spec: spec}
		if _, err := r.Args(); err != nil {
			return err
		}
		t.Chains[i].Rules = append(t.Chains[i].Rules, r)
		return nil
	}
	return expected("a rule of a declared chain", fmt.Sprintf("a rule of undeclared chain %q", name))
}

// validChainName accepts what iptables prints as a table, chain or policy name: a
// non-empty word without spaces or quotes (iptables limits names to 28 bytes).
func validChainName(s string) bool {
	if s == "" || len(s) > 28 || strings.HasPrefix(s, "-") && s != "-" {
		return false
	}
	return !strings.ContainsAny(s, " \t\"'\\[]:*#")
}
