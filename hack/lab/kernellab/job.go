package kernellab

import (
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
)

// File is one file put into the guest for a job.
type File struct {
	// Path is where the guest sees it ("/lab/bin/proxy.test").
	Path string
	// Source is a host file to copy; Data is used when Source is empty.
	Source string
	Data   []byte
	// Mode is the permission; zero takes the host file's mode (0644 for Data).
	Mode fs.FileMode
}

// Command is one step of a job. Exactly one of Args (run directly) and Shell (run with
// /bin/sh -c; /bin/sh is dash, as on Debian nodes) is set. Stdin is /dev/null; stdout and
// stderr together are the command's Output. The command ends when its output pipe closes, so
// a process it leaves running in the background must send its output elsewhere
// (`kube-proxy ... >/tmp/kp.log 2>&1 &`); later commands of the job can read that file.
type Command struct {
	// Name labels the command in results and logs; it defaults to the command line.
	Name  string
	Args  []string
	Shell string
	// Dir is the working directory in the guest ("" is /); it is created when missing.
	Dir string
	// Env adds KEY=VALUE variables; the guest always sets IPVS_E2E_LAB=1.
	Env []string
}

// label gives the command's name for messages.
func (c Command) label() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.Shell != "":
		return c.Shell
	default:
		return strings.Join(c.Args, " ")
	}
}

// Network asks for a guest NIC: QEMU user networking, guest 10.0.2.15/24 with the host's
// loopback reachable as 10.0.2.2.
type Network struct {
	// HostForwards maps host ports on 127.0.0.1 to guest TCP ports.
	HostForwards []PortForward
}

// PortForward forwards 127.0.0.1:Host on the host to Guest in the guest.
type PortForward struct{ Host, Guest uint16 }

// Job is what one guest boot does.
type Job struct {
	// Name labels the run in logs.
	Name  string
	Files []File
	// Commands run in order, each to its end, whatever the previous one returned, unless
	// StopOnFailure is set.
	Commands      []Command
	StopOnFailure bool
	// Timeout bounds the whole run, boot included (default 10 minutes). QEMU is killed by
	// its PID when it passes, and when ctx is cancelled.
	Timeout time.Duration
	// MemoryMiB is the guest's memory; zero picks enough for the initramfs (at least 512).
	MemoryMiB int
	// Network, when set, gives the guest a NIC; without it the guest has none.
	Network *Network
	// IPTables picks the backend the iptables commands use: "nft" (default) or "legacy".
	IPTables string
	// Hostname of the guest (default "lab-node").
	Hostname string
	// Dir, when set, is where the run writes (initrd, console.log, results.log, qemu.pid): a
	// folder of the caller's run directory (hack/lab/rundir), created when missing and left
	// for the caller to remove. When empty, the run makes a run directory of its own, removed
	// after the run unless it failed (then kept, and logged, without the initrd).
	Dir string
	// Stream, when set, receives the commands' output as it arrives; OnDone is called as each
	// command ends. Both run on the goroutine that follows the guest.
	Stream io.Writer
	OnDone func(CommandResult)
}

func (j *Job) validate() error {
	if len(j.Commands) == 0 {
		return fmt.Errorf("lab job %q has no commands; expected at least one", j.Name)
	}
	for i, c := range j.Commands {
		if (len(c.Args) == 0) == (c.Shell == "") {
			return fmt.Errorf("lab job %q command %d (%s): set exactly one of Args and Shell", j.Name, i, c.label())
		}
	}
	for _, f := range j.Files {
		if !strings.HasPrefix(f.Path, "/") || f.Path == "/init" || f.Path == "/lab/job.env" || f.Path == "/lab/run" {
			return fmt.Errorf("lab job %q file %q: expected an absolute guest path other than /init and /lab/{job.env,run}", j.Name, f.Path)
		}
	}
	switch j.IPTables {
	case "", "nft", "legacy":
	default:
		return fmt.Errorf("lab job %q: iptables backend %q: expected nft or legacy", j.Name, j.IPTables)
	}
	return nil
}

// CommandResult is what one command did in the guest.
type CommandResult struct {
	Index int
	// Name is the command's label (Command.Name or its command line).
	Name string
	// Output is stdout and stderr together, as the guest wrote them.
	Output string
	// ExitCode is the command's status; -1 when it did not finish.
	ExitCode int
	// Finished is false for a command cut short (timeout, guest crash) or never started.
	Finished bool
	// Duration is measured by the guest's clock.
	Duration time.Duration
}

// OK tells whether the command finished with status 0.
func (c CommandResult) OK() bool { return c.Finished && c.ExitCode == 0 }

// Result is what a job's run gave.
type Result struct {
	// Commands holds one entry per job command, in order; commands that never started have
	// Finished false and no output.
	Commands []CommandResult
	// Boot is the guest's uptime when it was ready to run commands.
	Boot time.Duration
	// Elapsed is the host's wall time from starting QEMU to its exit.
	Elapsed time.Duration
	// Warnings are the guest's WARN lines (a module that did not load, ...).
	Warnings []string
	// ConsoleTail is the end of the guest's serial console, kept for failure messages.
	ConsoleTail string
}

// Failed gives the first command that did not finish with status 0, or nil.
func (r *Result) Failed() *CommandResult {
	for i := range r.Commands {
		if !r.Commands[i].OK() {
			return &r.Commands[i]
		}
	}
	return nil
}

// Output gives the output of the command with the given name ("" when there is none).
func (r *Result) Output(name string) string {
	for _, c := range r.Commands {
		if c.Name == name {
			return c.Output
		}
	}
	return ""
}
