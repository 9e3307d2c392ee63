package differential

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// KnownDifference is one entry of the known-differences file: one kind of diff line that
// is expected between upstream and the reference proxier, and why.
type KnownDifference struct {
	// ID names the entry in reports.
	ID string `json:"id"`
	// Section is the diff section: ipvs, links, ipsets, iptables or ip6tables.
	Section dataplane.Section `json:"section"`
	// Scope, when set, must equal the line's scope exactly: the virtual server
	// ("TCP 10.96.0.1:443") for ipvs, the link for links, the set for ipsets, the table for
	// iptables.
	Scope string `json:"scope,omitempty"`
	// Mark is "-" (only upstream has the line), "+" (only the reference proxier has it),
	// "~" (both have the object, configured differently) or ">" (both have the rule, at
	// another place in its chain).
	Mark string `json:"mark"`
	// Line is a Go regular expression that must match the whole line after its mark
	// (anchored at both ends), trailing blanks removed.
	Line string `json:"line"`
	// Scenarios lists where the difference is expected: a scenario ("seed": all its steps)
	// or one step of it ("seed/change"); empty means everywhere.
	Scenarios []string `json:"scenarios,omitempty"`
	// Reason says why the difference is there and why it is acceptable.
	Reason string `json:"reason"`

	line *regexp.Regexp
	kind dataplane.Kind
}

// KnownFile is the file's document.
type KnownFile struct {
	Differences []KnownDifference `json:"differences"`
}

// Known is a loaded, checked known-differences file.
type Known struct {
	// Path is where it was read from, for messages.
	Path    string
	Entries []KnownDifference
}

// LoadKnown reads and checks a known-differences file.
func LoadKnown(path string) (*Known, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKnown(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k.Path = path
	return k, nil
}

// ParseKnown decodes a known-differences document strictly (an unknown field is a typo
// that would silently widen an entry) and checks every entry.
func ParseKnown(data []byte) (*Known, error) {
	var f KnownFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("expected a document with a differences: list of entries (id, section, scope, mark, line, scenarios, reason): %w", err)
	}
	k := &Known{}
	var errs []error
	seen := map[string]bool{}
	for i, e := range f.Differences {
		if err := e.compile(); err != nil {
			errs = append(errs, fmt.Errorf("differences[%d] (id %q): %w", i, e.ID, err))
			continue
		}
		if seen[e.ID] {
			errs = append(errs, fmt.Errorf("differences[%d]: id %q used twice: expected unique ids", i, e.ID))
			continue
		}
		seen[e.ID] = true
		k.Entries = append(k.Entries, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return k, nil
}

func (e *KnownDifference) compile() error {
	var errs []string
	if e.ID == "" {
		errs = append(errs, "id is empty")
	}
	if !slices.Contains(dataplane.Sections, e.Section) {
		errs = append(errs, fmt.Sprintf("section %q: expected one of %v", e.Section, dataplane.Sections))
	}
	if k, ok := kindOfMark(e.Mark); ok {
		e.kind = k
	} else {
		errs = append(errs, fmt.Sprintf("mark %q: expected \"-\" (upstream only), \"+\" (reference only), \"~\" (changed) or \">\" (moved)", e.Mark))
	}
	if strings.TrimSpace(e.Line) == "" {
		errs = append(errs, "line is empty: expected a regular expression of the whole line")
	} else if re, err := regexp.Compile(`^(?:` + e.Line + `)$`); err != nil {
		errs = append(errs, fmt.Sprintf("line: %v", err))
	} else if re.MatchString("") {
		errs = append(errs, fmt.Sprintf("line %q matches an empty line: expected a pattern of one specific line", e.Line))
	} else {
		e.line = re
	}
	if len(strings.Fields(e.Reason)) < 3 {
		errs = append(errs, "reason: expected a sentence saying why the difference is there")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// CheckScenarios fails on an entry naming a scenario or step that is not in all: a typo
// there would make the entry never apply, and stale only when its other scenarios run.
func (k *Known) CheckScenarios(all []string) error {
	var errs []error
	for _, e := range k.Entries {
		for _, s := range e.Scenarios {
			if !slices.Contains(all, s) {
				errs = append(errs, fmt.Errorf("known difference %q: scenario %q: expected one of %v", e.ID, s, all))
			}
		}
	}
	return errors.Join(errs...)
}

// AppliesTo tells whether the entry covers the step ("seed/change", or a scenario's name
// alone): the entry lists the step itself or its scenario, or lists nothing.
func (e KnownDifference) AppliesTo(step string) bool {
	scenario, _, _ := strings.Cut(step, "/")
	return len(e.Scenarios) == 0 || slices.Contains(e.Scenarios, step) || slices.Contains(e.Scenarios, scenario)
}

// Matches tells whether the entry explains the line of that step: same section, the
// scope if the entry sets one, the kind its mark names and the whole text matched.
func (e KnownDifference) Matches(scenario string, l Line) bool {
	return e.line != nil && l.Marked() && e.AppliesTo(scenario) && e.Section == l.Section &&
		(e.Scope == "" || e.Scope == l.Scope) && e.kind == l.Kind && e.line.MatchString(l.Text)
}

// Match returns the first entry that explains the line, or nil.
func (k *Known) Match(scenario string, l Line) *KnownDifference {
	if k == nil {
		return nil
	}
	for i := range k.Entries {
		if k.Entries[i].Matches(scenario, l) {
			return &k.Entries[i]
		}
	}
	return nil
}
