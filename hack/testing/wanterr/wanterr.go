// Package wanterr checks a table test's error against the text its case wants. Every tree's
// tests share it (it sits outside internal/ so that proxy/, framework/ and cmd/ reach it), so
// the check and its failure message are written once.
package wanterr

import (
	"strings"
	"testing"
)

// Check fails t unless err is what want asks for: no error when want is empty, else one whose
// message contains want. It reports whether there is a result left to check.
func Check(t testing.TB, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		return true
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one containing %q", err, want)
	}
	return false
}
