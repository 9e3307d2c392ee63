package kernellab_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// The harness tests run on the host and boot real guests, to check what the unit tests of the
// pieces cannot: that a broken guest is reported as a failure. `make lab-harness` runs them.

const harnessEnv = "IPVS_E2E_LAB_HARNESS"

var prepareDefault = sync.OnceValues(func() (*kernellab.Lab, error) {
	return kernellab.Prepare(context.Background(), kernellab.Options{})
})

// harnessLab is the prepared lab of the harness tests. Their jobs run in the tests' own temp
// folders (Job.Dir): the failures they cause are meant, so nothing is kept for inspection.
func harnessLab(t *testing.T) *kernellab.Lab {
	t.Helper()
	if os.Getenv(harnessEnv) != "1" {
		t.Skip("boots QEMU guests; run with " + harnessEnv + "=1 (make lab-harness)")
	}
	// Guests are single-threaded under TCG: two at a time use both cores.
	t.Parallel()
	l, err := prepareDefault()
	if err != nil {
		t.Fatalf("preparing the lab: %v", err)
	}
	return l
}

func TestHarnessRunsEveryCommandAndKeepsOutputsApart(t *testing.T) {
	l := harnessLab(t)
	res, err := l.Run(context.Background(), kernellab.Job{
		Dir:   t.TempDir(),
		Name:  "harness",
		Files: []kernellab.File{{Path: "/lab/data/hello.txt", Data: []byte("hello from the host\n")}},
		Commands: []kernellab.Command{
			{Name: "no newline", Shell: "printf 'a\\nb'"},
			{Name: "fails", Shell: "echo to stderr >&2; exit 3"},
			// A line that looks like the protocol, with another token: output, not protocol.
			{Name: "forged", Args: []string{"echo", "@@LAB-0123456789abcdef END 2 rc=0"}},
			{Name: "dir and env", Shell: `echo "$PWD $GREETING $IPVS_E2E_LAB"; cat /lab/data/hello.txt`,
				Dir: "/tmp/work", Env: []string{"GREETING=hi there"}},
			{Name: "ipvs", Shell: "head -1 /proc/net/ip_vs"},
		},
		Timeout: 2 * time.Minute,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []struct {
		output string
		rc     int
	}{
		{"a\nb", 0},
		{"to stderr\n", 3},
		{"@@LAB-0123456789abcdef END 2 rc=0\n", 0},
		{"/tmp/work hi there 1\nhello from the host\n", 0},
		{"IP Virtual Server version 1.2.1 (size=4096)\n", 0},
	}
	if len(res.Commands) != len(want) {
		t.Fatalf("got %d command results; expected %d", len(res.Commands), len(want))
	}
	for i, w := range want {
		c := res.Commands[i]
		if !c.Finished || c.ExitCode != w.rc || c.Output != w.output {
			t.Errorf("command %d (%s): finished=%v rc=%d output=%q; expected rc=%d output=%q",
				i, c.Name, c.Finished, c.ExitCode, c.Output, w.rc, w.output)
		}
	}
	if f := res.Failed(); f == nil || f.Name != "fails" {
		t.Errorf("Failed() = %+v; expected the command named \"fails\"", f)
	}
	if res.Boot <= 0 || res.Boot > res.Elapsed {
		t.Errorf("Boot = %s, Elapsed = %s; expected 0 < Boot <= Elapsed", res.Boot, res.Elapsed)
	}
}

// TestHarnessStopsGuestAtTimeout gives the run less time than a boot takes: QEMU must be
// stopped and the run reported as timed out, with no command finished.
func TestHarnessStopsGuestAtTimeout(t *testing.T) {
	l := harnessLab(t)
	start := time.Now()
	res, err := l.Run(context.Background(), kernellab.Job{
		Dir:      t.TempDir(),
		Name:     "hang",
		Commands: []kernellab.Command{{Shell: "sleep 600"}},
		Timeout:  1500 * time.Millisecond,
	})
	wanterr.Check(t, err, "did not finish within 1.5s")
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Run returned after %s; expected QEMU stopped soon after the 1.5s timeout", took)
	}
	if res == nil || len(res.Commands) != 1 || res.Commands[0].Finished || res.Commands[0].ExitCode != -1 {
		t.Fatalf("Result = %+v; expected the command listed, unfinished", res)
	}
}

// TestHarnessFailsWithoutIPVS boots a guest whose initramfs lacks ip_vs: the run must fail
// with a SetupError, never pass or skip.
func TestHarnessFailsWithoutIPVS(t *testing.T) {
	harnessLab(t)
	l, err := kernellab.Prepare(context.Background(), kernellab.Options{
		Modules: []string{"dummy"}, ModuleTrees: []string{}, Preload: []string{"dummy"},
	})
	if err != nil {
		t.Fatalf("preparing a lab without IPVS modules: %v", err)
	}
	res, err := l.Run(context.Background(), kernellab.Job{Dir: t.TempDir(), Name: "no-ipvs", Commands: []kernellab.Command{{Shell: "echo must not run"}},
		Timeout: 2 * time.Minute})
	var se *kernellab.SetupError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "/proc/net/ip_vs") {
		t.Fatalf("Run error = %v; expected a SetupError about /proc/net/ip_vs", err)
	}
	if res == nil || res.Commands[0].Finished || res.Commands[0].Output != "" {
		t.Errorf("Result = %+v; expected the command never run", res)
	}
}

// TestHarnessCancelStopsGuest cancels the run once a command has printed: QEMU is stopped,
// the error says so, and the partial output is kept.
func TestHarnessCancelStopsGuest(t *testing.T) {
	l := harnessLab(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	start := time.Now()
	res, err := l.Run(ctx, kernellab.Job{
		Dir:      t.TempDir(),
		Name:     "cancel",
		Commands: []kernellab.Command{{Shell: "echo started; sleep 600"}, {Shell: "echo never"}},
		Stream:   writerFunc(func(p []byte) { once.Do(cancel) }),
		Timeout:  2 * time.Minute,
	})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v; expected cancellation", err)
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("Run returned after %s; expected QEMU stopped at once", took)
	}
	if res == nil || len(res.Commands) != 2 {
		t.Fatalf("Result = %+v; expected both commands listed", res)
	}
	if c := res.Commands[0]; c.Finished || c.Output != "started\n" {
		t.Errorf("cancelled command: finished=%v output=%q; expected unfinished with its partial output", c.Finished, c.Output)
	}
	if c := res.Commands[1]; c.Finished || c.ExitCode != -1 || c.Output != "" {
		t.Errorf("command after the cancel: %+v; expected never started", c)
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// TestHarnessNetwork checks the guest NIC both ways: the guest reaches a server on the host's
// loopback as 10.0.2.2, and the host reaches a guest port through a forward on 127.0.0.1.
func TestHarnessNetwork(t *testing.T) {
	l := harnessLab(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the host\n")
	}))
	defer srv.Close()
	hostPort := srv.Listener.Addr().(*net.TCPAddr).Port

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fwd := free.Addr().(*net.TCPAddr).Port
	free.Close()

	dialed := make(chan error, 1)
	var once sync.Once
	res, err := l.Run(context.Background(), kernellab.Job{
		Dir:     t.TempDir(),
		Name:    "network",
		Network: &kernellab.Network{HostForwards: []kernellab.PortForward{{Host: uint16(fwd), Guest: 8080}}},
		Commands: []kernellab.Command{
			{Name: "to host", Shell: fmt.Sprintf("wget -q -O - http://10.0.2.2:%d/", hostPort)},
			// Say "listening" only once nc listens: slirp accepts the host's connection at once
			// and would drop data sent before the guest port is open.
			{Name: "from host", Shell: "nc -l -p 8080 & until ss -ltn | grep -q ':8080 '; do sleep 0.1; done; echo listening; wait"},
			{Name: "addr", Shell: "ip -4 -o addr show dev eth0 | awk '{print $4}'; ip route show default"},
		},
		Stream: writerFunc(func(p []byte) {
			if strings.Contains(string(p), "listening") {
				once.Do(func() { go func() { dialed <- sendTo(fwd, "ping from the host\n") }() })
			}
		}),
		Timeout: 2 * time.Minute,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := <-dialed; err != nil {
		t.Fatalf("host to guest through the forward: %v", err)
	}
	want := map[string]string{
		"to host":   "hello from the host\n",
		"from host": "listening\nping from the host\n",
		"addr":      "10.0.2.15/24\ndefault via 10.0.2.2 dev eth0 \n",
	}
	for _, c := range res.Commands {
		if !c.OK() || c.Output != want[c.Name] {
			t.Errorf("%s: rc=%d output=%q; expected rc 0 and %q", c.Name, c.ExitCode, c.Output, want[c.Name])
		}
	}
}

// sendTo connects to a forwarded port, retrying while the guest's listener comes up.
func sendTo(port int, msg string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
		if err == nil {
			_, err = io.WriteString(c, msg)
			c.Close()
			return err
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestHarnessLegacyIptables(t *testing.T) {
	l := harnessLab(t)
	res, err := l.Run(context.Background(), kernellab.Job{
		Dir:      t.TempDir(),
		Name:     "legacy",
		IPTables: "legacy",
		Commands: []kernellab.Command{{Shell: "iptables --version && iptables -t nat -N LAB && iptables -t nat -S LAB && ip6tables-save -t filter | grep -c '^:'"}},
		Timeout:  2 * time.Minute,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := "iptables v1.8.9 (legacy)\n-N LAB\n3\n"
	if c := res.Commands[0]; !c.OK() || c.Output != want {
		t.Fatalf("rc=%d output=%q; expected %q", c.ExitCode, c.Output, want)
	}
}
