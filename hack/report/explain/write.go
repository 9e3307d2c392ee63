package explain

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/hack/report/explain/paste"
)

// noteColumn is where the "# ..." notes start when the line is shorter, as a person would
// annotate a paste (the seed's own notes look like that).
const noteColumn = 48

// Write prints the report for a student: each node's annotated lines, then the findings,
// then the skipped lines.
func (r Report) Write(w io.Writer) error {
	var b strings.Builder
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, ">>> %s\n", n.Name)
		for _, note := range n.Notes {
			fmt.Fprintf(&b, "      note: %s\n", note)
		}
		for _, a := range n.Lines {
			line := fmt.Sprintf("%5d  %s", a.Line, a.Text)
			if a.Note != "" {
				if pad := noteColumn - len(line); pad > 0 {
					line += strings.Repeat(" ", pad)
				}
				line += "  # " + a.Note
			}
			b.WriteString(line + "\n")
		}
		for _, name := range n.Passed {
			fmt.Fprintf(&b, "      ok: %s\n", name)
		}
		b.WriteString("\n")
	}
	total := 0
	for _, n := range r.Nodes {
		total += len(n.Findings)
	}
	fmt.Fprintf(&b, "findings: %d\n", total)
	for _, n := range r.Nodes {
		for _, f := range n.Findings {
			where := n.Name
			if f.Line > 0 {
				where += ", line " + strconv.Itoa(f.Line)
			}
			fmt.Fprintf(&b, "  [%s] %s\n", where, f.Text)
		}
	}
	b.WriteString("\n")
	writeSkipped(&b, r.Skipped)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSkipped prints "skipped lines: N (...)" with the count by reason, then each line a
// parser refused with its reason. Lines that are no tool's output (prose, kubectl) are
// only counted, with their line numbers.
func writeSkipped(b *strings.Builder, skipped []paste.Line) {
	type group struct {
		reason string
		lines  []int
	}
	var groups []group
	for _, l := range skipped {
		reason := l.Reason
		switch {
		case l.Format != "":
			reason = "refused by the " + string(l.Format) + " parser"
		case strings.HasPrefix(reason, "output of `"):
			reason = "output of other commands (" + firstWord(reason) + ")"
		}
		i := slices.IndexFunc(groups, func(g group) bool { return g.reason == reason })
		if i < 0 {
			groups = append(groups, group{reason: reason})
			i = len(groups) - 1
		}
		groups[i].lines = append(groups[i].lines, l.N)
	}
	var parts []string
	for _, g := range groups {
		parts = append(parts, fmt.Sprintf("%d %s: %s", len(g.lines), g.reason, ranges(g.lines)))
	}
	fmt.Fprintf(b, "skipped lines: %d", len(skipped))
	if len(parts) > 0 {
		fmt.Fprintf(b, " (%s)", strings.Join(parts, "; "))
	}
	b.WriteString("\n")
	for _, l := range skipped {
		if l.Format != "" {
			fmt.Fprintf(b, "%5d  %s\n       ^ %s\n", l.N, strings.TrimSpace(l.Text), l.Reason)
		}
	}
}

// ranges writes sorted line numbers compactly: "1-3, 7, 9-10".
func ranges(ns []int) string {
	var parts []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(ns[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ns[i], ns[j]))
		}
		i = j + 1
	}
	if len(ns) == 1 {
		return "line " + parts[0]
	}
	return "lines " + strings.Join(parts, ", ")
}

// firstWord is the command name in an "output of `cmd ...`" reason.
func firstWord(reason string) string {
	cmd := strings.TrimPrefix(reason, "output of `")
	name, _, _ := strings.Cut(cmd, " ")
	return strings.TrimSuffix(name, "`,")
}
