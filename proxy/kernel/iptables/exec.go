package iptables

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Runner runs one command with stdin and returns what it printed. err is non-nil when the
// command could not start or exited non-zero; stderr is returned in both cases.
type Runner func(name string, args []string, stdin []byte) (stdout, stderr []byte, err error)

// ExecRunner runs commands with os/exec.
func ExecRunner(name string, args []string, stdin []byte) ([]byte, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.Bytes(), err
}

// DefaultLockWait is how long iptables-restore waits for the xtables lock (-w), in
// seconds, as kube-proxy waits.
const DefaultLockWait = 5

// Linux runs iptables-save and iptables-restore (ip6tables-* for IPv6): one process per
// Restore transaction, input on stdin, --noflush.
type Linux struct {
	run Runner
	// LockWait is the -w argument of iptables-restore in seconds.
	LockWait int
}

var _ Interface = (*Linux)(nil)

// NewLinux runs the binaries found in PATH.
func NewLinux() *Linux { return NewLinuxWithRunner(ExecRunner) }

// NewLinuxWithRunner runs commands through run: tests check the argv and stdin, the lab
// can run them in another network namespace.
func NewLinuxWithRunner(run Runner) *Linux { return &Linux{run: run, LockWait: DefaultLockWait} }

// Save reads the named tables, or every table iptables-save prints plus the standard ones
// (raw, mangle, nat, filter) it omits because nothing created them yet: an absent table
// holds its built-in chains with policy ACCEPT and no rules, and lists that way.
func (l *Linux) Save(f Family, tables ...string) (dataplane.Ruleset, error) {
	if err := checkFamily(f); err != nil {
		return dataplane.Ruleset{}, err
	}
	if len(tables) == 0 {
		rs, err := l.save(f)
		if err != nil {
			return dataplane.Ruleset{}, err
		}
		empty := emptyRuleset()
		for _, name := range tableOrder {
			if _, ok := rs.Table(name); !ok {
				t, _ := empty.Table(name)
				rs.Tables = append(rs.Tables, t)
			}
		}
		return rs, nil
	}
	var out dataplane.Ruleset
	for _, name := range tables {
		rs, err := l.save(f, "-t", name)
		if err != nil {
			return dataplane.Ruleset{}, err
		}
		t, ok := rs.Table(name)
		if !ok {
			return dataplane.Ruleset{}, fmt.Errorf("%s -t %s printed tables %v, expected %s", f.saveCommand(), name, tableNames(rs), name)
		}
		out.Tables = append(out.Tables, t)
	}
	return out, nil
}

func (l *Linux) save(f Family, args ...string) (dataplane.Ruleset, error) {
	cmd := f.saveCommand()
	stdout, stderr, err := l.run(cmd, args, nil)
	if err != nil {
		return dataplane.Ruleset{}, commandError(cmd, args, stderr, err)
	}
	rs, err := dataplane.ParseIPTablesSave(string(stdout))
	if err != nil {
		return dataplane.Ruleset{}, fmt.Errorf("%s %s: %w", cmd, strings.Join(args, " "), err)
	}
	return rs, nil
}

// Restore runs iptables-restore -w N --noflush with input on stdin. A refusal is a
// *RestoreError with the line iptables-restore named.
func (l *Linux) Restore(f Family, input []byte) error {
	if err := checkFamily(f); err != nil {
		return err
	}
	cmd := f.restoreCommand()
	args := []string{"-w", strconv.Itoa(l.LockWait), "--noflush"}
	_, stderr, err := l.run(cmd, args, input)
	if err == nil {
		return nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return commandError(cmd, args, stderr, err)
	}
	msg := strings.TrimSpace(string(stderr))
	if msg == "" {
		msg = err.Error()
	}
	re := &RestoreError{Family: f, Msg: msg}
	if n, ok := blamedLine(msg); ok {
		re.Line = n
		if lines := strings.Split(string(input), "\n"); n <= len(lines) {
			re.Text = lines[n-1]
		}
	}
	return re
}

// lineRE finds the line iptables-restore blames: "line 3 failed" (legacy), "Error occurred
// at line: 5" and "line 5: CHAIN_DEL failed" (nf_tables), "COMMIT expected at line 4".
var lineRE = regexp.MustCompile(`line:? (\d+)`)

func blamedLine(stderr string) (int, bool) {
	m := lineRE.FindStringSubmatch(stderr)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil && n > 0
}

func commandError(cmd string, args []string, stderr []byte, err error) error {
	line := strings.TrimSpace(cmd + " " + strings.Join(args, " "))
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("%s: %w: install iptables (Debian: apt-get install iptables)", line, err)
	}
	if s := strings.TrimSpace(string(stderr)); s != "" {
		return fmt.Errorf("%s: %w: %s", line, err, s)
	}
	return fmt.Errorf("%s: %w", line, err)
}

func tableNames(rs dataplane.Ruleset) []string {
	out := make([]string, 0, len(rs.Tables))
	for _, t := range rs.Tables {
		out = append(out, t.Name)
	}
	return slices.Clip(out)
}
