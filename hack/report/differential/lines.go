package differential

import (
	"fmt"
	"strings"
)

// The sections of dataplane.Diff, by the first word of their titles.
const (
	SectionIPVS      = "ipvs"
	SectionLinks     = "links"
	SectionIPSets    = "ipsets"
	SectionIPTables  = "iptables"
	SectionIP6Tables = "ip6tables"
)

var sections = []string{SectionIPVS, SectionLinks, SectionIPSets, SectionIPTables, SectionIP6Tables}

// Marks of a diff line, as dataplane.Diff writes them.
const (
	Missing    = "-" // in want (upstream) only
	Unexpected = "+" // in got (the reference proxier) only
	Changed    = "~" // in both, configured differently; the got line, then "(want ...)"
	Context    = " "
)

// Line is one line of dataplane.Diff's output with what it belongs to.
type Line struct {
	// Section is one of the Section* constants.
	Section string `json:"section"`
	// Scope narrows the section: for ipvs the virtual server ("TCP 10.96.0.1:443", or
	// "timeouts"), for links the link name, for ipsets the set name, for iptables the table.
	Scope string `json:"scope"`
	// Mark is Missing, Unexpected, Changed or Context.
	Mark string `json:"mark"`
	// Text is the line after its mark, without trailing blanks.
	Text string `json:"text"`
}

// Marked tells whether the line is a difference, not context.
func (l Line) Marked() bool { return l.Mark != Context }

// String prints the line as the diff did, without trailing blanks.
func (l Line) String() string { return l.Mark + " " + l.Text }

// ParseDiff splits dataplane.Diff's output into lines with their section and scope. It
// fails on text Diff does not write, so a change of Diff's format is noticed here rather
// than misclassified.
func ParseDiff(text string) ([]Line, error) {
	if text == "" {
		return nil, nil
	}
	var (
		out     []Line
		section string
		scope   string
	)
	for i, raw := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		errf := func(format string, a ...any) error {
			return fmt.Errorf("dataplane diff line %d %q: %s", i+1, raw, fmt.Sprintf(format, a...))
		}
		if title, ok := strings.CutPrefix(raw, "--- "); ok {
			word, _, _ := strings.Cut(title, " ")
			word = strings.TrimSuffix(word, ":") // "--- iptables: - missing, ..."
			if !knownSection(word) {
				return nil, errf("expected a section title naming one of %v", sections)
			}
			section, scope = word, ""
			continue
		}
		if section == "" {
			return nil, errf("expected a section title (\"--- ipvs ...\") first")
		}
		if (section == SectionIPTables || section == SectionIP6Tables) && strings.HasPrefix(raw, section+" -t ") {
			f := strings.Fields(raw)
			if len(f) != 4 || f[3] != "-S" {
				return nil, errf("expected \"%s -t TABLE -S\"", section)
			}
			scope = f[2]
			continue
		}
		if len(raw) < 2 || raw[1] != ' ' || !strings.ContainsRune("-+~ ", rune(raw[0])) {
			return nil, errf("expected a line starting with \"- \", \"+ \", \"~ \" or two blanks")
		}
		l := Line{Section: section, Mark: raw[:1], Text: strings.TrimRight(raw[2:], " ")}
		switch section {
		case SectionIPVS:
			switch {
			case strings.HasPrefix(l.Text, "Timeout "):
				scope = "timeouts"
			case strings.HasPrefix(l.Text, "  -> "):
				if scope == "" || scope == "timeouts" {
					return nil, errf("a real server line outside a virtual server")
				}
			default:
				f := strings.Fields(l.Text)
				if len(f) < 2 {
					return nil, errf("expected a virtual server line (\"TCP 10.96.0.1:443 rr\")")
				}
				scope = f[0] + " " + f[1]
			}
		case SectionLinks:
			if !strings.HasPrefix(l.Text, " ") {
				f := strings.Fields(l.Text)
				if len(f) < 2 {
					return nil, errf("expected a link line (\"5: kube-ipvs0: <DOWN>\")")
				}
				scope = strings.TrimSuffix(f[1], ":")
			} else if scope == "" {
				return nil, errf("an address line outside a link")
			}
		case SectionIPSets:
			f := strings.Fields(l.Text)
			if len(f) < 2 || (f[0] != "create" && f[0] != "add") {
				return nil, errf("expected an `ipset save` line (create or add)")
			}
			scope = f[1]
		default: // iptables
			if scope == "" {
				return nil, errf("a rule outside a table")
			}
		}
		l.Scope = scope
		out = append(out, l)
	}
	return out, nil
}

func knownSection(s string) bool {
	for _, k := range sections {
		if s == k {
			return true
		}
	}
	return false
}
