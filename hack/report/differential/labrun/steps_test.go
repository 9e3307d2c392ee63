package labrun

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestSteps(t *testing.T) {
	ss := Scenarios()
	byName := map[string]Scenario{}
	for _, s := range ss {
		byName[s.Name] = s
	}
	for _, tc := range []struct {
		scenario string
		want     []Step
	}{
		{Baseline, []Step{StepCreate}},
		{"seed", []Step{StepCreate, StepChange, StepDelete}},
		{"nodeport", []Step{StepCreate, StepChange, StepDelete}},
		{"loadbalancer", []Step{StepCreate, StepDelete}},
	} {
		if got := byName[tc.scenario].Steps(); !slices.Equal(got, tc.want) {
			t.Errorf("%s steps %v, want %v", tc.scenario, got, tc.want)
		}
	}
	for _, s := range ss {
		if s.Change != nil && (s.Change.Description == "" || s.Change.Apply == nil) {
			t.Errorf("scenario %s: change without a description or an Apply", s.Name)
		}
	}
	sel, err := Select(ss, []string{"loadbalancer", "seed"})
	if err != nil {
		t.Fatal(err)
	}
	want := "seed/create,seed/change,seed/delete,loadbalancer/create,loadbalancer/delete"
	if got := strings.Join(StepIDs(sel), ","); got != want {
		t.Errorf("StepIDs = %s, want %s", got, want)
	}
}

// After a failed step the steps up to delete are skipped; delete always runs.
func TestRunSteps(t *testing.T) {
	all := []Step{StepCreate, StepChange, StepDelete}
	for _, tc := range []struct {
		name  string
		steps []Step
		fail  []Step
		want  string
	}{
		{"all pass", all, nil, "run create, run change, run delete"},
		{"create fails", all, []Step{StepCreate}, "run create, skip change (not run: the create step failed), run delete"},
		{"change fails", all, []Step{StepChange}, "run create, run change, run delete"},
		{"delete fails", all, []Step{StepDelete}, "run create, run change, run delete"},
		{"the first failure is named", all, []Step{StepCreate, StepDelete}, "run create, skip change (not run: the create step failed), run delete"},
		{"no change step", []Step{StepCreate, StepDelete}, []Step{StepCreate}, "run create, run delete"},
		{"baseline", []Step{StepCreate}, nil, "run create"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			runSteps(tc.steps, func(s Step, skipped string) error {
				if skipped != "" {
					got = append(got, fmt.Sprintf("skip %s (%s)", s, skipped))
					return nil
				}
				got = append(got, "run "+string(s))
				if slices.Contains(tc.fail, s) {
					return errors.New("failed")
				}
				return nil
			})
			if strings.Join(got, ", ") != tc.want {
				t.Errorf("got %s\nwant %s", strings.Join(got, ", "), tc.want)
			}
		})
	}
}
