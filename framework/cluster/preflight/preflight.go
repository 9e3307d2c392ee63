// Package preflight checks, before a cluster is created, that the host can run one with
// kube-proxy in ipvs mode, and says exactly what to do when it cannot. The checks read the
// host through a Probe so their messages are unit-tested without Docker or IPVS.
package preflight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
)

// Probe is how checks look at the host.
type Probe interface {
	// LookPath finds an executable in PATH.
	LookPath(file string) (string, error)
	// Run runs a host command and returns its stdout and stderr.
	Run(ctx context.Context, name string, args ...string) (stdout, stderr []byte, err error)
	// ReadFile reads a host file.
	ReadFile(path string) ([]byte, error)
	// Exists tells whether a host path exists.
	Exists(path string) bool
}

// Host is the Probe of the machine the tests run on.
type Host struct{}

// LookPath implements Probe.
func (Host) LookPath(file string) (string, error) { return exec.LookPath(file) }

// Run implements Probe.
func (Host) Run(ctx context.Context, name string, args ...string) ([]byte, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.Bytes(), err
}

// ReadFile implements Probe.
func (Host) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// Exists implements Probe.
func (Host) Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// Failure is a check that stops the run.
type Failure struct {
	Check string
	// Found is what the check saw; Fix is what to do about it.
	Found string
	Fix   string
}

func (f *Failure) Error() string {
	return fmt.Sprintf("preflight %s: %s\n%s", f.Check, f.Found, f.Fix)
}

// Report collects check results: failures stop the run, warnings are printed.
type Report struct {
	Failures []*Failure
	Warnings []string
	// Passed names the checks that passed, with what they found.
	Passed []string
}

// Err joins the failures, then says once how to run the checks without Docker; nil when
// every check passed.
func (r Report) Err() error {
	if len(r.Failures) == 0 {
		return nil
	}
	errs := make([]error, 0, len(r.Failures)+1)
	for _, f := range r.Failures {
		errs = append(errs, f)
	}
	return errors.Join(append(errs, errors.New(LabHint))...)
}

// String renders the report for a terminal.
func (r Report) String() string {
	var b strings.Builder
	for _, p := range r.Passed {
		fmt.Fprintf(&b, "preflight ok: %s\n", p)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "preflight warning: %s\n", w)
	}
	if err := r.Err(); err != nil {
		fmt.Fprintf(&b, "%v\n", err)
	}
	return b.String()
}

// LabHint points at the way to run the same checks without Docker or a host IPVS kernel.
const LabHint = "`make lab` runs the same IPVS checks in a QEMU kernel lab on this machine, without Docker."

// DockerEngine checks that a Docker engine answers, which kind needs for its node
// containers. It runs `docker info`, the command kind's own detection relies on.
func DockerEngine(ctx context.Context, p Probe) (string, *Failure) {
	const check = "docker"
	if _, err := p.LookPath("docker"); err != nil {
		return "", &Failure{
			Check: check,
			Found: "no Docker engine: the `docker` command is not in PATH.",
			Fix: "make e2e runs the suites on kind clusters, whose nodes are Docker containers: run it on a Linux host with Docker Engine " +
				"(https://docs.docker.com/engine/install/).",
		}
	}
	stdout, stderr, err := p.Run(ctx, "docker", "info", "--format", "{{.ServerVersion}}")
	version := strings.TrimSpace(string(stdout))
	if err != nil || version == "" {
		why := strings.TrimSpace(string(stderr))
		if why == "" && err != nil {
			why = err.Error()
		}
		return "", &Failure{
			Check: check,
			Found: "no Docker engine: `docker info` failed: " + firstLine(why),
			Fix: "The docker client is installed but no engine answers. Start it (`sudo systemctl start docker`) or point DOCKER_HOST at one; " +
				"kind needs a running engine to create its node containers.",
		}
	}
	return "Docker engine " + version, nil
}

// The modules the seed loads, in its order. kube-proxy needs ip_vs and the scheduler
// modules it uses (rr by default); nf_conntrack is needed for the NAT (Masq) forwarding.
var seedModules = []string{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"}

// Remediation is the seed's fix for a host without the IPVS modules loaded.
func Remediation() string {
	return "Load the modules on the host (kind nodes share the host kernel and mount /lib/modules read-only):\n" +
		"  sudo modprobe -a " + strings.Join(seedModules, " ") + "\n" +
		"and load them at every boot:\n" +
		"  printf '%s\\n' " + strings.Join(seedModules, " ") + " | sudo tee /etc/modules-load.d/k8s.conf\n" +
		"Docker Desktop and WSL2 kernels often lack ip_vs altogether (kind issue #707, microsoft/WSL#4708): " +
		"use a Linux host or VM whose kernel has it."
}

// KernelModules checks that the host kernel can do IPVS for the nodes. A module counts as
// available when loaded (/proc/modules, /sys/module/<name>), built in (modules.builtin) or
// installed (modules.dep): the kernel loads an installed one on first use. ip_vs itself is
// required; missing scheduler modules are warnings, because only specs using that
// scheduler fail (the services suite changes to wrr, sh and mh).
func KernelModules(p Probe, schedulers ...string) (passed string, warnings []string, failure *Failure) {
	release := kernelRelease(p)
	loaded := loadedModules(p)
	builtin := moduleList(p, "/lib/modules/"+release+"/modules.builtin")
	installed := moduleList(p, "/lib/modules/"+release+"/modules.dep")

	state := func(mod string) string {
		switch {
		case loaded[mod] || p.Exists("/sys/module/"+mod):
			return "loaded"
		case builtin[mod]:
			return "built in"
		case installed[mod]:
			return "installed"
		}
		return ""
	}

	if p.Exists("/proc/net/ip_vs") {
		passed = "IPVS is active in the host kernel (/proc/net/ip_vs)"
	} else if s := state("ip_vs"); s != "" {
		passed = "ip_vs module " + s
		if s == "installed" {
			warnings = append(warnings, "ip_vs is installed but not loaded; kube-proxy's first IPVS call loads it. To load it now and at boot:\n"+Remediation())
		}
	} else {
		var where []string
		if release != "" {
			where = append(where, "/lib/modules/"+release+"/modules.{dep,builtin}")
		}
		return "", nil, &Failure{
			Check: "ipvs",
			Found: fmt.Sprintf("the host kernel %shas no IPVS: /proc/net/ip_vs and /sys/module/ip_vs are missing and ip_vs is not in /proc/modules%s.",
				orEmpty(release, "(%s) "), orEmpty(strings.Join(where, ""), " or %s")),
			Fix: "kube-proxy in ipvs mode cannot program Services on these nodes. " + Remediation(),
		}
	}

	want := []string{"nf_conntrack", "ip_vs_rr"}
	for _, s := range schedulers {
		if s != "" && s != "rr" {
			want = append(want, "ip_vs_"+s)
		}
	}
	var missing []string
	for _, mod := range want {
		if state(mod) == "" {
			missing = append(missing, mod)
		}
	}
	if len(missing) > 0 {
		warnings = append(warnings, fmt.Sprintf("kernel modules %s not found loaded, built in or installed; specs that need them will fail. %s",
			strings.Join(missing, ", "), "Load them with `sudo modprobe -a "+strings.Join(missing, " ")+"`."))
	}
	return passed, warnings, nil
}

func kernelRelease(p Probe) string {
	b, err := p.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// loadedModules reads /proc/modules (what lsmod prints): "ip_vs 180224 6 ip_vs_rr, Live ...".
func loadedModules(p Probe) map[string]bool {
	b, err := p.ReadFile("/proc/modules")
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out[f[0]] = true
		}
	}
	return out
}

// moduleList reads modules.dep or modules.builtin: one module path per line
// ("kernel/net/netfilter/ipvs/ip_vs.ko.xz: kernel/..."), maybe compressed.
func moduleList(p Probe, path string) map[string]bool {
	b, err := p.ReadFile(path)
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		file, _, _ := strings.Cut(line, ":")
		file = strings.TrimSpace(file)
		if file == "" {
			continue
		}
		base := file[strings.LastIndex(file, "/")+1:]
		name, _, _ := strings.Cut(base, ".ko")
		// modprobe treats - and _ alike in module names.
		out[strings.ReplaceAll(name, "-", "_")] = true
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func orEmpty(s, format string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf(format, s)
}

// ForKind runs every check a kind cluster with kube-proxy in ipvs mode needs, Docker first.
// goos is the host's runtime.GOOS: only a Linux host shares its kernel with the kind nodes,
// so only there can the host's modules be checked; elsewhere the check is a warning.
func ForKind(ctx context.Context, p Probe, goos string, schedulers ...string) Report {
	var r Report
	if passed, f := DockerEngine(ctx, p); f != nil {
		r.Failures = append(r.Failures, f)
	} else {
		r.Passed = append(r.Passed, passed)
	}
	if goos != "linux" {
		r.Warnings = append(r.Warnings, fmt.Sprintf("cannot check the IPVS modules of the Docker VM's kernel from a %s host; "+
			"Docker Desktop kernels often lack ip_vs (kind issue #707): if kube-proxy fails with \"can't use the IPVS proxier\", that is why.", goos))
		return r
	}
	passed, warnings, f := KernelModules(p, schedulers...)
	if f != nil {
		r.Failures = append(r.Failures, f)
	} else {
		r.Passed = append(r.Passed, passed)
	}
	r.Warnings = append(r.Warnings, warnings...)
	return r
}
