// Package rundir gives each lab run one directory for everything it writes, and removes what
// runs whose owner died left behind.
//
// A run directory is $TMPDIR/ipvs-e2e-<kind>-<random>, mode 0700 (it holds the lab cluster's
// keys and tokens), with an owner record: the PID and start time of the process that made it.
// Each child the run starts is recorded beside it as <name>.pid in the same form. A process
// killed with SIGKILL cannot clean up; its children die with it (they are started with a
// parent-death signal), but its directory stays. The next run's New sweeps such directories
// first: an owner that is no longer running (no such PID, or a PID now held by a process that
// started at another time) marks the directory stale; any recorded child still running with its
// recorded start time is killed, and the directory is removed. Processes are found by PID and
// start time only, never by name. A directory its run chose to keep (Keep) is not swept.
package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const (
	prefix    = "ipvs-e2e-"
	ownerFile = "owner.pid"
	keptFile  = "KEPT"
	pidSuffix = ".pid"
)

// Dir is one run's directory.
type Dir struct {
	// Path is the directory's absolute path.
	Path string
}

var sweepOnce sync.Once

// New sweeps stale run directories (once per process), then makes a run directory for kind
// ("labcluster", "lab", ...) owned by this process.
func New(kind string) (*Dir, error) {
	if kind == "" || strings.ContainsAny(kind, `/\*?[`) {
		return nil, fmt.Errorf("run directory: kind %q: expected a plain name such as \"labcluster\"", kind)
	}
	sweepOnce.Do(func() { Sweep(os.TempDir(), false, slog.Default()) })
	path, err := os.MkdirTemp("", prefix+kind+"-")
	if err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	d := &Dir{Path: path}
	if err := os.Chmod(path, 0o700); err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("run directory: %w", err)
	}
	if err := writeRecord(filepath.Join(path, ownerFile), os.Getpid()); err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("run directory: owner record: %w", err)
	}
	return d, nil
}

// Record notes a child's PID (and start time) as dir/<name>.pid, so that a sweep can stop
// the child should this process die without doing so. dir is the run directory or a
// folder inside it.
func Record(dir, name string, pid int) error {
	if err := writeRecord(filepath.Join(dir, name+pidSuffix), pid); err != nil {
		return fmt.Errorf("recording %s (pid %d): %w", name, pid, err)
	}
	return nil
}

// Start starts cmd as a child tied to this process and records it in dir under name. The
// child gets its own process group, so a Ctrl-C in the terminal reaches only this process,
// which then stops its children in order; and the kernel kills the child with SIGKILL
// should this process die first (kill -9, a panic, a test binary's timeout).
func Start(cmd *exec.Cmd, dir, name string) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	if err := Record(dir, name, cmd.Process.Pid); err != nil {
		// An unrecorded child could outlive a killed run unseen: stop it now.
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	return nil
}

// Keep marks the directory as kept for inspection (a failed run's logs): sweeps leave it.
func (d *Dir) Keep() error {
	return os.WriteFile(filepath.Join(d.Path, keptFile), []byte("kept for inspection; remove the directory when done\n"), 0o600)
}

// Remove removes the directory and all it holds.
func (d *Dir) Remove() error {
	if err := os.RemoveAll(d.Path); err != nil {
		return fmt.Errorf("removing run directory %s: %w", d.Path, err)
	}
	return nil
}

// Sweep removes the run directories under tmp whose owner is gone, killing the recorded
// children that still run, and returns the directories it removed. Directories kept for
// inspection are left unless kept is true; directories without an owner record are always
// left: nothing says whose they are.
func Sweep(tmp string, kept bool, log *slog.Logger) []string {
	matches, _ := filepath.Glob(filepath.Join(tmp, prefix+"*"))
	var removed []string
	for _, dir := range matches {
		owner, err := readRecord(filepath.Join(dir, ownerFile))
		if err != nil || owner.running() {
			continue
		}
		_, err = os.Stat(filepath.Join(dir, keptFile))
		wasKept := err == nil
		if wasKept && !kept {
			continue
		}
		killed := killRecorded(dir, log)
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("run directory of a run that ended without cleaning up: could not remove it", "dir", dir, "err", err)
			continue
		}
		if wasKept {
			log.Info("removed the run directory a failed run kept for inspection", "dir", dir)
		} else {
			log.Info("removed the run directory of a run that ended without cleaning up", "dir", dir, "ownerPid", owner.pid, "childrenKilled", killed)
		}
		removed = append(removed, dir)
	}
	return removed
}

// killRecorded sends SIGKILL to every child recorded under dir that still runs as itself.
func killRecorded(dir string, log *slog.Logger) int {
	killed := 0
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(e.Name(), pidSuffix) || e.Name() == ownerFile {
			return nil
		}
		r, err := readRecord(path)
		if err != nil || !r.running() {
			return nil
		}
		if err := syscall.Kill(r.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			log.Warn("could not stop a leftover process", "record", path, "pid", r.pid, "err", err)
			return nil
		}
		log.Info("stopped a leftover process", "record", path, "pid", r.pid)
		killed++
		return nil
	})
	return killed
}

// Process identifies a process across PID reuse, for a record kept elsewhere (the
// state file of `ipvs-e2e lab up`): its PID and its start time in clock ticks after boot.
type Process struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Self is this process.
func Self() (Process, error) {
	start, err := startTime(os.Getpid())
	if err != nil {
		return Process{}, err
	}
	return Process{PID: os.Getpid(), Start: start}, nil
}

// Running tells whether p still runs: its PID exists, started when recorded and is no zombie.
func (p Process) Running() bool { return record{pid: p.PID, start: p.Start}.running() }

// RemoveOwned removes the run directories under tmp that this process made, kept ones
// too, and returns them: for a run stopped on purpose, which leaves nothing to inspect.
// Its children must be stopped already.
func RemoveOwned(tmp string) ([]string, error) {
	self, err := Self()
	if err != nil {
		return nil, err
	}
	matches, _ := filepath.Glob(filepath.Join(tmp, prefix+"*"))
	var removed []string
	var errs []error
	for _, dir := range matches {
		r, err := readRecord(filepath.Join(dir, ownerFile))
		if err != nil || r.pid != self.PID || r.start != self.Start {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

// Recorded returns the children recorded under dir (Record, Start) that still run, by
// record name: what a run directory's owner has yet to stop.
func Recorded(dir string) map[string]Process {
	out := map[string]Process{}
	filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(e.Name(), pidSuffix) || e.Name() == ownerFile {
			return nil
		}
		if r, err := readRecord(path); err == nil && r.running() {
			out[strings.TrimSuffix(e.Name(), pidSuffix)] = Process{PID: r.pid, Start: r.start}
		}
		return nil
	})
	return out
}

// record identifies a process across PID reuse: its PID and its start time in clock ticks
// after boot (field 22 of /proc/<pid>/stat).
type record struct {
	pid   int
	start uint64
}

func writeRecord(path string, pid int) error {
	start, err := startTime(pid)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", pid, start)), 0o600)
}

func readRecord(path string) (record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return record{}, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return record{}, fmt.Errorf("%s: %q: expected \"<pid> <start time>\"", path, strings.TrimSpace(string(b)))
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return record{}, fmt.Errorf("%s: %q: expected \"<pid> <start time>\"", path, strings.TrimSpace(string(b)))
	}
	return record{pid: pid, start: start}, nil
}

// running tells whether the recorded process still runs: its PID exists and started when
// recorded. A zombie counts as gone.
func (r record) running() bool {
	start, err := startTime(r.pid)
	return err == nil && start == r.start && !Gone(r.pid)
}

// Gone reports whether pid no longer runs: no such process, or a zombie waiting for its
// parent to reap it.
func Gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	st, err := parseStat(string(b))
	return err != nil || st.state == 'Z' || st.state == 'X'
}

func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	st, err := parseStat(string(b))
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return st.start, nil
}

type stat struct {
	state byte
	start uint64
}

// parseStat reads the state (field 3) and start time (field 22) of /proc/<pid>/stat. The
// command name (field 2) is in parentheses and may hold spaces and parentheses itself, so
// the fields after it are counted from its last ')'.
func parseStat(s string) (stat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("expected \"pid (comm) state ...\", found %.40q", s)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return stat{}, fmt.Errorf("expected at least 22 fields, found %d after the command name", len(f)+2)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return stat{}, fmt.Errorf("start time (field 22) %q: expected a number of clock ticks", f[19])
	}
	return stat{state: f[0][0], start: start}, nil
}
