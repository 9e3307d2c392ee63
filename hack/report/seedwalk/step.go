// Package seedwalk walks through the seed tutorial's sections 2 to 4.1 on the lab cluster
// (framework/cluster/lab): a real kube-apiserver, etcd and kube-controller-manager on the
// host's loopback, and upstream kube-proxy of a chosen release (or the reference proxier)
// in a kernel lab guest. Each step is printed as the command a person types, followed by
// the command's real output: kubectl is the upstream kubectl of the cluster's release,
// run against the lab's API server; node commands run on the lab node through its agent.
// Judge then turns the recorded outputs into PASS/FAIL verdicts.
//
// The walk is the story (walk.go); rendering (this file), section 1's claims (claims.go),
// judging (verdict.go), the replay of a record (replay.go) and the worksheet (worksheet.go)
// are pure and tested on the outputs of real runs kept in testdata, the whole walk and the
// worksheet in both languages as golden files (testdata/golden; go test -update rewrites
// them). Headings, explanations and verdicts are framework/tutorial/lang's messages, in
// English or Chinese; commands and outputs are printed as they are.
package seedwalk

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

// Where a step's command runs.
type Where int

const (
	// Host is the person's terminal on the host: kubectl against the lab's API server.
	Host Where = iota
	// Node is a root shell on the lab node (the seed's "node1 ~]#").
	Node
)

// NodePrompt is printed before the commands typed on the lab node; "$ " before the host's.
const NodePrompt = "lab-node# "

// Step is one thing the reader of the seed does: an optional section heading, the command
// line as typed (several lines for a here-document), and a note on what the lab does
// around it. A step without a typed line is a note or a wait. A hidden step records an
// output for the verdict without printing it. The heading and the note are messages of the
// catalogue (framework/tutorial/lang), printed in the walk's language; the typed line and
// the output are never translated.
type Step struct {
	// Name is the key of the step's result in a Record.
	Name    string
	Heading lang.Text
	Where   Where
	Typed   string
	Note    lang.Text
	Hidden  bool
	// NodeName is the node a Node step runs on, for its prompt; empty: the lab node.
	NodeName string
}

// Result is how a step's command ended.
type Result struct {
	// Output is what the command printed, stdout then stderr, as a person sees it.
	Output string `json:"-"`
	// ExitCode is the command's exit status; -1 when it could not be run at all.
	ExitCode int `json:"exitCode"`
	// Err says why the step failed when the failure is not the command's own output
	// (a wait that timed out, a request that could not be sent).
	Err     string        `json:"err,omitempty"`
	Elapsed time.Duration `json:"elapsed"`
}

// OK tells whether the command ran and exited 0.
func (r Result) OK() bool { return r.ExitCode == 0 && r.Err == "" }

// Prompt is what precedes the step's typed lines.
func (s Step) Prompt() string {
	if s.Where == Node && s.NodeName != "" {
		return s.NodeName + "# "
	}
	if s.Where == Node {
		return NodePrompt
	}
	return "$ "
}

// Render writes a step as the walk prints it, in the language: heading, typed lines
// (continuation lines of a here-document after "> "), the note in parentheses, the output,
// then the exit status when it is not 0 and the step's elapsed time. A nil result renders
// the step alone (a note). Hidden steps render nothing.
func Render(w io.Writer, l lang.Lang, s Step, r *Result) {
	if s.Hidden {
		return
	}
	var b strings.Builder
	if !s.Heading.IsZero() {
		fmt.Fprintf(&b, "\n== %s\n", l.Render(s.Heading))
	}
	if s.Typed != "" {
		for i, l := range strings.Split(s.Typed, "\n") {
			if i == 0 {
				b.WriteString(s.Prompt())
			} else {
				b.WriteString("> ")
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	if !s.Note.IsZero() {
		fmt.Fprintf(&b, "  (%s)\n", l.Render(s.Note))
	}
	if r != nil {
		out := r.Output
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		b.WriteString(out)
		var status []string
		if r.ExitCode != 0 && r.ExitCode != -1 {
			status = append(status, l.Sprintf(lang.StepExitStatus, r.ExitCode))
		}
		if r.Err != "" {
			status = append(status, l.Sprintf(lang.StepLabError, r.Err))
		}
		status = append(status, FormatElapsed(r.Elapsed))
		fmt.Fprintf(&b, "  [%s]\n", strings.Join(status, "; "))
	}
	io.WriteString(w, b.String())
}

// FormatElapsed prints a duration the way the walk reports steps: tenths of a second
// below a minute, "2m05s" above.
func FormatElapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
