package labcmd

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// gonePID is the PID of a process that has exited (and been reaped).
func gonePID(t *testing.T) int {
	t.Helper()
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return c.Process.Pid
}

func self(t *testing.T) rundir.Process {
	t.Helper()
	p, err := rundir.Self()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClaimState(t *testing.T) {
	for _, tc := range []struct {
		name    string
		before  *upState // nil: no file
		garbage bool
		wantErr string // "" claims
	}{
		{name: "no state file", wantErr: ""},
		{name: "a running owner", before: &upState{Owner: self(t), Phase: phaseReady, RunDir: "/tmp/ipvs-e2e-labup-x", KubeProxy: "v1.37.2", Nodes: 1, Mode: "ipvs"}, wantErr: "already running (pid " + strconv.Itoa(os.Getpid())},
		{name: "an owner that is gone", before: &upState{Owner: rundir.Process{PID: gonePID(t), Start: 1}, Phase: phaseReady}, wantErr: ""},
		{name: "not a state file", garbage: true, wantErr: "expected the JSON `ipvs-e2e lab up` writes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lab-up.json")
			switch {
			case tc.garbage:
				os.WriteFile(path, []byte("{oops"), 0o600)
			case tc.before != nil:
				if err := writeState(path, tc.before); err != nil {
					t.Fatal(err)
				}
			}
			mine := &upState{Owner: self(t), Phase: phaseStarting, RunDir: "/tmp/mine", Nodes: 2}
			err := claimState(path, mine)
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			got, err := readState(path)
			if err != nil || got == nil || got.RunDir != "/tmp/mine" || got.Nodes != 2 || got.Owner != mine.Owner {
				t.Fatalf("state after claiming: %+v, %v; expected %+v", got, err, mine)
			}
			if err := claimState(path, mine); err == nil {
				t.Fatal("a second claim while the owner runs succeeded; expected a refusal")
			}
		})
	}
}

// run runs `lab ARGS...` and returns the exit status and output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := cli.Execute(context.Background(), NewCommand(), args, &out, &out)
	return code, out.String()
}

func TestUpAndDownRefusals(t *testing.T) {
	running := &upState{Owner: self(t), Phase: phaseReady, RunDir: "/tmp/ipvs-e2e-labup-r", Kubeconfig: "/tmp/ipvs-e2e-labup-r/kubeconfig", KubeProxy: "v1.37.2", Nodes: 1, Mode: "ipvs"}
	gone := &upState{Owner: rundir.Process{PID: gonePID(t), Start: 1}, Phase: phaseReady, RunDir: "/tmp/ipvs-e2e-labup-g"}
	for _, tc := range []struct {
		name     string
		state    *upState
		args     []string
		wantCode int
		wantOut  string
		// wantFile tells whether the state file is there afterwards.
		wantFile bool
	}{
		{name: "up while one runs", state: running, args: []string{"up"}, wantCode: 1,
			wantOut: "a lab cluster is already running (pid " + strconv.Itoa(os.Getpid()), wantFile: true},
		{name: "down with none", args: []string{"down"}, wantCode: 0, wantOut: "no lab cluster is running (no state file"},
		{name: "down after a kill -9", state: gone, args: []string{"down"}, wantCode: 0,
			wantOut: "which is gone (killed?); removed the file. `ipvs-e2e lab clean` removes what it left (run directory /tmp/ipvs-e2e-labup-g)"},
		{name: "up with too many nodes", args: []string{"up", "--nodes", "5"}, wantCode: cli.ExitUsage, wantOut: "--nodes 5: expected 1 to 4"},
		{name: "up with an unknown mode", args: []string{"up", "--mode", "nftables"}, wantCode: cli.ExitUsage, wantOut: `--mode "nftables": expected "ipvs" or "iptables"`},
		{name: "up with a release that is none", args: []string{"up", "--kube-proxy", "latest"}, wantCode: cli.ExitUsage, wantOut: `--kube-proxy "latest": expected a release such as v1.37.2, or "reference"`},
		{name: "up --help", args: []string{"up", "--help"}, wantCode: 0, wantOut: "--kube-proxy string"},
		{name: "down --help", args: []string{"down", "--help"}, wantCode: 0, wantOut: "--state-file string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lab-up.json")
			if tc.state != nil {
				if err := writeState(path, tc.state); err != nil {
					t.Fatal(err)
				}
			}
			code, out := run(t, append(tc.args, "--state-file", path)...)
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) {
				t.Fatalf("lab %v: exit %d, output:\n%s\nexpected exit %d with %q", tc.args, code, out, tc.wantCode, tc.wantOut)
			}
			_, err := os.Stat(path)
			if (err == nil) != tc.wantFile {
				t.Fatalf("state file there afterwards: %v; expected %v", err == nil, tc.wantFile)
			}
		})
	}
}

func TestPortFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	err = portFree(port)
	if err == nil || !strings.Contains(err.Error(), "is in use") || !strings.Contains(err.Error(), "free it") {
		t.Fatalf("portFree of a taken port: %v; expected an error saying it is in use and to free it", err)
	}
	l.Close()
	if err := portFree(port); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("portFree of a free port: %v", err)
	}
}
