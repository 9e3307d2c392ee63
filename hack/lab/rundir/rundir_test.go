package rundir

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestParseStat(t *testing.T) {
	tail := " 1 1 1 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10"
	tests := []struct {
		name, in string
		want     stat
		wantErr  string
	}{
		{"plain", "42 (sleep) S" + tail, stat{state: 'S', start: 123456}, ""},
		{"name with spaces and parentheses", "42 (a (b) c) R" + tail, stat{state: 'R', start: 123456}, ""},
		{"zombie", "42 (qemu) Z" + tail, stat{state: 'Z', start: 123456}, ""},
		{"no command name", "42 sleep S 1 2", stat{}, "expected \"pid (comm) state"},
		{"too few fields", "42 (sleep) S 1 2 3", stat{}, "expected at least 22 fields"},
		{"start not a number", "42 (sleep) S" + strings.Replace(tail, "123456", "x", 1), stat{}, "start time (field 22)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat(tc.in)
			if wanterr.Check(t, err, tc.wantErr) && got != tc.want {
				t.Fatalf("parseStat(%q) = %+v; expected %+v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		f.Add(string(b))
	}
	f.Add("1 (a) b) S 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := parseStat(s)
		if err == nil && st.state == 0 {
			t.Fatalf("parseStat(%q) accepted a line without a state", s)
		}
	})
}

func TestNewRecordsItsOwner(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	d, err := New("unit")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(d.Path)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("run directory %s: mode %v, %v; expected 0700", d.Path, st.Mode().Perm(), err)
	}
	if !strings.HasPrefix(filepath.Base(d.Path), "ipvs-e2e-unit-") {
		t.Errorf("run directory %s: expected the name ipvs-e2e-unit-*", d.Path)
	}
	owner, err := readRecord(filepath.Join(d.Path, ownerFile))
	if err != nil || owner.pid != os.Getpid() || !owner.running() {
		t.Fatalf("owner record %+v, %v: expected this process (pid %d), running", owner, err, os.Getpid())
	}
	if got := Sweep(os.TempDir(), false, quiet); len(got) != 0 {
		t.Errorf("Sweep removed %v: the owner of the run directory still runs", got)
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a/b", "x*"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) succeeded; expected an error naming the kind", bad)
		}
	}
}

// staleDir makes a run directory whose owner record names this process with another start
// time: a PID reused by a new process, so the recorded owner is gone.
func staleDir(t *testing.T, tmp, name string) string {
	t.Helper()
	dir := filepath.Join(tmp, prefix+name)
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	start, err := startTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	rec := fmt.Sprintf("%d %d\n", os.Getpid(), start+1)
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSweep(t *testing.T) {
	tmp := t.TempDir()
	stale := staleDir(t, tmp, "stale")
	child := exec.Command("sleep", "300")
	if err := Start(child, filepath.Join(stale, "sub"), "sleeper"); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	t.Cleanup(func() { child.Process.Kill() })

	kept := staleDir(t, tmp, "kept")
	if err := (&Dir{Path: kept}).Keep(); err != nil {
		t.Fatal(err)
	}
	ownerless := filepath.Join(tmp, prefix+"ownerless")
	malformed := staleDir(t, tmp, "malformed")
	os.WriteFile(filepath.Join(malformed, ownerFile), []byte("12 x\n"), 0o600)
	for _, d := range []string{ownerless} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}

	got := Sweep(tmp, false, quiet)
	if len(got) != 1 || got[0] != stale {
		t.Fatalf("Sweep removed %v; expected only %s", got, stale)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the recorded child of the stale run still runs 5 s after the sweep")
	}
	for _, d := range []string{kept, ownerless, malformed} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v; expected it left alone", d, err)
		}
	}
	if got := Sweep(tmp, true, quiet); len(got) != 1 || got[0] != kept {
		t.Fatalf("Sweep with kept removed %v; expected only %s", got, kept)
	}
}

// A recorded PID now held by another process (other start time) is never killed.
func TestSweepSparesReusedPID(t *testing.T) {
	tmp := t.TempDir()
	stale := staleDir(t, tmp, "reused")
	other := exec.Command("sleep", "300")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	start, err := startTime(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	rec := fmt.Sprintf("%d %d\n", other.Process.Pid, start+7)
	if err := os.WriteFile(filepath.Join(stale, "qemu.pid"), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	Sweep(tmp, false, quiet)
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the process now holding the recorded PID was signalled: %v", err)
	}
}

// The exit paths of a driver that dies without cleaning up: each time its child must be
// gone within seconds, and the next sweep removes the run directory.
func TestChildDiesWithItsDriver(t *testing.T) {
	for _, how := range []string{"sigkill", "panic", "exit", "sigterm"} {
		t.Run(how, func(t *testing.T) {
			tmp := t.TempDir()
			driver := exec.Command(os.Args[0])
			driver.Env = append(os.Environ(), "RUNDIR_TEST_DRIVER="+how, "TMPDIR="+tmp)
			out, err := driver.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := driver.Start(); err != nil {
				t.Fatal(err)
			}
			// The driver prints its child's PID once the child runs.
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				t.Fatalf("driver: %v (output %q)", err, line)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("driver printed %q: expected its child's PID", line)
			}
			switch how {
			case "sigkill":
				driver.Process.Signal(syscall.SIGKILL)
			case "sigterm":
				driver.Process.Signal(syscall.SIGTERM)
			}
			driver.Wait()
			deadline := time.Now().Add(5 * time.Second)
			for !Gone(pid) {
				if time.Now().After(deadline) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("driver ended by %s: its child (pid %d) still runs 5 s later", how, pid)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := Sweep(tmp, false, quiet); len(got) != 1 {
				t.Fatalf("driver ended by %s: Sweep removed %v; expected its run directory", how, got)
			}
		})
	}
}

// TestMain runs the driver of TestChildDiesWithItsDriver when the test binary is started as
// that driver.
func TestMain(m *testing.M) {
	if how := os.Getenv("RUNDIR_TEST_DRIVER"); how != "" {
		driverMain(how)
		return
	}
	os.Exit(m.Run())
}

// driverMain makes a run directory, starts a child and then ends as told, never cleaning up.
func driverMain(how string) {
	d, err := New("driver")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	child := exec.Command("sleep", "300")
	if err := Start(child, d.Path, "sleeper"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", child.Process.Pid)
	switch how {
	case "panic":
		panic("driver panics without cleaning up")
	case "exit":
		os.Exit(3)
	}
	time.Sleep(time.Minute)
}

func TestRecorded(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "controlplane"), 0o700); err != nil {
		t.Fatal(err)
	}
	// This process stands for a running child; a finished one must not be listed, nor the owner.
	if err := Record(filepath.Join(dir, "controlplane"), "etcd", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "qemu.pid"), []byte(fmt.Sprintf("%d 1\n", done.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Record(dir, "owner", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	got := Recorded(dir)
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["etcd"] != self {
		t.Fatalf("Recorded = %v; expected only etcd as %v", got, self)
	}
}

func TestRemoveOwned(t *testing.T) {
	tmp := t.TempDir()
	mine := filepath.Join(tmp, prefix+"labup-1")
	kept := filepath.Join(tmp, prefix+"labcluster-2")
	other := filepath.Join(tmp, prefix+"labcluster-3")
	for _, d := range []string{mine, kept, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{mine, kept} {
		if err := writeRecord(filepath.Join(d, ownerFile), os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	(&Dir{Path: kept}).Keep()
	os.WriteFile(filepath.Join(other, ownerFile), []byte("1 1\n"), 0o600)
	removed, err := RemoveOwned(tmp)
	if err != nil || len(removed) != 2 {
		t.Fatalf("RemoveOwned = %v, %v; expected this process's two directories", removed, err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("another owner's directory: %v; expected it left", err)
	}
}
