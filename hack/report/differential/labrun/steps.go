package labrun

// Step is one step of a scenario. The node's dataplane is captured and compared after each.
type Step string

const (
	// StepCreate creates the scenario's objects in its namespace; the baseline's only step
	// reads the cluster as created.
	StepCreate Step = "create"
	// StepChange applies the scenario's Change to the created objects.
	StepChange Step = "change"
	// StepDelete deletes the scenario's namespace; the node must then be the baseline again.
	StepDelete Step = "delete"
)

// Steps lists the steps the scenario runs, in order: create, change when it has one, then
// delete. The baseline has no objects: it only reads the cluster as created.
func (s Scenario) Steps() []Step {
	if s.Name == Baseline {
		return []Step{StepCreate}
	}
	if s.Change == nil {
		return []Step{StepCreate, StepDelete}
	}
	return []Step{StepCreate, StepChange, StepDelete}
}

// StepID names a step in captures, reports and the known-differences file: "seed/change".
func StepID(scenario string, step Step) string {
	return scenario + "/" + string(step)
}

// StepIDs lists the ids of the scenarios' steps in run order.
func StepIDs(ss []Scenario) []string {
	var out []string
	for _, s := range ss {
		for _, st := range s.Steps() {
			out = append(out, StepID(s.Name, st))
		}
	}
	return out
}
