package lab

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
)

// Setting is one environment variable the provider reads. The suites check every one up
// front with the other settings of their run (framework/e2e), so a malformed value stops
// the run before anything starts.
type Setting struct {
	Env string
	// Accepts says which values are accepted, for errors and help.
	Accepts string
	// Check returns nil for an accepted (non-empty) value, else why it is not. Nil for
	// File settings.
	Check func(value string) error
	// File says the value is the path of an existing Linux executable.
	File bool
}

// nodesAccepts is what NodesEnv accepts.
var nodesAccepts = fmt.Sprintf("a node count from 1 to %d (empty: 1)", MaxNodes)

// Settings are the environment variables the lab cluster and the kernel lab under it read.
func Settings() []Setting {
	return []Setting{
		{Env: kernellab.AccelEnv, Accepts: "a QEMU accelerator such as tcg, tcg,thread=multi or kvm (empty: tcg,thread=multi)",
			Check: checkAccel},
		{Env: kernellab.KeepEnv, Accepts: "1, to keep every lab run's folder (empty: keep only failed runs')",
			Check: func(v string) error {
				if v != "1" {
					return errors.New("not 1")
				}
				return nil
			}},
		{Env: NodesEnv, Accepts: nodesAccepts,
			Check: func(v string) error { _, err := ParseNodes(v); return err }},
		{Env: NodeAgentEnv, Accepts: "an existing file, a static linux/amd64 build of hack/lab/nodeagent (empty: bin/ipvs-nodeagent of the checkout)",
			File: true},
		{Env: ProxierEnv, Accepts: "an existing file, a static linux/amd64 build of cmd/ipvs-proxier (empty: bin/ipvs-proxier of the checkout)",
			File: true},
		// The control plane's binaries (hack/lab/upstream): how a missing one is made, and where from.
		{Env: upstream.SourceEnv, Accepts: "auto, download or build (empty: auto, the release download with a build from the Go module proxy when the release host does not answer)",
			Check: func(v string) error {
				_, err := upstream.ParseSource(upstream.SourceEnv, v)
				return errOnly(err, "not a source")
			}},
		{Env: upstream.ReleaseURLEnv, Accepts: "an http(s) base URL (empty: " + upstream.DefaultReleaseURL + ")",
			Check: func(v string) error { _, err := upstream.CheckBaseURL(v); return err }},
		{Env: upstream.EtcdURLEnv, Accepts: "an http(s) base URL (empty: " + upstream.DefaultEtcdURL + ")",
			Check: func(v string) error { _, err := upstream.CheckBaseURL(v); return err }},
	}
}

// errOnly replaces err, whose text already names the setting, by the bare reason.
func errOnly(err error, reason string) error {
	if err != nil {
		return errors.New(reason)
	}
	return nil
}

// ParseNodes reads a node count as NodesEnv holds it; empty is 1. Its error says why the
// value is not accepted.
func ParseNodes(v string) (int, error) {
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	if n < 1 || n > MaxNodes {
		return 0, fmt.Errorf("%d nodes are out of range (they share one guest)", n)
	}
	return n, nil
}

// parseNodesEnv is ParseNodes of NodesEnv, its error naming the variable and what it accepts.
func parseNodesEnv() (int, error) {
	v := os.Getenv(NodesEnv)
	n, err := ParseNodes(v)
	if err != nil {
		return 0, fmt.Errorf("lab cluster: %s=%q: %v; expected %s", NodesEnv, v, err, nodesAccepts)
	}
	return n, nil
}

// checkAccel accepts what QEMU's -accel takes: a name, then comma-separated options.
func checkAccel(v string) error {
	name, _, _ := strings.Cut(v, ",")
	if name == "" || strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(",=_-", r))
	}) >= 0 {
		return errors.New("not an accelerator name with options")
	}
	return nil
}

// Validate says why a non-empty value of the setting is not accepted, or nil.
func (s Setting) Validate(v string) error {
	if !s.File {
		return s.Check(v)
	}
	return CheckLinuxBinary(v)
}

// CheckLinuxBinary accepts the path of an existing Linux (ELF) executable, as File settings
// hold: the binaries run in the lab guest or a node, so a build for the host's own system
// (macOS, say) is refused here rather than failing in the node with "exec format error".
func CheckLinuxBinary(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		head := make([]byte, 4)
		if r, oerr := os.Open(path); oerr == nil {
			n, _ := io.ReadFull(r, head)
			head = head[:n]
			r.Close()
		}
		return fmt.Errorf("%s is not a Linux (ELF) binary (it starts with %q, not \"\\x7fELF\"); build it with CGO_ENABLED=0 GOOS=linux go build (make ipvsdump and make lab-cluster-binaries do)", path, head)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s is an ELF file of type %v, not an executable", path, f.Type)
	}
	return nil
}

// CheckSettings validates every setting's value in the environment, and names each one
// that is not accepted with what it accepts. The suites check them with their own settings
// (framework/e2e); the tool's commands call this before they start anything.
func CheckSettings() error {
	var errs []error
	for _, s := range Settings() {
		if v := os.Getenv(s.Env); v != "" {
			if err := s.Validate(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v; expected %s", s.Env, v, err, s.Accepts))
			}
		}
	}
	return errors.Join(errs...)
}
