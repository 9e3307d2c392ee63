package nlbatch

import (
	"fmt"
	"strings"
)

// maxListedFailures bounds the failures an error message spells out; the error's list
// keeps them all.
const maxListedFailures = 5

// Failures is the message of a batch call's error: the header, then the first few
// failures ("a; b; ...; and N more").
func Failures[E error](header string, failed []E) string {
	var b strings.Builder
	b.WriteString(header)
	for i, f := range failed {
		if i == maxListedFailures {
			fmt.Fprintf(&b, "; and %d more", len(failed)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Errors returns the failures as the []error of an Unwrap method, so that errors.Is finds
// a cause such as syscall.EEXIST in any of them.
func Errors[E error](failed []E) []error {
	out := make([]error, len(failed))
	for i, f := range failed {
		out[i] = f
	}
	return out
}
