package controlplane

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
)

// process is one control-plane component running as a child of this process.
type process struct {
	name    string
	binary  string
	pid     int
	logFile string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the child has been reaped
	waitErr error         // set before exited is closed
	// replaced is set when Restart stops the process: its exit is not a failure.
	replaced atomic.Bool
}

// startProcess starts binary with args and this process's environment plus env, stdout and stderr appended to logFile. The child
// gets its own process group, so a Ctrl-C in the terminal reaches only this process, which
// then stops the components in order. Unless detached, the kernel also kills the child
// should this process die without stopping it, and the child is recorded in runDir for the
// next run's sweep (hack/lab/rundir).
func startProcess(name, binary string, args, env []string, logFile, runDir string, detached bool) (*process, error) {
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child holds its own descriptor
	fmt.Fprintf(log, "# %s %s\n", binary, strings.Join(args, " "))
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if len(env) > 0 {
		fmt.Fprintf(log, "# with %s\n", strings.Join(env, " "))
		cmd.Env = append(os.Environ(), env...)
	}
	if detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting %s: %w", name, err)
		}
	} else if err := rundir.Start(cmd, runDir, name); err != nil {
		return nil, err
	}
	p := &process{name: name, binary: binary, pid: cmd.Process.Pid, logFile: logFile, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process (by its PID, never its name), and SIGKILL if it is
// still running after grace; it returns once the process has been reaped.
func (p *process) stop(grace time.Duration) (killed bool, err error) {
	if !p.alive() {
		return false, nil
	}
	if err := syscall.Kill(p.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, fmt.Errorf("stopping %s (pid %d): %w", p.name, p.pid, err)
	}
	select {
	case <-p.exited:
		return false, nil
	case <-time.After(grace):
	}
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("killing %s (pid %d): %w", p.name, p.pid, err)
	}
	select {
	case <-p.exited:
		return true, nil
	case <-time.After(10 * time.Second):
		return true, fmt.Errorf("%s (pid %d) still runs 10s after SIGKILL", p.name, p.pid)
	}
}

// failure describes a process that exited, with the end of its log.
func (p *process) failure(what string) error {
	return fmt.Errorf("%s (pid %d) %s: %v; last lines of %s:\n%s", p.name, p.pid, what, p.waitErr, p.logFile, logTail(p.logFile, 25))
}

// stopPID stops a process this process did not start (a detached control plane) by its
// PID, after checking that the PID still runs the recorded binary, so that a reused PID is
// never signalled.
func stopPID(name string, pid int, binary string, grace time.Duration) (stopped bool, err error) {
	if !runs(pid, binary) {
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return false, nil
		}
		return false, fmt.Errorf("stopping %s (pid %d): %w", name, pid, err)
	}
	if waitGone(pid, grace) {
		return true, nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("killing %s (pid %d): %w", name, pid, err)
	}
	if !waitGone(pid, 10*time.Second) {
		return true, fmt.Errorf("%s (pid %d) still runs 10s after SIGKILL", name, pid)
	}
	return true, nil
}

// runs reports whether pid is alive and executes binary.
func runs(pid int, binary string) bool {
	exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if err != nil || rundir.Gone(pid) {
		return false
	}
	want, err := filepath.EvalSymlinks(binary)
	if err != nil {
		want = binary
	}
	return exe == want
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if rundir.Gone(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTail returns the last n lines of a log file, for error messages.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
