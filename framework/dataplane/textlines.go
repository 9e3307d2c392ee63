package dataplane

import (
	"iter"
	"strings"
)

// textLine is one line of tool output with its 1-based number.
type textLine struct {
	n    int
	text string
}

// numberedLines cuts text into lines, dropping the carriage returns a serial console or a
// Windows editor adds. A final newline does not make an extra empty line.
func numberedLines(text string) []textLine {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil
	}
	raw := strings.Split(text, "\n")
	out := make([]textLine, len(raw))
	for i, l := range raw {
		out[i] = textLine{n: i + 1, text: strings.TrimSuffix(l, "\r")}
	}
	return out
}

// fieldLines yields the numbered lines of text with their fields, a trailing " # ..."
// note stripped; lines left blank are skipped. The ipvsadm formats are read this way.
func fieldLines(text string) iter.Seq2[textLine, []string] {
	return func(yield func(textLine, []string) bool) {
		for _, l := range numberedLines(text) {
			if f := strings.Fields(stripAnnotation(l.text)); len(f) > 0 && !yield(l, f) {
				return
			}
		}
	}
}

// stripAnnotation removes a trailing " # ..." note, the way tutorials (the seed among them)
// annotate pasted output, and a line that is only a note. None of the formats read with it
// has a '#' inside a field.
func stripAnnotation(line string) string {
	for i := 0; i < len(line); i++ {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}
