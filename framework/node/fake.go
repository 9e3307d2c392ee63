package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
)

// Fake is a Node whose commands answer from a script, for unit tests. A command line is
// scripted by its words joined with single spaces ("ipset save"); several responses for one
// line are given out in order and the last one repeats. A command nobody scripted fails like
// a missing binary (exit 127), so code under test sees what a bare node would do.
type Fake struct {
	name string

	mu      sync.Mutex
	script  map[string][]Response
	handler func(Call) (Response, bool)
	calls   []Call
	files   map[string]File
}

// Response is what one scripted command prints and how it exits.
type Response struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Call is one command the fake ran.
type Call struct {
	Command []string
	Env     []string
	Stdin   []byte
}

// Line is the call's command line as scripts name it.
func (c Call) Line() string { return strings.Join(c.Command, " ") }

// File is a file copied into the fake node.
type File struct {
	Content []byte
	Mode    fs.FileMode
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// NewFake returns a fake node with nothing scripted.
func NewFake(name string) *Fake {
	return &Fake{name: name, script: map[string][]Response{}, files: map[string]File{}}
}

// Script makes the command line answer with the responses, in order.
func (f *Fake) Script(line string, responses ...Response) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[line] = append(f.script[line], responses...)
	return f
}

// Stdout scripts a command that succeeds printing out.
func (f *Fake) Stdout(line, out string) *Fake { return f.Script(line, Response{Stdout: out}) }

// Handle installs a fallback for command lines without a script; it returns false to
// decline a call.
func (f *Fake) Handle(h func(Call) (Response, bool)) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
	return f
}

// Calls returns the commands run so far, in order.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallLines returns the command lines run so far, in order.
func (f *Fake) CallLines() []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.Line())
	}
	return out
}

// File returns a file copied into the node with CopyFile.
func (f *Fake) File(nodePath string) (File, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	file, ok := f.files[nodePath]
	return file, ok
}

// Name implements Node.
func (f *Fake) Name() string { return f.name }

// Command implements Node.
func (f *Fake) Command(ctx context.Context, name string, args ...string) Cmd {
	return &fakeCmd{ctx: ctx, fake: f, argv: append([]string{name}, args...)}
}

// CopyFile implements Node: it reads the host file and keeps it under nodePath.
func (f *Fake) CopyFile(ctx context.Context, hostPath, nodePath string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	content, err := os.ReadFile(hostPath)
	if err != nil {
		return fmt.Errorf("copy %s to node %s:%s: %w", hostPath, f.name, nodePath, err)
	}
	info, err := os.Stat(hostPath)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[nodePath] = File{Content: content, Mode: info.Mode().Perm()}
	return nil
}

func (f *Fake) respond(c Call) Response {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	if rs := f.script[c.Line()]; len(rs) > 0 {
		r := rs[0]
		if len(rs) > 1 {
			f.script[c.Line()] = rs[1:]
		}
		f.mu.Unlock()
		return r
	}
	handler := f.handler
	f.mu.Unlock()
	// The handler runs unlocked: it may read the fake's files and calls.
	if handler != nil {
		if r, ok := handler(c); ok {
			return r
		}
	}
	return Response{
		Stderr:   fmt.Sprintf("fake node %s: nothing scripted for `%s` (treated as command not found)\n", f.name, c.Line()),
		ExitCode: 127,
	}
}

type fakeCmd struct {
	ctx    context.Context
	fake   *Fake
	argv   []string
	env    []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (c *fakeCmd) SetEnv(env ...string) Cmd  { c.env = env; return c }
func (c *fakeCmd) SetStdin(r io.Reader) Cmd  { c.stdin = r; return c }
func (c *fakeCmd) SetStdout(w io.Writer) Cmd { c.stdout = w; return c }
func (c *fakeCmd) SetStderr(w io.Writer) Cmd { c.stderr = w; return c }

func (c *fakeCmd) Run() error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	call := Call{Command: c.argv, Env: c.env}
	if c.stdin != nil {
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, c.stdin); err != nil {
			return err
		}
		call.Stdin = buf.Bytes()
	}
	r := c.fake.respond(call)
	if c.stdout != nil {
		io.WriteString(c.stdout, r.Stdout)
	}
	if c.stderr != nil {
		io.WriteString(c.stderr, r.Stderr)
	}
	if r.ExitCode != 0 {
		return &ExitError{Code: r.ExitCode}
	}
	return nil
}
