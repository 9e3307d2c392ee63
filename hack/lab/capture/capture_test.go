package capture

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

func TestScriptsParse(t *testing.T) {
	for name, script := range map[string][]byte{"state.sh": stateScript, "traffic.sh": trafficScript} {
		cmd := exec.Command("/bin/sh", "-n")
		cmd.Stdin = strings.NewReader(string(script))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %v\n%s", name, err, out)
		}
	}
}

func TestReadmeListsEveryCapture(t *testing.T) {
	r := readme("6.1.0-56-cloud-amd64\nipvsadm v1.31\n")
	for _, c := range append(captures, counterCaptures...) {
		if !strings.Contains(r, "| "+c.file+" | `"+c.cmd+"` |") {
			t.Errorf("README lacks the row for %s", c.file)
		}
	}
	if !strings.Contains(r, "```\n6.1.0-56-cloud-amd64\nipvsadm v1.31\n```\n") {
		t.Errorf("README lacks the versions block:\n%s", r)
	}
	if !strings.Contains(r, "\n"+stateScriptSumPrefix+stateScriptSum()+"\n") {
		t.Errorf("README lacks the script's sha256:\n%s", r)
	}
}

// The captures in the repository must come from this state.sh: lab_captures_test.go in
// framework/dataplane expects what the script programs.
func TestCapturesComeFromThisStateScript(t *testing.T) {
	const path = "framework/dataplane/testdata/lab/README.md"
	got := fixture.ReadRepo(t, path)
	var captured string
	for line := range strings.Lines(got) {
		if s, ok := strings.CutPrefix(line, stateScriptSumPrefix); ok {
			captured = strings.TrimSpace(s)
		}
	}
	if want := stateScriptSum(); captured != want {
		t.Fatalf("%s names state.sh sha256 %q, the script's is %s: it changed since the captures were made: "+
			"run make lab-capture and update framework/dataplane/lab_captures_test.go to what it programs now", path, captured, want)
	}
	// The rest of the README is what readme writes for the versions it holds.
	_, versions, _ := strings.Cut(got, "```\n")
	versions, _, _ = strings.Cut(versions, "```\n")
	if want := readme(versions); got != want {
		t.Errorf("%s is not what the capture program writes; run make lab-capture or update it to:\n%s", path, want)
	}
}
