package kernellab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/internal/cpio"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
)

// DefaultTimeout bounds a job when Job.Timeout is zero.
const DefaultTimeout = 10 * time.Minute

// kernelCmdline: console on the first serial port, reboot (and so QEMU exit, -no-reboot) on
// panic, quiet kernel.
const kernelCmdline = "console=ttyS0 panic=-1 loglevel=4 rdinit=/init"

// Run prepares the default lab and runs one job in it.
func Run(ctx context.Context, job Job) (*Result, error) {
	l, err := Prepare(ctx, Options{})
	if err != nil {
		return nil, err
	}
	return l.Run(ctx, job)
}

// Run boots a guest for the job, runs its commands in order and returns what each did. The
// error is non-nil when the run as a whole failed: the guest did not become ready (no IPVS
// is a *SetupError), did not report DONE before the timeout, or QEMU failed. A command that
// exits non-zero is not an error here; see Result.Failed. The Result is returned with
// whatever the guest reported even when err is non-nil.
func (l *Lab) Run(ctx context.Context, job Job) (*Result, error) {
	if err := job.validate(); err != nil {
		return nil, err
	}
	log := l.opts.Logger.With("job", job.Name)
	timeout := job.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dir, done, err := jobDir(job.Dir)
	if err != nil {
		return nil, err
	}
	res, err := l.run(ctx, job, dir, timeout, log)
	done(err != nil || (res != nil && res.Failed() != nil), log)
	return res, err
}

// jobDir gives the folder a run writes to, and what to do with it once the run ended: a
// folder the caller named is the caller's; a run directory of the run's own is removed,
// unless the run failed or KeepEnv asks to keep it.
func jobDir(callerDir string) (string, func(failed bool, log *slog.Logger), error) {
	if callerDir != "" {
		if err := os.MkdirAll(callerDir, 0o700); err != nil {
			return "", nil, fmt.Errorf("lab run folder: %w", err)
		}
		return callerDir, func(bool, *slog.Logger) {}, nil
	}
	d, err := rundir.New("lab")
	if err != nil {
		return "", nil, err
	}
	return d.Path, func(failed bool, log *slog.Logger) {
		switch {
		case os.Getenv(KeepEnv) == "1":
			log.Info("lab: run folder kept", "dir", d.Path, "why", KeepEnv+"=1")
		case failed:
			// The initrd is rebuilt by any rerun; the console and results explain the failure.
			os.Remove(filepath.Join(d.Path, "initrd.img"))
			if err := d.Keep(); err != nil {
				log.Warn("lab: could not mark the run folder kept", "dir", d.Path, "err", err)
			}
			log.Info("lab: run folder kept for inspection (console.log, results.log)", "dir", d.Path)
		default:
			if err := d.Remove(); err != nil {
				log.Warn("lab: run folder not removed", "err", err)
			}
		}
	}, nil
}

func (l *Lab) run(ctx context.Context, job Job, dir string, timeout time.Duration, log *slog.Logger) (*Result, error) {

	mark, err := newMark()
	if err != nil {
		return nil, err
	}
	initrd := filepath.Join(dir, "initrd.img")
	jobBytes, err := writeInitrd(initrd, l.Initramfs, job, jobScripts(job, mark, l.opts.Preload, timeout))
	if err != nil {
		return nil, err
	}
	mem := job.MemoryMiB
	if mem <= 0 {
		mem = memoryFor(jobBytes)
	}

	console := filepath.Join(dir, "console.log")
	results := filepath.Join(dir, "results.log")
	for _, f := range []string{console, results} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return nil, err
		}
	}
	args := qemuArgs(qemuConfig{
		Accel: l.opts.Accel, MemoryMiB: mem, Kernel: l.Kernel, Initrd: initrd,
		Console: console, Results: results, Network: job.Network,
	})

	tr := newTranscript(mark)
	tr.Stream = job.Stream
	tr.OnDone = func(c CommandResult) {
		c.Name = job.Commands[c.Index].label()
		if job.OnDone != nil {
			job.OnDone(c)
		}
	}

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, "qemu-system-x86_64", args...)
	// Stop QEMU by its own PID: SIGTERM first (it exits at once), SIGKILL if it lingers.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	var qemuOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	log.Info("lab: booting", "kernel", l.KernelVersion, "memoryMiB", mem, "accel", l.opts.Accel,
		"commands", len(job.Commands), "initrdMiB", fmt.Sprintf("%.1f", float64(fileSize(initrd))/(1<<20)))
	start := time.Now()
	// QEMU dies with this process however it dies, and is recorded for the next run's sweep.
	if err := rundir.Start(cmd, dir, "qemu"); err != nil {
		return nil, err
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	werr := follow(results, tr, waitErr, func() {
		log.Info("lab: guest ready", "boot", time.Duration(tr.readyUptime*float64(time.Second)).Round(10*time.Millisecond), "elapsed", since(start))
	})
	tr.Close()

	res := &Result{Elapsed: time.Since(start), Warnings: tr.warnings}
	res.Boot = time.Duration(tr.readyUptime * float64(time.Second))
	res.Commands = make([]CommandResult, len(job.Commands))
	for i, c := range job.Commands {
		res.Commands[i] = CommandResult{Index: i, Name: c.label(), ExitCode: -1}
	}
	for _, c := range tr.cmds {
		if c.Index < len(res.Commands) {
			c.Name = res.Commands[c.Index].Name
			res.Commands[c.Index] = c
		}
	}
	res.ConsoleTail = tailFile(console, 60)
	if err := unpacked(console); err != nil && tr.setupFailed == "" {
		// The kernel boots on with the files it managed to unpack: a test would fail on a
		// missing or cut file, far from the cause.
		tr.setupFailed = fmt.Sprintf("%v: %d MiB of job files did not fit in %d MiB of guest memory; give the job more (MemoryMiB, lab test --mem)",
			err, jobBytes>>20, mem)
	}

	// DONE is the only proof of a finished run: QEMU's own status says nothing (it exits 0
	// after poweroff, and non-zero when stopped after DONE was already written).
	runErr := tr.err()
	if runErr != nil {
		switch {
		case ctx.Err() != nil:
			runErr = fmt.Errorf("lab job %q cancelled (%v): %w", job.Name, runErr, ctx.Err())
		case errors.Is(runCtx.Err(), context.DeadlineExceeded):
			runErr = fmt.Errorf("lab job %q did not finish within %s (%v); QEMU was stopped", job.Name, timeout, runErr)
		case werr != nil:
			runErr = fmt.Errorf("%w; QEMU: %v", runErr, werr)
		}
	}
	if runErr != nil {
		var se *SetupError
		if !errors.As(runErr, &se) || se.Reason == "" {
			runErr = fmt.Errorf("%w\nqemu: %s\nguest console (last lines):\n%s", runErr,
				strings.TrimSpace(qemuOut.String()), res.ConsoleTail)
		} else {
			runErr = fmt.Errorf("%w\nguest console (last lines):\n%s", runErr, res.ConsoleTail)
		}
		if ctx.Err() != nil {
			// The caller stopped the guest (a lab cluster's Delete, Ctrl-C): it knows, and
			// an ERROR line would read as a failure in every normal run's log.
			log.Info("lab: guest stopped by its caller", "elapsed", since(start), "reason", context.Cause(ctx))
			return res, runErr
		}
		log.Error("lab: run failed", "elapsed", since(start), "err", firstLine(runErr.Error()))
		return res, runErr
	}
	failed := 0
	for _, c := range res.Commands {
		if !c.OK() {
			failed++
		}
	}
	log.Info("lab: guest finished", "elapsed", since(start), "commands", len(res.Commands), "failed", failed)
	return res, nil
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// follow feeds the results file to tr while QEMU runs, and the rest once it exits. onReady is
// called once, when the guest reports READY.
func follow(results string, tr *transcript, done <-chan error, onReady func()) error {
	f, err := os.Open(results)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	readAll := func() {
		for {
			n, err := f.Read(buf)
			if n > 0 {
				wasReady := tr.ready
				tr.Write(buf[:n])
				if !wasReady && tr.ready {
					onReady()
				}
			}
			if err != nil || n == 0 {
				return
			}
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			readAll()
			return err
		case <-tick.C:
			readAll()
		}
	}
}

func newMark() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return markerPrefix + hex.EncodeToString(b), nil
}

// memoryFor picks guest memory for a job whose files add jobBytes: the initrd sits in RAM
// until the kernel has unpacked it, and the rootfs it unpacks into is a tmpfs that may
// hold at most half of the memory the kernel counts while the initrd is still reserved,
// so the files need about three times their size; Go test binaries need room to run
// besides. At least 512 MiB, in steps of 128.
func memoryFor(jobBytes int64) int {
	mib := 384 + int(3*jobBytes>>20)
	mib = (mib + 127) / 128 * 128
	return max(mib, 512)
}

type qemuConfig struct {
	Accel                            string
	MemoryMiB                        int
	Kernel, Initrd, Console, Results string
	Network                          *Network
}

// qemuArgs builds QEMU's command line: one vCPU (TCG boots faster with one on two host
// cores), no default devices, no reboot (panic=-1 then ends QEMU), console on the first
// serial port and results on the second.
func qemuArgs(c qemuConfig) []string {
	args := []string{
		"-nodefaults", "-no-user-config",
		"-accel", c.Accel,
		"-m", strconv.Itoa(c.MemoryMiB), "-smp", "1",
		"-display", "none", "-no-reboot",
		"-kernel", c.Kernel, "-initrd", c.Initrd, "-append", kernelCmdline,
		"-serial", "file:" + c.Console, "-serial", "file:" + c.Results,
	}
	if c.Network == nil {
		return append(args, "-nic", "none")
	}
	nic := "user,model=virtio-net-pci"
	for _, f := range c.Network.HostForwards {
		nic += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest)
	}
	return append(args, "-nic", nic)
}

// jobScripts gives the two files every job adds: /lab/job.env and /lab/run.
func jobScripts(job Job, mark string, preload []string, timeout time.Duration) []File {
	host := job.Hostname
	if host == "" {
		host = "lab-node"
	}
	ipt := job.IPTables
	if ipt == "" {
		ipt = "nft"
	}
	return []File{
		{Path: "/lab/job.env", Data: []byte(jobEnv(mark, host, preload, job.Network != nil, ipt, guestDeadline(timeout))), Mode: 0o644},
		{Path: "/lab/run", Data: []byte(runScript(mark, job.Commands, job.StopOnFailure)), Mode: 0o755},
	}
}

// writeInitrd writes the base initramfs followed by an uncompressed archive of the job's
// files (the kernel unpacks concatenated archives in order). The job part stays
// uncompressed: Go test binaries shrink little (gzip -1: 23.6 to 13.9 MB) and the guest
// booted as fast either way (2.0-2.3 s), so compressing would only cost host time. It
// returns the job part's size.
func writeInitrd(dst, base string, job Job, scripts []File) (int64, error) {
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	in, err := os.Open(base)
	if err != nil {
		return 0, fmt.Errorf("base initramfs: %w (run Prepare first)", err)
	}
	n, err := io.Copy(out, in)
	in.Close()
	if err != nil {
		return 0, err
	}
	// An uncompressed archive must start on a 4-byte boundary; the kernel skips zero bytes.
	if pad := (4 - n%4) % 4; pad > 0 {
		if _, err := out.Write(make([]byte, pad)); err != nil {
			return 0, err
		}
	}
	cnt := &countWriter{w: out}
	cw := cpio.NewWriter(cnt)
	for _, f := range append(scripts, job.Files...) {
		if err := addJobFile(cw, f); err != nil {
			return 0, fmt.Errorf("lab job %q: %w", job.Name, err)
		}
	}
	if err := cw.Close(); err != nil {
		return 0, err
	}
	return cnt.n, out.Close()
}

func addJobFile(cw *cpio.Writer, f File) error {
	if f.Source == "" {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		return cw.WriteFile(f.Path, mode, f.Data)
	}
	return addHostFile(cw, f.Source, f.Path, f.Mode)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

// unpacked reports the kernel's complaint, in the console log, that it could not unpack the
// whole initramfs (its rootfs was full).
func unpacked(console string) error {
	b, err := os.ReadFile(console)
	if err != nil {
		return nil // the console's absence is reported with its tail
	}
	const failed = "Initramfs unpacking failed"
	if i := bytes.Index(b, []byte(failed)); i >= 0 {
		line, _, _ := bytes.Cut(b[i:], []byte("\n"))
		return errors.New(strings.TrimSpace(string(line)))
	}
	return nil
}

// tailFile gives the last n lines of a file, with the CRs of the serial console removed.
func tailFile(p string, n int) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Sprintf("(no console log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
