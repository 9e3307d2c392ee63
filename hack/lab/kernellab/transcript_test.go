package kernellab

import (
	"bytes"
	_ "embed"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

const testMark = "@@LAB-00112233aabbccdd"

func parseTranscript(text string) *transcript {
	tr := newTranscript(testMark)
	tr.Write([]byte(text))
	tr.Close()
	return tr
}

func TestTranscript(t *testing.T) {
	m := testMark
	tests := []struct {
		name     string
		text     string
		outputs  []string
		codes    []int
		finished []bool
		errText  string // "" means no error
	}{{
		name: "two commands",
		text: m + " BOOT uptime=0.90\n" + m + " READY uptime=1.80\n" +
			m + " BEGIN 0 uptime=1.81\nhello\nworld\n\n" + m + " END 0 rc=0 uptime=2.31\n" +
			m + " BEGIN 1 uptime=2.32\nno newline\n" + m + " END 1 rc=3 uptime=2.40\n" +
			m + " DONE uptime=2.41\n",
		outputs: []string{"hello\nworld\n", "no newline"}, codes: []int{0, 3}, finished: []bool{true, true},
	}, {
		name: "empty output and blank lines",
		text: m + " BOOT\n" + m + " READY\n" + m + " BEGIN 0\n\n" + m + " END 0 rc=0\n" +
			m + " BEGIN 1\n\n\n\n" + m + " END 1 rc=0\n" + m + " DONE\n",
		outputs: []string{"", "\n\n"}, codes: []int{0, 0}, finished: []bool{true, true},
	}, {
		name:    "CRLF on protocol lines when the port was not raw",
		text:    m + " BOOT\r\n" + m + " READY\r\n" + m + " BEGIN 0\r\nx\r\n\r\n" + m + " END 0 rc=1\r\n" + m + " DONE\r\n",
		outputs: []string{"x\r\n\r"}, codes: []int{1}, finished: []bool{true},
	}, {
		name: "forged markers with another token are output",
		text: m + " BOOT\n" + m + " READY\n" + m + " BEGIN 0\n@@LAB-ffffffffffffffff END 0 rc=0\n" + m + "X END 0 rc=0\n\n" +
			m + " END 0 rc=0\n" + m + " DONE\n",
		outputs: []string{"@@LAB-ffffffffffffffff END 0 rc=0\n" + m + "X END 0 rc=0\n"}, codes: []int{0}, finished: []bool{true},
	}, {
		name:    "setup failure",
		text:    m + " BOOT\n" + m + " SETUP-FAILED kernel 6.1 has no /proc/net/ip_vs after loading ip_vs\n",
		errText: "lab guest setup failed: kernel 6.1 has no /proc/net/ip_vs after loading ip_vs",
	}, {
		name:    "never booted",
		text:    "garbage from somewhere\n",
		errText: "never reached /init",
	}, {
		name:    "booted, not ready",
		text:    m + " BOOT\n",
		errText: "never became ready",
	}, {
		name:    "cut short inside a command",
		text:    m + " BOOT\n" + m + " READY\n" + m + " BEGIN 0\n=== RUN TestX\npartial li",
		outputs: []string{"=== RUN TestX\npartial li"}, codes: []int{-1}, finished: []bool{false},
		errText: "stopped during command 0",
	}, {
		name:    "cut short after a full line",
		text:    m + " BOOT\n" + m + " READY\n" + m + " BEGIN 0\nline\n",
		outputs: []string{"line\n"}, codes: []int{-1}, finished: []bool{false},
		errText: "stopped during command 0",
	}, {
		name:    "no DONE after the last command",
		text:    m + " BOOT\n" + m + " READY\n" + m + " BEGIN 0\nok\n" + m + " END 0 rc=0\n",
		outputs: []string{"ok"}, codes: []int{0}, finished: []bool{true},
		errText: "after 1 commands without its DONE line",
	}, {
		name:    "the guest's own deadline",
		text:    m + " BOOT\n" + m + " READY\n" + m + " BEGIN 0\nrunning\n" + m + " DEADLINE passed (660 s): powering off\n",
		outputs: []string{"running\n"}, codes: []int{-1}, finished: []bool{false},
		errText: "powered itself off at its own deadline (passed (660 s): powering off) after 1 commands",
	}, {
		name:    "malformed protocol lines are reported",
		text:    m + " BOOT\n" + m + " READY\n" + m + " BEGIN 1\n" + m + " END 0 rc=x\n" + m + " FROB\n" + m + " DONE\n",
		errText: "malformed protocol lines",
	}, {
		name:    "END for another command is a problem, command stays open",
		text:    m + " BOOT\n" + m + " READY\n" + m + " BEGIN 0\na\n" + m + " END 1 rc=0\n",
		outputs: []string{"a\n"}, codes: []int{-1}, finished: []bool{false},
		errText: "stopped during command 0",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := parseTranscript(tt.text)
			wanterr.Check(t, tr.err(), tt.errText)
			if len(tr.cmds) != len(tt.outputs) {
				t.Fatalf("%d commands parsed; expected %d: %+v", len(tr.cmds), len(tt.outputs), tr.cmds)
			}
			for i := range tt.outputs {
				c := tr.cmds[i]
				if c.Output != tt.outputs[i] || c.ExitCode != tt.codes[i] || c.Finished != tt.finished[i] {
					t.Errorf("command %d = {%q rc=%d finished=%v}; expected {%q rc=%d finished=%v}", i,
						c.Output, c.ExitCode, c.Finished, tt.outputs[i], tt.codes[i], tt.finished[i])
				}
			}
		})
	}
}

func TestTranscriptSetupErrorType(t *testing.T) {
	err := parseTranscript(testMark + " BOOT\n" + testMark + " SETUP-FAILED no ipvs\n").err()
	var se *SetupError
	if !errors.As(err, &se) || se.Reason != "no ipvs" {
		t.Fatalf("err = %#v; expected *SetupError{no ipvs}", err)
	}
}

func TestTranscriptTimesAndCallbacks(t *testing.T) {
	m := testMark
	var streamed bytes.Buffer
	var done []CommandResult
	tr := newTranscript(m)
	tr.Stream = &streamed
	tr.OnDone = func(c CommandResult) { done = append(done, c) }
	text := m + " BOOT uptime=0.5\n" + m + " READY uptime=1.25\n" + m + " BEGIN 0 uptime=1.50\nA\nB\n\n" +
		m + " END 0 rc=0 uptime=4.00\n" + m + " BEGIN 1 uptime=4.00\nC" + "\n" + m + " END 1 rc=2 uptime=4.10\n" + m + " DONE\n"
	for i := 0; i < len(text); i += 7 { // arbitrary chunks, as the file follower delivers them
		tr.Write([]byte(text[i:min(i+7, len(text))]))
	}
	tr.Close()
	if tr.readyUptime != 1.25 {
		t.Errorf("ready uptime = %v; expected 1.25", tr.readyUptime)
	}
	if got := streamed.String(); got != "A\nB\nC" {
		t.Errorf("streamed %q; expected the outputs without the guest's separators", got)
	}
	if len(done) != 2 || done[0].Duration != 2500*time.Millisecond || done[1].ExitCode != 2 {
		t.Errorf("OnDone calls = %+v; expected 2.5s for the first and rc 2 for the second", done)
	}
}

// FuzzTranscript: the results port carries text we do not control. Parsing must not panic,
// must not depend on how the bytes are chunked, and must not invent output.
func FuzzTranscript(f *testing.F) {
	m := testMark
	f.Add([]byte(m+" BOOT\n"+m+" READY\n"+m+" BEGIN 0\nhello\n\n"+m+" END 0 rc=0\n"+m+" DONE\n"), uint8(5))
	f.Add([]byte(m+" BOOT\n"+m+" SETUP-FAILED no ipvs\n"), uint8(1))
	f.Add([]byte(m+" BEGIN 0\r\n"+m+" END 0 rc=\r\n"+m+" BEGIN -1\n"), uint8(3))
	f.Add([]byte(resultsSample), uint8(64))
	f.Fuzz(func(t *testing.T, text []byte, chunk uint8) {
		whole := newTranscript(m)
		whole.Write(text)
		whole.Close()
		parts := newTranscript(m)
		step := int(chunk)%97 + 1
		for i := 0; i < len(text); i += step {
			parts.Write(text[i:min(i+step, len(text))])
		}
		parts.Close()
		if len(whole.cmds) != len(parts.cmds) || whole.done != parts.done || whole.setupFailed != parts.setupFailed {
			t.Fatalf("chunking changed the result: whole=%+v parts=%+v", whole.cmds, parts.cmds)
		}
		total := 0
		for i := range whole.cmds {
			if whole.cmds[i] != parts.cmds[i] {
				t.Fatalf("command %d differs by chunking: %+v vs %+v", i, whole.cmds[i], parts.cmds[i])
			}
			total += len(whole.cmds[i].Output)
		}
		if total > len(text) {
			t.Fatalf("outputs hold %d bytes from %d bytes of input", total, len(text))
		}
		_ = whole.err()
	})
}

// testdata/results-sample.log is a real results port of an `ipvs-e2e lab test` run, its marker
// token replaced by testMark.
//
//go:embed testdata/results-sample.log
var resultsSample string

func TestTranscriptRealLog(t *testing.T) {
	tr := parseTranscript(resultsSample)
	if err := tr.err(); err != nil {
		t.Fatal(err)
	}
	if len(tr.cmds) != 1 || !tr.cmds[0].Finished || tr.cmds[0].ExitCode != 0 {
		t.Fatalf("commands = %+v; expected one that passed", tr.cmds)
	}
	out := tr.cmds[0].Output
	if !strings.HasPrefix(out, "=== RUN   TestGuestHasIPVS\n") || !strings.HasSuffix(out, "\nPASS\n") {
		t.Fatalf("output = %q; expected the test binary's -test.v output", out)
	}
	if tr.readyUptime <= 0 || tr.cmds[0].Duration <= 0 {
		t.Fatalf("ready uptime %v, duration %v; expected both positive", tr.readyUptime, tr.cmds[0].Duration)
	}
}
