package main

import (
	"os/exec"
	"strings"
	"testing"
)

func TestStateScriptParses(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-n")
	cmd.Stdin = strings.NewReader(string(stateScript))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("state.sh does not parse: %v\n%s", err, out)
	}
}

func TestReadmeListsEveryCapture(t *testing.T) {
	r := readme("6.1.0-56-cloud-amd64\nipvsadm v1.31\n")
	for _, c := range captures {
		if !strings.Contains(r, "| "+c.file+" | `"+c.cmd+"` |") {
			t.Errorf("README lacks the row for %s", c.file)
		}
	}
	if !strings.Contains(r, "```\n6.1.0-56-cloud-amd64\nipvsadm v1.31\n```\n") {
		t.Errorf("README lacks the versions block:\n%s", r)
	}
}
