package upstream

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// goTool runs the go command with the environment every upstream build needs.
type goTool struct {
	bin string
	env []string
}

// Variables goTool sets itself, whatever the caller's environment holds: module mode that
// may update the generated go.mod/go.sum (-mod=mod), no go.work from an enclosing folder,
// and static binaries that run in the lab's initramfs (no cgo).
var goToolEnv = map[string]string{
	"GOFLAGS":     "-mod=mod",
	"GOWORK":      "off",
	"CGO_ENABLED": "0",
}

func newGoTool(bin string) goTool {
	if bin == "" {
		bin = "go"
	}
	env := make([]string, 0, len(os.Environ())+len(goToolEnv))
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := goToolEnv[k]; !ours {
			env = append(env, kv)
		}
	}
	for k, v := range goToolEnv {
		env = append(env, k+"="+v)
	}
	return goTool{bin: bin, env: env}
}

// runResult is what one go command left behind.
type runResult struct {
	stdout   []byte
	elapsed  time.Duration
	maxRSSKB int64         // the largest resident set of the command and the tools it waited for
	cpu      time.Duration // user+system time of the command and those tools
}

// run runs `go args...` in dir. A failure carries the command line and the end of stderr.
func (g goTool) run(ctx context.Context, dir string, args ...string) (runResult, error) {
	cmd := exec.CommandContext(ctx, g.bin, args...)
	cmd.Dir = dir
	cmd.Env = g.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Let the go command clean up its compiler children on cancel instead of leaving them.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := runResult{stdout: stdout.Bytes(), elapsed: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.maxRSSKB = ru.Maxrss
			res.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return res, fmt.Errorf("%s %s (in %s): %w\n%s", g.bin, strings.Join(args, " "), dir, err, tailLines(stderr.String(), 30))
	}
	return res, nil
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[... %d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
