package gotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Event is the part of a `go tool test2json` record (go doc cmd/test2json) we read.
type Event struct {
	Action  string
	Package string
	// Test is empty for events of the package as a whole.
	Test   string
	Output string
}

// decodeAll reads a stream of JSON values, as go list -json and test2json write them.
func decodeAll[T any](r io.Reader) ([]T, error) {
	dec := json.NewDecoder(r)
	var all []T
	for {
		var v T
		if err := dec.Decode(&v); err == io.EOF {
			return all, nil
		} else if err != nil {
			return all, err
		}
		all = append(all, v)
	}
}

// Summary counts the results of one test binary's run.
type Summary struct {
	// Passed, Failed and Skipped count tests, subtests included. A test that started and
	// never reported (a panic, a timeout, the guest stopped) counts as failed.
	Passed, Failed, Skipped int
	// Result is the binary's own verdict: "pass", "fail", or "" when it printed none (it
	// crashed, timed out or was cut short).
	Result string
	// NoTests is set when the binary passed without running a test.
	NoTests bool
}

// Summarize converts the -test.v output of pkg's test binary to events with
// `go tool test2json` and counts them.
func Summarize(ctx context.Context, pkg, output string) (Summary, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "test2json", "-p", pkg)
	cmd.Stdin = strings.NewReader(output)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Summary{}, fmt.Errorf("go tool test2json -p %s: %w\n%s", pkg, err, stderr.Bytes())
	}
	events, err := decodeAll[Event](bytes.NewReader(out))
	if err != nil {
		return Summary{}, fmt.Errorf("reading go tool test2json output for %s: %w", pkg, err)
	}
	return summarize(events), nil
}

func summarize(events []Event) Summary {
	var s Summary
	ran := 0
	open := map[string]bool{} // tests started and not yet reported
	for _, e := range events {
		if e.Test == "" {
			if e.Action == "pass" || e.Action == "fail" {
				s.Result = e.Action
			}
			continue
		}
		switch e.Action {
		case "run":
			ran++
			open[e.Test] = true
		case "pass":
			s.Passed++
			delete(open, e.Test)
		case "fail":
			s.Failed++
			delete(open, e.Test)
		case "skip":
			s.Skipped++
			delete(open, e.Test)
		}
	}
	s.Failed += len(open)
	s.NoTests = s.Result == "pass" && ran == 0
	return s
}

// OK tells whether a binary that exited with exitCode passed, as `go test` judges it: exit
// status 0, a passing verdict and no failed test.
func (s Summary) OK(exitCode int) bool {
	return exitCode == 0 && s.Result == "pass" && s.Failed == 0
}

// Verdict renders the line `go test` prints after a package:
// "ok  \tpkg\t1.234s", "ok  \tpkg\t0.010s [no tests to run]" or "FAIL\tpkg\t1.234s".
func Verdict(pkg string, ok bool, s Summary, d time.Duration) string {
	secs := fmt.Sprintf("%.3fs", d.Seconds())
	if !ok {
		return "FAIL\t" + pkg + "\t" + secs
	}
	if s.NoTests {
		return "ok  \t" + pkg + "\t" + secs + " [no tests to run]"
	}
	return "ok  \t" + pkg + "\t" + secs
}
