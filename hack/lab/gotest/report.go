package gotest

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Summary counts what a test binary's -test.v output says.
type Summary struct {
	// Passed, Failed and Skipped count "--- PASS/FAIL/SKIP" lines, subtests included.
	Passed, Failed, Skipped int
	// FailedTests names the failed tests in the order they were reported.
	FailedTests []string
	// Final is the binary's closing verdict line: "PASS", "FAIL" or "" when it printed none
	// (it crashed, timed out or was cut short).
	Final string
	// NoTests is set when the binary said it had no tests to run.
	NoTests bool
	// Panicked is set when the output holds a Go panic.
	Panicked bool
}

var resultLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \((\d+(?:\.\d+)?)s\)`)

// Summarize reads the -test.v output of one test binary.
func Summarize(output string) Summary {
	var s Summary
	sc := bufio.NewScanner(strings.NewReader(output))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if m := resultLine.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "PASS":
				s.Passed++
			case "FAIL":
				s.Failed++
				s.FailedTests = append(s.FailedTests, m[2])
			case "SKIP":
				s.Skipped++
			}
			continue
		}
		switch {
		case line == "PASS" || line == "FAIL":
			s.Final = line
		case strings.HasPrefix(line, "testing: warning: no tests to run"):
			s.NoTests = true
		case strings.HasPrefix(line, "panic: "):
			s.Panicked = true
		}
	}
	return s
}

// OK tells whether a binary that exited with exitCode passed, as `go test` judges it: exit
// status 0, a final PASS, no failed test and no panic.
func (s Summary) OK(exitCode int) bool {
	return exitCode == 0 && s.Final == "PASS" && s.Failed == 0 && !s.Panicked
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
