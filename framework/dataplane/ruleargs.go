package dataplane

import (
	"fmt"
	"strings"
)

// Args splits the rule into the words iptables-restore would see: words are separated by
// spaces and tabs, double quotes group words (`--comment "a b"` is two words, the second
// "a b"), and a backslash takes the next character literally, inside or outside quotes
// (iptables-save escapes `"` and `\` in a quoted string that way).
func (r Rule) Args() ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		inQuote bool
	)
	s := r.Spec
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("rule %q: a backslash at the end: expected a character after it", s)
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '"':
			inQuote = !inQuote
			inWord = true
		case (c == ' ' || c == '\t') && !inQuote:
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("rule %q: unterminated double quote: expected a closing \"", s)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

// RuleFromArgs joins words into a rule the way iptables-save prints them: a word that is
// empty or holds a blank, a quote or a backslash is put in double quotes, with `"` and `\`
// escaped. Args gives the words back.
func RuleFromArgs(args ...string) Rule {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\"\\'") {
			b.WriteString(a)
			continue
		}
		b.WriteByte('"')
		for j := 0; j < len(a); j++ {
			if a[j] == '"' || a[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(a[j])
		}
		b.WriteByte('"')
	}
	return Rule{Spec: b.String()}
}
