package differential

import (
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Line is one line of a comparison as the report classifies and prints it.
type Line struct {
	Section dataplane.Section `json:"section"`
	// Scope is the object the line belongs to: for ipvs the virtual server
	// ("TCP 10.96.0.1:443", or "timeouts"), for links the link name, for ipsets the set
	// name, for iptables the table.
	Scope string `json:"scope"`
	// Key names the line within its scope (dataplane.Difference.Key).
	Key  string         `json:"key,omitempty"`
	Kind dataplane.Kind `json:"kind"`
	// Text is the line after its mark, without trailing blanks.
	Text string `json:"text"`
}

// Marked tells whether the line is a difference, not context.
func (l Line) Marked() bool { return l.Kind != dataplane.Same }

// String prints the line as the diff did, without trailing blanks.
func (l Line) String() string { return l.Kind.Mark() + " " + l.Text }

// linesOf gives the report's lines of a comparison, context included.
func linesOf(ds dataplane.Differences) []Line {
	out := make([]Line, 0, len(ds))
	for _, d := range ds {
		out = append(out, Line{Section: d.Section, Scope: d.Scope, Key: d.Key, Kind: d.Kind, Text: strings.TrimRight(d.Line(), " ")})
	}
	return out
}

// kindOfMark is the kind a known-differences entry names by its mark.
func kindOfMark(mark string) (dataplane.Kind, bool) {
	for _, k := range dataplane.Kinds {
		if k.Mark() == mark {
			return k, true
		}
	}
	return "", false
}
