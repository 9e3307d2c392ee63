package controlplane

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// childEnv makes the test binary act as a child process for the tests below.
const childEnv = "CONTROLPLANE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		blockForever()
	case "sleep":
		fmt.Println("ready")
		blockForever()
	case "fail":
		fmt.Println("line 1\nline 2\nfatal: cannot do the thing")
		os.Exit(3)
	case "fake-etcd":
		// Serves etcd's /health on -listen-client-url, like the etcd program does.
		fs := flag.NewFlagSet("fake-etcd", flag.ExitOnError)
		client := fs.String("listen-client-url", "", "")
		fs.String("listen-peer-url", "", "")
		fs.String("data-dir", "", "")
		fs.Parse(os.Args[1:])
		u, err := url.Parse(*client)
		if err != nil {
			panic(err)
		}
		http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"health":"true","reason":""}`)) })
		panic(http.ListenAndServe(u.Host, nil))
	default:
		panic("unknown " + childEnv)
	}
}

// blockForever parks the child until it is signalled. A bare select{} would be a
// "all goroutines are asleep" crash in a binary built without cgo; a timer keeps the
// runtime from calling it a deadlock.
func blockForever() {
	for {
		time.Sleep(time.Hour)
	}
}

func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func startChild(t *testing.T, mode string) *process {
	t.Helper()
	t.Setenv(childEnv, mode)
	dir := t.TempDir()
	log := filepath.Join(dir, mode+".log")
	p, err := startProcess(mode, self(t), nil, nil, log, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(time.Second) })
	// The record a later run's sweep finds the child by, should this process be killed.
	if rec, err := os.ReadFile(filepath.Join(dir, mode+".pid")); err != nil || !strings.HasPrefix(string(rec), fmt.Sprint(p.pid)+" ") {
		t.Fatalf("pid record of %s: %q, %v; expected it to start with pid %d", mode, rec, err, p.pid)
	}
	if mode != "fail" {
		deadline := time.Now().Add(10 * time.Second)
		for {
			data, _ := os.ReadFile(log)
			if strings.Contains(string(data), "ready") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("child %s not ready: %q", mode, data)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return p
}

func TestProcessStop(t *testing.T) {
	tests := []struct {
		mode       string
		wantKilled bool
	}{
		{"sleep", false},
		{"ignore-term", true}, // SIGTERM ignored: SIGKILL after the grace period
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			p := startChild(t, tt.mode)
			start := time.Now()
			killed, err := p.stop(300 * time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if killed != tt.wantKilled {
				t.Errorf("killed = %v, want %v", killed, tt.wantKilled)
			}
			if p.alive() || !rundir.Gone(p.pid) {
				t.Errorf("pid %d still runs after stop", p.pid)
			}
			if tt.wantKilled && time.Since(start) < 300*time.Millisecond {
				t.Errorf("killed after %s, before the grace period", time.Since(start))
			}
			if again, err := p.stop(time.Second); again || err != nil {
				t.Errorf("second stop = %v, %v; want a no-op", again, err)
			}
		})
	}
}

func TestProcessFailureCarriesLogTail(t *testing.T) {
	p := startChild(t, "fail")
	<-p.exited
	err := p.failure("exited while starting")
	fixture.Contains(t, "failure", err.Error(), fmt.Sprintf("fail (pid %d) exited while starting: exit status 3", p.pid), "fatal: cannot do the thing", "# "+self(t))
}

func TestStopPIDChecksTheBinary(t *testing.T) {
	p := startChild(t, "sleep")
	// A recorded PID that now runs another program must not be signalled.
	stopped, err := stopPID("x", p.pid, "/bin/true", time.Second)
	if stopped || err != nil || !p.alive() {
		t.Fatalf("stopPID with the wrong binary = %v, %v (alive %v); want it left alone", stopped, err, p.alive())
	}
	stopped, err = stopPID("x", p.pid, self(t), time.Second)
	if !stopped || err != nil {
		t.Fatalf("stopPID = %v, %v; want stopped", stopped, err)
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("child not reaped after stopPID")
	}
	if stopped, err := stopPID("x", p.pid, self(t), time.Second); stopped || err != nil {
		t.Errorf("stopPID of a gone process = %v, %v; want a no-op", stopped, err)
	}
}

// freePorts returns n ports nothing listens on right now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func testPorts(t *testing.T) Ports {
	p := freePorts(t, 4)
	return Ports{EtcdClient: p[0], EtcdPeer: p[1], APIServer: p[2], ControllerManager: p[3]}
}

func writeScript(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStartRefusesBusyPort(t *testing.T) {
	ports := testPorts(t)
	l, err := net.Listen("tcp", hostPort(ports.APIServer))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(context.Background(), Options{Binaries: Binaries{Etcd: "/bin/true", KubeAPIServer: "/bin/true", KubeControllerManager: "/bin/true"}, Ports: ports, RunDir: t.TempDir()})
	wanterr.Check(t, err, fmt.Sprintf("127.0.0.1:%d is in use", ports.APIServer))
}

// When a component fails, Start stops what it started (by PID) and reports the failing
// component's log.
func TestStartStopsWhatItStartedOnFailure(t *testing.T) {
	t.Setenv(childEnv, "fake-etcd")
	ports := testPorts(t)
	apiserver := writeScript(t, "kube-apiserver", `echo "E1126 error: cannot reach the thing on purpose" >&2; exit 1`)
	runDir := t.TempDir()
	_, err := Start(context.Background(), Options{
		Binaries: Binaries{Etcd: self(t), KubeAPIServer: apiserver, KubeControllerManager: "/bin/true"},
		Ports:    ports, RunDir: runDir, ReadyTimeout: 20 * time.Second,
	})
	if err == nil {
		t.Fatal("Start succeeded with a failing kube-apiserver")
	}
	fixture.Contains(t, "Start error", err.Error(), "kube-apiserver (pid", "exited while starting: exit status 1", "cannot reach the thing on purpose", "control plane files in "+runDir)
	if err := portFree(ports.EtcdClient); err != nil {
		t.Errorf("the fake etcd was left running: %v", err)
	}
	if _, err := os.Stat(filepath.Join(runDir, stateFile)); !os.IsNotExist(err) {
		t.Errorf("a failed Start left %s (err %v)", stateFile, err)
	}
	if data, _ := os.ReadFile(filepath.Join(runDir, "logs", "etcd.log")); !strings.Contains(string(data), "# "+self(t)+" -data-dir") {
		t.Errorf("etcd.log does not start with the command line: %q", data)
	}
}

func TestWaitReadyTimesOut(t *testing.T) {
	p := startChild(t, "sleep")
	cp := &ControlPlane{opts: Options{ReadyTimeout: 500 * time.Millisecond}}
	err := cp.waitReady(context.Background(), p, func(context.Context) error { return fmt.Errorf("not yet") })
	wanterr.Check(t, err, "not ready after 500ms: not yet")
}
