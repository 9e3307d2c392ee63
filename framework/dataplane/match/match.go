// Package match holds Gomega matchers over a node's dataplane (dataplane.State, or one part
// of it). A failure message prints the node's relevant table the way ipvsadm -Ln,
// ip addr, ipset save or iptables -S would, with "> " in front of the line closest to what
// was expected, so a failing spec reads like a person's look at the node.
package match

import (
	"fmt"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// stateOf accepts a State or a pointer to one.
func stateOf(actual any) (dataplane.State, bool) {
	switch v := actual.(type) {
	case dataplane.State:
		return v, true
	case *dataplane.State:
		if v != nil {
			return *v, true
		}
	}
	return dataplane.State{}, false
}

// partOf is the part of the dataplane a matcher reads (matcher names it in errors): the
// part of a dataplane.State, which must have been read (what and option say what and
// how), or the part itself.
func partOf[T any](actual any, matcher, what, option string, part func(dataplane.State) []T) ([]T, string, error) {
	if s, ok := stateOf(actual); ok {
		xs := part(s)
		if len(xs) == 0 {
			return nil, s.Node, fmt.Errorf("the state%s has no %s: read them with kernel.ReadOptions{%s: true}", onNode(s.Node), what, option)
		}
		return xs, s.Node, nil
	}
	if xs, ok := actual.([]T); ok {
		return xs, "", nil
	}
	return nil, "", fmt.Errorf("%s: expected a dataplane.State or %T, got %T", matcher, []T(nil), actual)
}

// nthLineWith finds the line of the i-th (0-based) of the lines starting with prefix; -1
// when there is no such line.
func nthLineWith(lines []string, prefix string, i int) int {
	if i < 0 {
		return -1
	}
	for j, l := range lines {
		if strings.HasPrefix(l, prefix) {
			if i == 0 {
				return j
			}
			i--
		}
	}
	return -1
}

// onNode names the node in a message when the state knows it.
func onNode(node string) string {
	if node == "" {
		return ""
	}
	return fmt.Sprintf(" on node %q", node)
}

// maxListingLines keeps a failure message readable when a table is huge (thousands of
// iptables-mode rules); the window is centred on the first marked line.
const maxListingLines = 300

// listing indents lines by two spaces and puts "> " in front of the marked ones.
func listing(lines []string, marked ...int) string {
	isMarked := map[int]bool{}
	for _, m := range marked {
		if m >= 0 {
			isMarked[m] = true
		}
	}
	start, end := 0, len(lines)
	if len(lines) > maxListingLines {
		if len(marked) > 0 && marked[0] > maxListingLines/2 {
			start = min(marked[0]-maxListingLines/2, len(lines)-maxListingLines)
		}
		end = start + maxListingLines
	}
	var b strings.Builder
	if start > 0 {
		fmt.Fprintf(&b, "  ... (%d lines above)\n", start)
	}
	for i := start; i < end; i++ {
		mark := "  "
		if isMarked[i] {
			mark = "> "
		}
		b.WriteString(mark + lines[i] + "\n")
	}
	if end < len(lines) {
		fmt.Fprintf(&b, "  ... (%d lines below)\n", len(lines)-end)
	}
	return b.String()
}

func splitLines(text string) []string {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

func indent(lines []string, prefix string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
