package dataplane

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// seedFuzz adds every matching testdata file to a fuzz corpus.
func seedFuzz(f *testing.F, globs ...string) {
	for _, g := range globs {
		for _, name := range fixture.Glob(f, g) {
			f.Add(fixture.Read(f, name))
		}
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// badInput is one malformed input and where its parser must point.
type badInput struct {
	name string
	text string
	line int    // the 1-based line the error must name (0: the input as a whole)
	want string // a piece of the error message
}

// mustParse reads text with parse, which must accept it.
func mustParse[T any](t testing.TB, parse func(string) (T, error), text string) T {
	t.Helper()
	v, err := parse(text)
	if err != nil {
		t.Fatalf("the parser refused the text: %v", err)
	}
	return v
}

// dualStackList is the dual-stack table as ipvsadm -Ln lists it; the table's captures in
// other formats hold the same services.
func dualStackList(t testing.TB) IPVS {
	t.Helper()
	return mustParse(t, ParseIPVSAdm, fixture.Read(t, "ipvsadm/Ln-dual-stack.txt"))
}

// checkReadsAs checks that parse reads text as want; what names the text in failures.
func checkReadsAs[T any](t *testing.T, what string, parse func(string) (T, error), text string, want T) {
	t.Helper()
	got, err := parse(text)
	if err != nil {
		t.Fatalf("%s does not parse: %v\n%s", what, err, text)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s reads as\n %+v\nwant\n %+v\ntext:\n%s", what, got, want, text)
	}
}

// checkBadInput runs each malformed input through parse, which must refuse it with a
// *ParseError of the given format (see checkParseError).
func checkBadInput[T any](t *testing.T, format string, parse func(string) (T, error), tests []badInput) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parse(tc.text)
			if err == nil {
				t.Fatalf("the %s parser succeeded with %+v, want an error", format, v)
			}
			checkParseError(t, err, format, tc)
		})
	}
}

// keyOrder lists the services in order, each with its real servers.
func keyOrder(v IPVS) []string {
	var out []string
	for _, vs := range v.Services {
		line := vs.Key().String()
		for _, rs := range vs.RealServers {
			line += " > " + rs.Key().String()
		}
		out = append(out, line)
	}
	return out
}

// parseIPAddrJSONText is ParseIPAddrJSON over text, the way the other parsers read.
func parseIPAddrJSONText(text string) ([]Link, error) { return ParseIPAddrJSON([]byte(text)) }

// parseFilterS reads `iptables -t filter -S`.
func parseFilterS(text string) (Ruleset, error) { return ParseIPTablesS(text, "filter") }

// checkParseError asserts that err is a *ParseError for the given format, line and text.
func checkParseError(t *testing.T, err error, format string, tc badInput) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want a *ParseError", err, err)
	}
	if pe.Format != format {
		t.Errorf("Format = %q, want %q", pe.Format, format)
	}
	if pe.Line != tc.line {
		t.Errorf("Line = %d, want %d (error: %v)", pe.Line, tc.line, err)
	}
	if tc.line > 0 {
		lines := strings.Split(tc.text, "\n")
		if want := strings.TrimSuffix(lines[tc.line-1], "\r"); pe.Text != want {
			t.Errorf("Text = %q, want line %d %q", pe.Text, tc.line, want)
		}
	}
	if !strings.Contains(err.Error(), tc.want) {
		t.Errorf("error %q does not mention %q", err, tc.want)
	}
	if pe.Unwrap() == nil {
		t.Errorf("Unwrap() = nil, want the cause")
	}
}
