package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
)

// binDirs are where a node keeps the binaries the inspector runs, searched in this order
// (PATH's order on Debian and on kind's node image).
var binDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// Host runs the node's own binaries. With Root set (the DaemonSet mounts the node's / there
// read-only) a binary is looked up under Root and run chrooted into it, so it finds the
// node's libraries and its iptables backend; without Root it runs from the inspector's own
// filesystem.
type Host struct {
	Root string
	// Exec runs path (a path inside Root) with args; nil is chrootExec. Tests replace it
	// where chroot needs a shell and libraries that a temporary root does not have.
	Exec func(ctx context.Context, root, path string, args []string) (stdout, stderr []byte, code int, err error)
}

// MissingError is a binary the node does not have. It wraps exec.ErrNotFound.
type MissingError struct {
	Name string
	Root string
}

func (e *MissingError) Error() string {
	where := "the inspector's PATH"
	if e.Root != "" {
		where = fmt.Sprintf("%s under the node's root %s", strings.Join(binDirs, ", "), e.Root)
	}
	return fmt.Sprintf("%s is not installed on the node (looked in %s): install it on the node, or read that part with ipvsdump", e.Name, where)
}

func (e *MissingError) Unwrap() error { return exec.ErrNotFound }

// find returns the path of the binary name: inside Root when Root is set.
func (h Host) find(name string) (string, error) {
	if h.Root == "" {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", &MissingError{Name: name}
		}
		return p, nil
	}
	for _, dir := range binDirs {
		p := filepath.Join(dir, name)
		// Lstat: a node's iptables-save is a symlink to xtables-*-multi, often absolute,
		// which only resolves inside the chroot.
		fi, err := os.Lstat(filepath.Join(h.Root, p))
		if err == nil && !fi.IsDir() {
			return p, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("looking for %s under %s: %w", name, h.Root, err)
		}
	}
	return "", &MissingError{Name: name, Root: h.Root}
}

// has tells whether the node has the binary.
func (h Host) has(name string) bool {
	_, err := h.find(name)
	return err == nil
}

// run runs the node's binary name with args. err is for a binary that is missing or did
// not start; a command that ran and failed has its exit code.
func (h Host) run(ctx context.Context, name string, args ...string) (stdout, stderr []byte, code int, err error) {
	p, err := h.find(name)
	if err != nil {
		return nil, nil, 0, err
	}
	ex := h.Exec
	if ex == nil {
		ex = chrootExec
	}
	return ex(ctx, h.Root, p, args)
}

// chrootExec runs path chrooted into root (none when root is empty), with a plain
// environment: nothing of the inspector's own leaks into the node's tools.
func chrootExec(ctx context.Context, root, path string, args []string) ([]byte, []byte, int, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = []string{"PATH=" + strings.Join(binDirs, ":"), "LC_ALL=C"}
	if root != "" {
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		cmd.Dir = "/"
		// exec.Command resolved nothing (path is absolute); the kernel resolves path inside
		// the chroot.
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		// Killed for its time: a signal's exit code would read as the command's verdict.
		return stdout.Bytes(), stderr.Bytes(), 0, fmt.Errorf("running %s on the node: %w", path, ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return stdout.Bytes(), stderr.Bytes(), exitErr.ExitCode(), nil
	}
	if err != nil {
		return stdout.Bytes(), stderr.Bytes(), 0, fmt.Errorf("running %s on the node: %w", path, err)
	}
	return stdout.Bytes(), stderr.Bytes(), 0, nil
}

// iptablesSave picks the node's iptables-save for a family ("iptables" or "ip6tables") as
// kube-proxy's iptables-wrapper picks its mode: when both the legacy and the nft variant
// are installed, the one whose ruleset holds more of kube-proxy's (KUBE-) lines, nft on a
// tie; otherwise the plain binary. note says which and why, for stderr.
func (h Host) iptablesSave(ctx context.Context, family string) (name, note string, err error) {
	legacy, nft := family+"-legacy-save", family+"-nft-save"
	if !h.has(legacy) || !h.has(nft) {
		return family + "-save", "", nil
	}
	count := func(name string) (int, error) {
		out, stderr, code, err := h.run(ctx, name)
		if err != nil {
			return 0, err
		}
		if code != 0 {
			return 0, fmt.Errorf("%s exited %d: %s", name, code, strings.TrimSpace(string(stderr)))
		}
		return strings.Count(string(out), "KUBE-"), nil
	}
	nl, err := count(legacy)
	if err != nil {
		return "", "", err
	}
	nn, err := count(nft)
	if err != nil {
		return "", "", err
	}
	name, other, n, m := nft, legacy, nn, nl
	if nl > nn {
		name, other, n, m = legacy, nft, nl, nn
	}
	if n == 0 {
		return name, fmt.Sprintf("ipvsdump serve: %s-save is %s on this node: neither variant holds kube-proxy's chains (no KUBE- mentions), and nft is iptables-wrapper's default\n",
			family, name), nil
	}
	return name, fmt.Sprintf("ipvsdump serve: %s-save is %s on this node: it holds kube-proxy's chains (%d KUBE- mentions; %s has %d)\n",
		family, name, n, other, m), nil
}

// Runner is an iptables.Runner over the node's *-save binaries, for kernel.Kernel's
// IPTables: iptables-save and ip6tables-save are picked as iptablesSave picks them, and
// anything else (iptables-restore) is refused, so nothing reading the state through it can
// change a rule.
func (h Host) Runner(note func(string)) func(name string, args []string, stdin []byte) ([]byte, []byte, error) {
	return func(name string, args []string, _ []byte) ([]byte, []byte, error) {
		family, ok := strings.CutSuffix(name, "-save")
		if !ok || family != "iptables" && family != "ip6tables" {
			return nil, nil, fmt.Errorf("the node inspector runs iptables-save and ip6tables-save only, not %s", name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		bin, n, err := h.iptablesSave(ctx, family)
		if err != nil {
			return nil, nil, err
		}
		if n != "" {
			note(n)
		}
		stdout, stderr, code, err := h.run(ctx, bin, args...)
		if err == nil && code != 0 {
			err = fmt.Errorf("%s exited %d", bin, code)
		}
		return stdout, stderr, err
	}
}

// Kernel wraps open so that the kernel it opens reads iptables and ip6tables through the
// node's own *-save binaries (Runner) rather than the inspector's PATH: the image has none,
// and the node's pick between legacy and nft is the one that holds kube-proxy's rules.
func (h Host) Kernel(open func() (*kernel.Kernel, error), note func(string)) func() (*kernel.Kernel, error) {
	return func() (*kernel.Kernel, error) {
		k, err := open()
		if err != nil {
			return nil, err
		}
		k.IPTables = iptables.NewLinuxWithRunner(h.Runner(note))
		return k, nil
	}
}
