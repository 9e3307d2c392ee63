package differential

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// CompareDir compares, step by step ("seed/change"), the captures the proxies want and got
// left under dir; a step that lacks either capture is not compared.
func CompareDir(dir, want, got string, steps []string, known *Known) []ScenarioResult {
	var results []ScenarioResult
	for _, step := range steps {
		w, werr := ReadCapture(CaptureFile(dir, want, step))
		g, gerr := ReadCapture(CaptureFile(dir, got, step))
		if err := errors.Join(werr, gerr); err != nil {
			results = append(results, ScenarioResult{Scenario: step, Error: "no capture to compare (run `ipvs-e2e diff run` first): " + err.Error()})
			continue
		}
		results = append(results, Compare(step, w, g, known))
	}
	return results
}

// WriteFiles writes the report under dir: report.txt (Format), report.json and one full diff
// per step (diff/<scenario>/<step>.txt).
func (r Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "diff"), 0o755); err != nil {
		return err
	}
	var txt strings.Builder
	if err := r.Format(&txt); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	errs := []error{
		os.WriteFile(filepath.Join(dir, "report.txt"), []byte(txt.String()), 0o644),
		os.WriteFile(filepath.Join(dir, "report.json"), append(data, '\n'), 0o644),
	}
	for _, s := range r.Scenarios {
		body := s.Diff
		if s.Error != "" {
			body = "not compared: " + s.Error + "\n"
		} else if body == "" {
			body = "identical\n"
		}
		path := filepath.Join(dir, "diff", s.Scenario+".txt")
		errs = append(errs, os.MkdirAll(filepath.Dir(path), 0o755), os.WriteFile(path, []byte(body), 0o644))
	}
	return errors.Join(errs...)
}
