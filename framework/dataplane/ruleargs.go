package dataplane

import (
	"errors"
	"fmt"
	"strings"
)

// Args splits the rule into the words iptables-restore would see (SplitWords).
func (r Rule) Args() ([]string, error) {
	words, err := SplitWords(r.Spec)
	if err != nil {
		return nil, fmt.Errorf("rule %q: %w", r.Spec, err)
	}
	var args []string
	for _, w := range words {
		args = append(args, w.Text)
	}
	return args, nil
}

// Word is one word of a rule line and the offset where it starts, so that a caller can
// keep the rest of the line verbatim.
type Word struct {
	Text  string
	Start int
}

// SplitWords splits a line into the words iptables-restore would see: words are separated
// by spaces and tabs, double quotes group words (`--comment "a b"` is two words, the
// second "a b"), and a backslash takes the next character literally, inside or outside
// quotes (iptables-save escapes `"` and `\` in a quoted string that way).
func SplitWords(line string) ([]Word, error) {
	var (
		out     []Word
		cur     strings.Builder
		start   = -1
		inQuote bool
	)
	begin := func(i int) {
		if start < 0 {
			start = i
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			if i+1 == len(line) {
				return nil, errors.New("a backslash at the end: expected a character after it")
			}
			begin(i)
			i++
			cur.WriteByte(line[i])
		case c == '"':
			begin(i)
			inQuote = !inQuote
		case (c == ' ' || c == '\t') && !inQuote:
			if start >= 0 {
				out = append(out, Word{Text: cur.String(), Start: start})
				cur.Reset()
				start = -1
			}
		default:
			begin(i)
			cur.WriteByte(c)
		}
	}
	if inQuote {
		return nil, errors.New("unterminated double quote: expected a closing \"")
	}
	if start >= 0 {
		out = append(out, Word{Text: cur.String(), Start: start})
	}
	return out, nil
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
