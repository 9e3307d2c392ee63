package seedwalk

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

// The worksheet of each recorded run in each language: golden files.
func TestWorksheetGolden(t *testing.T) {
	goldenRuns(t, "worksheet.LANG.md", func(t *testing.T, b *bytes.Buffer, l lang.Lang, rec Record) {
		if err := WriteWorksheet(b, l, rec); err != nil {
			t.Fatal(err)
		}
	})
}

// On a real run every question is answered from the output and every claim of section 1
// is proven by a line of it; an output that lacks the answer says so instead of inventing one.
func TestWorksheetAnswersFromTheOutput(t *testing.T) {
	for _, run := range realRuns {
		rec := loadRun(t, run)
		for step, q := range questions {
			r, ok := rec.Results[step]
			if !ok {
				continue
			}
			if a := q.answer(rec.Facts, r.Output); a.IsZero() {
				t.Errorf("%s: step %q's output does not answer %q:\n%s", run, step, lang.English.Render(q.ask(rec.Facts)), r.Output)
			} else if text := lang.English.Render(a); !strings.Contains(r.Output, strings.Trim(strings.Fields(text)[0], "`,")) {
				t.Errorf("%s: step %q's answer %q is not read from its output:\n%s", run, step, text, r.Output)
			}
			if a := q.answer(rec.Facts, ""); !a.IsZero() {
				t.Errorf("%s: step %q answers %q from an empty output", run, step, lang.English.Render(a))
			}
		}
		for i, c := range Claims {
			for j, line := range c.ProvingLines(rec) {
				if line == "" || !strings.Contains(rec.Results[c.Proofs[j].Step].Output, line) {
					t.Errorf("%s: claim %d (%s) has no proving line in step %q", run, i+1, c.Text, c.Proofs[j].Step)
				}
			}
		}
	}
	rec := loadRun(t, realRuns[0])
	r := rec.Results[StepIPVS]
	r.Output = strings.ReplaceAll(r.Output, rec.Facts.ClusterIP, "10.96.9.9")
	rec.Results[StepIPVS] = r
	var b bytes.Buffer
	if err := WriteWorksheet(&b, lang.English, rec); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), lang.English.Sprintf(lang.ANotInThisOutput)) != 2 {
		t.Errorf("with the ClusterIP gone from ipvsadm -Ln, claim 2 and the real server question should say so:\n%s", b.String())
	}
}
