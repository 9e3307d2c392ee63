package dataplane

import (
	"fmt"
	"unicode/utf8"
)

// ParseError reports a line of tool output that a parser could not read. Format names the
// text format as a person would type the command ("ipvsadm -Ln", "iptables-save"), Line is
// 1-based (0 when the input is a single value, such as one ipset member, or when the
// problem is the input as a whole), Text is the offending line or value.
type ParseError struct {
	Format string
	Line   int
	Text   string
	Err    error
}

// maxErrorText bounds how much of the offending line an error message repeats: a stray
// binary blob must not flood a test failure.
const maxErrorText = 200

func (e *ParseError) Error() string {
	text := e.Text
	if len(text) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "..."
	}
	if e.Line == 0 {
		if e.Text == "" {
			return fmt.Sprintf("%s: %v", e.Format, e.Err)
		}
		return fmt.Sprintf("%s: %q: %v", e.Format, text, e.Err)
	}
	return fmt.Sprintf("%s: line %d: %q: %v", e.Format, e.Line, text, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// expected builds the "expected X; found Y" error every parser reports.
func expected(what string, found any) error {
	return fmt.Errorf("expected %s; found %v", what, found)
}

// quoteFound renders an offending token for an error message.
func quoteFound(s string) string {
	if s == "" {
		return "nothing"
	}
	return fmt.Sprintf("%q", s)
}
