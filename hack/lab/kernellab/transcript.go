package kernellab

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// transcript parses what the guest writes on its results port (see markerPrefix), in pieces as
// they arrive. Lines that start with the run's marker are protocol; all other bytes between
// BEGIN i and END i are the output of command i, byte for byte.
type transcript struct {
	mark string

	// Stream, when set, receives each command's output as it arrives.
	Stream io.Writer
	// OnDone, when set, is called as each command ends.
	OnDone func(CommandResult)

	partial   []byte // a line not yet ended by "\n"
	pendingNL bool   // the last content line's "\n", held back: the one before END is the guest's
	cur       int    // index of the running command, -1 when none

	booted, ready, done bool
	readyUptime         float64
	begin               []float64 // guest uptime at each BEGIN
	setupFailed         string
	deadline            string // set when the guest powered itself off at its deadline
	warnings            []string
	problems            []string // protocol lines that made no sense
	stray               bytes.Buffer
	cmds                []CommandResult
}

func newTranscript(mark string) *transcript {
	return &transcript{mark: mark, cur: -1}
}

// Write takes the next bytes of the results port.
func (t *transcript) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.partial = append(t.partial, p...)
			break
		}
		line := p[:i]
		if len(t.partial) > 0 {
			line = append(t.partial, line...)
			t.partial = nil
		}
		t.line(line)
		p = p[i+1:]
	}
	return n, nil
}

// Close ends the transcript: a line the guest did not finish (it died or was stopped) is
// kept as output of the running command.
func (t *transcript) Close() {
	if len(t.partial) > 0 {
		t.content(t.partial)
		t.partial = nil
		t.pendingNL = false // that line had no newline
	}
	if t.cur >= 0 && t.pendingNL {
		t.appendOutput([]byte("\n"))
		t.pendingNL = false
	}
}

func (t *transcript) line(line []byte) {
	proto, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte("\r")), []byte(t.mark+" "))
	if !ok || t.mark == "" {
		t.content(line)
		return
	}
	f := strings.Fields(string(proto))
	if len(f) == 0 {
		t.problem(line)
		return
	}
	switch verb := f[0]; verb {
	case "BOOT":
		t.booted = true
	case "WARN":
		t.warnings = append(t.warnings, strings.Join(f[1:], " "))
	case "DEADLINE":
		// The guest ends itself (see guestDeadline); the run then lacks DONE.
		t.deadline = strings.TrimSpace(strings.TrimPrefix(string(proto), verb))
	case "SETUP-FAILED":
		t.setupFailed = strings.TrimSpace(strings.TrimPrefix(string(proto), verb))
	case "READY":
		t.ready = true
		if len(f) > 1 {
			t.readyUptime, _ = uptimeSeconds(f[1])
		}
	case "BEGIN":
		i, ok := t.index(f)
		if !ok || i != len(t.cmds) || t.cur >= 0 {
			t.problem(line)
			return
		}
		t.cur = i
		t.cmds = append(t.cmds, CommandResult{Index: i, ExitCode: -1})
		up := 0.0
		if len(f) > 2 {
			up, _ = uptimeSeconds(f[2])
		}
		t.begin = append(t.begin, up)
	case "END":
		i, ok := t.index(f)
		if !ok || i != t.cur || len(f) < 3 {
			t.problem(line)
			return
		}
		rc, err := strconv.Atoi(strings.TrimPrefix(f[2], "rc="))
		if err != nil || !strings.HasPrefix(f[2], "rc=") {
			t.problem(line)
			return
		}
		c := &t.cmds[i]
		c.ExitCode, c.Finished = rc, true
		if len(f) > 3 {
			if up, ok := uptimeSeconds(f[3]); ok && up >= t.begin[i] {
				c.Duration = time.Duration((up - t.begin[i]) * float64(time.Second))
			}
		}
		t.pendingNL = false // the newline the guest put before END
		t.cur = -1
		if t.OnDone != nil {
			t.OnDone(*c)
		}
	case "DONE":
		if t.cur >= 0 {
			t.problem(line)
			return
		}
		t.done = true
	default:
		t.problem(line)
	}
}

func (t *transcript) index(f []string) (int, bool) {
	if len(f) < 2 {
		return 0, false
	}
	i, err := strconv.Atoi(f[1])
	return i, err == nil && i >= 0
}

func (t *transcript) problem(line []byte) {
	if len(t.problems) < 20 {
		t.problems = append(t.problems, string(line))
	}
}

// content handles one output line (without its "\n").
func (t *transcript) content(line []byte) {
	if t.cur < 0 {
		if t.stray.Len() < 64<<10 {
			t.stray.Write(line)
			t.stray.WriteByte('\n')
		}
		return
	}
	if t.pendingNL {
		t.appendOutput([]byte("\n"))
	}
	t.appendOutput(line)
	t.pendingNL = true
}

func (t *transcript) appendOutput(b []byte) {
	c := &t.cmds[t.cur]
	c.Output += string(b)
	if t.Stream != nil {
		t.Stream.Write(b) //nolint:errcheck // streaming is best effort; the result keeps the output
	}
}

// SetupError reports a guest that booted but could not become ready, most importantly one
// whose kernel has no /proc/net/ip_vs: a lab run without IPVS is a failure, never a skip.
type SetupError struct{ Reason string }

func (e *SetupError) Error() string { return "lab guest setup failed: " + e.Reason }

// err says what went wrong with the run as a whole, or nil when the guest reached DONE.
func (t *transcript) err() error {
	switch {
	case t.setupFailed != "":
		return &SetupError{Reason: t.setupFailed}
	case t.done:
		if len(t.problems) > 0 {
			return fmt.Errorf("lab guest wrote malformed protocol lines: %q", t.problems)
		}
		return nil
	case t.deadline != "":
		return fmt.Errorf("lab guest powered itself off at its own deadline (%s) after %d commands: nothing on the host stopped it before", t.deadline, len(t.cmds))
	case !t.booted:
		return fmt.Errorf("lab guest never reached /init (no BOOT line on the results port)")
	case !t.ready:
		return fmt.Errorf("lab guest booted but never became ready (no READY line)")
	case t.cur >= 0:
		return fmt.Errorf("lab guest stopped during command %d (BEGIN without END)", t.cur)
	default:
		return fmt.Errorf("lab guest stopped after %d commands without its DONE line", len(t.cmds))
	}
}
