package differential

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// ClassifiedLine is a diff line with the known difference that explains it, if any.
type ClassifiedLine struct {
	Line
	// Known is the id of the entry that explains the line; empty for a NEW difference
	// (and for context lines).
	Known string `json:"known,omitempty"`
}

// New tells whether the line is a difference no entry explains.
func (c ClassifiedLine) New() bool { return c.Marked() && c.Known == "" }

// ScenarioResult is the comparison of one scenario.
type ScenarioResult struct {
	Scenario string `json:"scenario"`
	// Diff is dataplane.Diff of the restricted, named states, names printed ("" when equal).
	Diff string `json:"diff,omitempty"`
	// Lines are Diff's lines, context included, the changed ones classified.
	Lines []ClassifiedLine `json:"lines,omitempty"`
	// Error says why the scenario could not be compared.
	Error string   `json:"error,omitempty"`
	Notes []string `json:"notes,omitempty"`
}

// Differences are the changed lines.
func (r ScenarioResult) Differences() []ClassifiedLine {
	var out []ClassifiedLine
	for _, l := range r.Lines {
		if l.Marked() {
			out = append(out, l)
		}
	}
	return out
}

// NewCount counts the differences no known entry explains.
func (r ScenarioResult) NewCount() int {
	n := 0
	for _, l := range r.Lines {
		if l.New() {
			n++
		}
	}
	return n
}

// Compare compares one scenario's captures: want is upstream's, got the reference
// proxier's. Both are restricted, their allocated addresses named, then diffed.
func Compare(scenario string, want, got Capture, known *Known) ScenarioResult {
	r := ScenarioResult{Scenario: scenario}
	var errs []string
	for _, c := range []Capture{want, got} {
		if c.Error != "" {
			errs = append(errs, c.Proxy+": "+c.Error)
		}
		if !c.Settled && c.Error == "" {
			r.Notes = append(r.Notes, c.Proxy+": the state did not settle before the capture (compared anyway)")
		}
		for _, n := range c.Notes {
			r.Notes = append(r.Notes, c.Proxy+": "+n)
		}
	}
	if len(errs) > 0 {
		r.Error = strings.Join(errs, "; ")
		return r
	}
	ws, wn := withAPIServer(Restrict(want.State), want.Names, want.APIServer)
	gs, gn := withAPIServer(Restrict(got.State), got.Names, got.APIServer)
	sym, err := NewSymbols(wn, gn)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	diff := sym.renderDifferences(dataplane.Diff(sym.Apply(ws, wn), sym.Apply(gs, gn)))
	r.Diff = diff.String()
	for _, l := range linesOf(diff) {
		c := ClassifiedLine{Line: l}
		if e := known.Match(scenario, l); e != nil {
			c.Known = e.ID
		}
		r.Lines = append(r.Lines, c)
	}
	return r
}

// Report is the differential report of one run.
type Report struct {
	// Want and Got say what ran on each side ("upstream kube-proxy v1.37.2").
	Want string `json:"want"`
	Got  string `json:"got"`
	// KnownPath is the known-differences file used.
	KnownPath string           `json:"knownPath,omitempty"`
	Scenarios []ScenarioResult `json:"scenarios"`
	// Stale are the entries that cover a compared scenario but matched no line in any.
	Stale []KnownDifference `json:"stale,omitempty"`
	// known is kept for the reasons printed beside the known lines.
	known *Known
}

// NewReport assembles the scenario results and finds the stale entries: an entry is stale
// when at least one scenario it covers was compared and none of them had a line it
// explains. Scenarios that could not be compared say nothing about staleness.
func NewReport(want, got string, known *Known, results []ScenarioResult) Report {
	r := Report{Want: want, Got: got, Scenarios: results, known: known}
	if known == nil {
		return r
	}
	r.KnownPath = known.Path
	for _, e := range known.Entries {
		covered, seen := false, false
		for _, s := range results {
			if s.Error != "" || !e.AppliesTo(s.Scenario) {
				continue
			}
			covered = true
			for _, l := range s.Lines {
				if l.Known == e.ID {
					seen = true
				}
			}
		}
		if covered && !seen {
			r.Stale = append(r.Stale, e)
		}
	}
	return r
}

// Exit codes of a report.
const (
	ExitOK = 0
	// ExitDifferences: a NEW difference, or a stale known-differences entry.
	ExitDifferences = 1
	// ExitIncomplete: no NEW difference and no stale entry, but a scenario could not be
	// compared.
	ExitIncomplete = 2
)

// ExitCode is the process status the report calls for.
func (r Report) ExitCode() int {
	newCount, errs := r.counts()
	switch {
	case newCount > 0 || len(r.Stale) > 0:
		return ExitDifferences
	case errs > 0:
		return ExitIncomplete
	}
	return ExitOK
}

func (r Report) counts() (newCount, errs int) {
	for _, s := range r.Scenarios {
		newCount += s.NewCount()
		if s.Error != "" {
			errs++
		}
	}
	return newCount, errs
}

// Verdict is the report's last line.
func (r Report) Verdict() string {
	newCount, errs := r.counts()
	var problems []string
	if newCount > 0 {
		var where []string
		for _, s := range r.Scenarios {
			if n := s.NewCount(); n > 0 {
				where = append(where, fmt.Sprintf("%s %d", s.Scenario, n))
			}
		}
		problems = append(problems, fmt.Sprintf("%d NEW difference%s (%s)", newCount, plural(newCount), strings.Join(where, ", ")))
	}
	if len(r.Stale) > 0 {
		problems = append(problems, fmt.Sprintf("%d stale known difference%s", len(r.Stale), plural(len(r.Stale))))
	}
	if errs > 0 {
		problems = append(problems, fmt.Sprintf("%d step%s not compared", errs, plural(errs)))
	}
	if len(problems) == 0 {
		scenarios := map[string]bool{}
		for _, s := range r.Scenarios {
			name, _, _ := strings.Cut(s.Scenario, "/")
			scenarios[name] = true
		}
		return fmt.Sprintf("verdict: PASS: %d step%s of %d scenario%s, every difference known",
			len(r.Scenarios), plural(len(r.Scenarios)), len(scenarios), plural(len(scenarios)))
	}
	return "verdict: FAIL: " + strings.Join(problems, ", ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Format writes the report for a person: per scenario "identical" or its differences, each
// NEW or known (with the entry's id; the reasons follow the scenario), grouped by what they
// belong to; then the stale entries and the verdict.
func (r Report) Format(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Differential report: %s (\"-\") against %s (\"+\")\n", r.Want, r.Got)
	b.WriteString("  - only the first programmed it, + only the second, ~ both, configured differently (the second's line, then what the first has),\n")
	b.WriteString("  > both, the rule at another place in its chain (where the second has it, then where the first has it)\n")
	if r.known != nil {
		fmt.Fprintf(&b, "  known differences: %s (%d entries)\n", r.knownName(), len(r.known.Entries))
	}
	for _, s := range r.Scenarios {
		b.WriteString("\n")
		formatScenario(&b, s, r.known)
	}
	if len(r.Stale) > 0 {
		fmt.Fprintf(&b, "\nstale known differences (listed in %s, not seen in any scenario they cover):\n", r.knownName())
		for _, e := range r.Stale {
			scen := "all scenarios"
			if len(e.Scenarios) > 0 {
				scen = strings.Join(e.Scenarios, ", ")
			}
			scope := ""
			if e.Scope != "" {
				scope = " " + e.Scope
			}
			fmt.Fprintf(&b, "  %s (%s): %s%s %s /%s/\n", e.ID, scen, e.Section, scope, e.Mark, e.Line)
		}
	}
	b.WriteString("\n" + r.Verdict() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (r Report) knownName() string {
	if r.KnownPath != "" {
		return r.KnownPath
	}
	return "the known-differences file"
}

func formatScenario(b *strings.Builder, s ScenarioResult, known *Known) {
	diffs := s.Differences()
	switch {
	case s.Error != "":
		fmt.Fprintf(b, "[%s] NOT COMPARED: %s\n", s.Scenario, s.Error)
	case len(diffs) == 0:
		fmt.Fprintf(b, "[%s] identical\n", s.Scenario)
	default:
		n := s.NewCount()
		fmt.Fprintf(b, "[%s] %d difference%s: %d NEW, %d known\n", s.Scenario, len(diffs), plural(len(diffs)), n, len(diffs)-n)
	}
	for _, note := range s.Notes {
		fmt.Fprintf(b, "  note: %s\n", note)
	}
	var ids []string
	lastScope := ""
	for _, l := range diffs {
		if scope := string(l.Section) + " " + l.Scope; scope != lastScope {
			fmt.Fprintf(b, "  %s\n", scopeTitle(l.Line))
			lastScope = scope
		}
		tag := "NEW  "
		suffix := ""
		if l.Known != "" {
			tag, suffix = "known", "   ["+l.Known+"]"
			if !slices.Contains(ids, l.Known) {
				ids = append(ids, l.Known)
			}
		}
		fmt.Fprintf(b, "    %s %s%s\n", tag, l.String(), suffix)
	}
	for _, id := range ids {
		if e := known.entry(id); e != nil {
			fmt.Fprintf(b, "  [%s] %s\n", id, oneLine(e.Reason))
		}
	}
}

func scopeTitle(l Line) string {
	switch l.Section {
	case dataplane.SectionIPTables, dataplane.SectionIP6Tables:
		return string(l.Section) + " -t " + l.Scope
	case dataplane.SectionIPSets:
		return "ipset " + l.Scope
	case dataplane.SectionLinks:
		return "link " + l.Scope
	}
	if l.Scope == "timeouts" {
		return "ipvs timeouts"
	}
	return "ipvs " + l.Scope
}

func (k *Known) entry(id string) *KnownDifference {
	if k == nil {
		return nil
	}
	for i := range k.Entries {
		if k.Entries[i].ID == id {
			return &k.Entries[i]
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
