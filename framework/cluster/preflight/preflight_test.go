package preflight

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// fakeProbe is a host described by its files, PATH and `docker info` answer.
type fakeProbe struct {
	path   map[string]bool
	files  map[string]string
	docker struct {
		stdout, stderr string
		err            error
	}
}

func (p fakeProbe) LookPath(file string) (string, error) {
	if p.path[file] {
		return "/usr/bin/" + file, nil
	}
	return "", errors.New(`exec: "` + file + `": executable file not found in $PATH`)
}

func (p fakeProbe) Run(_ context.Context, name string, args ...string) ([]byte, []byte, error) {
	if name != "docker" || len(args) == 0 || args[0] != "info" {
		return nil, nil, errors.New("unexpected command " + name)
	}
	return []byte(p.docker.stdout), []byte(p.docker.stderr), p.docker.err
}

func (p fakeProbe) ReadFile(path string) ([]byte, error) {
	if s, ok := p.files[path]; ok {
		return []byte(s), nil
	}
	return nil, fs.ErrNotExist
}

func (p fakeProbe) Exists(path string) bool { _, ok := p.files[path]; return ok }

const release = "6.1.0-28-cloud-amd64"

// The exact text the docker CLI prints without an engine (measured on this machine).
const noDaemon = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"

func host(files map[string]string) fakeProbe {
	p := fakeProbe{path: map[string]bool{"docker": true}, files: map[string]string{"/proc/sys/kernel/osrelease": release + "\n"}}
	for k, v := range files {
		p.files[k] = v
	}
	p.docker.stdout = "28.2.2\n"
	return p
}

func TestDockerEngine(t *testing.T) {
	noCLI := host(nil)
	noCLI.path = nil
	down := host(nil)
	down.docker.stdout, down.docker.stderr, down.docker.err = "\n", noDaemon, errors.New("exit status 1")

	for _, tc := range []struct {
		name       string
		probe      fakeProbe
		wantPassed string
		wantFound  []string
	}{
		{name: "engine answers", probe: host(nil), wantPassed: "Docker engine 28.2.2"},
		{name: "no docker CLI", probe: noCLI, wantFound: []string{"no Docker engine", "not in PATH", "Linux host with Docker Engine"}},
		{name: "CLI without engine", probe: down, wantFound: []string{"no Docker engine: `docker info` failed: Cannot connect to the Docker daemon", "systemctl start docker"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			passed, f := DockerEngine(context.Background(), tc.probe)
			if tc.wantFound == nil {
				if f != nil || passed != tc.wantPassed {
					t.Fatalf("got %q, %v; want %q", passed, f, tc.wantPassed)
				}
				return
			}
			if f == nil {
				t.Fatalf("passed (%q), want a failure", passed)
			}
			fixture.Contains(t, "message", f.Error(), tc.wantFound...)
		})
	}
}

func TestKernelModules(t *testing.T) {
	dep := "/lib/modules/" + release + "/modules.dep"
	modulesDep := "kernel/net/netfilter/ipvs/ip_vs.ko.xz: kernel/net/netfilter/nf_conntrack.ko.xz\n" +
		"kernel/net/netfilter/ipvs/ip_vs_rr.ko.xz: kernel/net/netfilter/ipvs/ip_vs.ko.xz\n" +
		"kernel/net/netfilter/ipvs/ip_vs_wrr.ko.xz: kernel/net/netfilter/ipvs/ip_vs.ko.xz\n" +
		"kernel/net/netfilter/nf_conntrack.ko.xz: kernel/net/netfilter/nf_defrag_ipv4.ko.xz\n"
	procModules := "ip_vs_rr 12288 1 - Live 0x0000000000000000\nip_vs 200704 3 ip_vs_rr, Live 0x0000000000000000\nnf_conntrack 196608 5 ip_vs, Live 0x0000000000000000\n"

	for _, tc := range []struct {
		name         string
		files        map[string]string
		schedulers   []string
		wantPassed   string
		wantWarnings []string
		wantFailure  []string
	}{
		{
			name:       "active",
			files:      map[string]string{"/proc/net/ip_vs": "", "/proc/modules": procModules},
			wantPassed: "/proc/net/ip_vs",
		},
		{
			name:       "loaded, per lsmod",
			files:      map[string]string{"/proc/modules": procModules},
			wantPassed: "ip_vs module loaded",
		},
		{
			name:         "installed only: a warning with the seed's commands",
			files:        map[string]string{dep: modulesDep},
			schedulers:   []string{"wrr"},
			wantPassed:   "ip_vs module installed",
			wantWarnings: []string{"modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack", "/etc/modules-load.d/k8s.conf"},
		},
		{
			name:         "scheduler modules missing",
			files:        map[string]string{"/proc/net/ip_vs": "", dep: modulesDep},
			schedulers:   []string{"sh", "mh", "rr"},
			wantPassed:   "/proc/net/ip_vs",
			wantWarnings: []string{"ip_vs_sh, ip_vs_mh not found", "modprobe -a ip_vs_sh ip_vs_mh"},
		},
		{
			name:  "no IPVS at all (this machine, Docker Desktop, WSL2)",
			files: map[string]string{"/proc/modules": "overlay 151552 0 - Live 0x0\n"},
			wantFailure: []string{
				"host kernel (" + release + ") has no IPVS",
				"sudo modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack",
				"printf '%s\\n' ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack | sudo tee /etc/modules-load.d/k8s.conf",
				"kind issue #707",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			passed, warnings, f := KernelModules(host(tc.files), tc.schedulers...)
			if tc.wantFailure != nil {
				if f == nil {
					t.Fatalf("passed (%q), want a failure", passed)
				}
				fixture.Contains(t, "failure", f.Error(), tc.wantFailure...)
				return
			}
			if f != nil {
				t.Fatalf("failed: %v", f)
			}
			if !strings.Contains(passed, tc.wantPassed) {
				t.Errorf("passed = %q, want %q", passed, tc.wantPassed)
			}
			all := strings.Join(warnings, "\n")
			fixture.Contains(t, "warnings", all, tc.wantWarnings...)
			if tc.wantWarnings == nil && len(warnings) > 0 {
				t.Errorf("unexpected warnings: %s", all)
			}
		})
	}
}

func TestForKindReportsDockerFirstAndEveryFailure(t *testing.T) {
	p := host(map[string]string{"/proc/modules": ""})
	p.docker.stdout, p.docker.stderr, p.docker.err = "", noDaemon, errors.New("exit status 1")

	r := ForKind(context.Background(), p, "linux")
	if len(r.Failures) != 2 || r.Failures[0].Check != "docker" || r.Failures[1].Check != "ipvs" {
		t.Fatalf("failures = %+v, want docker then ipvs", r.Failures)
	}
	err := r.Err()
	if err == nil || !strings.HasPrefix(err.Error(), "preflight docker: no Docker engine") {
		t.Errorf("Err() = %v", err)
	}
	if n := strings.Count(err.Error(), "make lab"); n != 1 {
		t.Errorf("the make lab hint appears %d times, want once:\n%v", n, err)
	}

	mac := host(nil)
	r = ForKind(context.Background(), mac, "darwin")
	if (Report{}).Err() != nil {
		t.Error("an empty report has an error")
	}
	if r.Err() != nil || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "kind issue #707") {
		t.Errorf("darwin report = %+v", r)
	}
	if s := r.String(); !strings.Contains(s, "preflight ok: Docker engine 28.2.2") || !strings.Contains(s, "preflight warning:") {
		t.Errorf("String() = %q", s)
	}
}
