package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestFakeScriptsInOrderAndRecordsCalls(t *testing.T) {
	ctx := context.Background()
	f := NewFake("n1").Script("cat /proc/net/ip_vs",
		Response{Stdout: "first"},
		Response{Stderr: "gone", ExitCode: 1})

	for i, want := range []struct {
		out  string
		fail bool
	}{{"first", false}, {"", true}, {"", true}} {
		out, err := Output(ctx, f, "cat", "/proc/net/ip_vs")
		if string(out) != want.out || (err != nil) != want.fail {
			t.Errorf("call %d: out %q err %v, want %q fail=%v", i, out, err, want.out, want.fail)
		}
		if err != nil && !strings.Contains(err.Error(), "gone") {
			t.Errorf("call %d: error %q lacks stderr", i, err)
		}
	}

	var stdin strings.Builder
	stdin.WriteString("payload")
	if err := f.Command(ctx, "sh", "-c", "cat").SetStdin(strings.NewReader(stdin.String())).SetEnv("A=1").Run(); err == nil {
		t.Error("unscripted command succeeded")
	} else {
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != 127 {
			t.Errorf("unscripted command error %v, want exit 127", err)
		}
	}
	calls := f.Calls()
	last := calls[len(calls)-1]
	if last.Line() != "sh -c cat" || string(last.Stdin) != "payload" || last.Env[0] != "A=1" {
		t.Errorf("last call = %+v", last)
	}
	if got := len(f.CallLines()); got != 4 {
		t.Errorf("%d calls recorded, want 4", got)
	}
}

func TestFakeHandlerAndCancelledContext(t *testing.T) {
	f := NewFake("n1").Handle(func(c Call) (Response, bool) {
		if c.Command[0] == "echo" {
			return Response{Stdout: strings.Join(c.Command[1:], " ") + "\n"}, true
		}
		return Response{}, false
	})
	out, err := Output(context.Background(), f, "echo", "a", "b")
	if err != nil || string(out) != "a b\n" {
		t.Errorf("echo: %q %v", out, err)
	}
	if _, err := Output(context.Background(), f, "true"); err == nil {
		t.Error("declined call succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Output(ctx, f, "echo", "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestFakeCopyFileKeepsMode(t *testing.T) {
	host := filepath.Join(t.TempDir(), "ipvsdump")
	if err := os.WriteFile(host, []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := NewFake("n1")
	if err := InstallIPVSDump(context.Background(), f, host); err != nil {
		t.Fatal(err)
	}
	file, ok := f.File(DefaultIPVSDumpPath)
	if !ok || string(file.Content) != "\x7fELF" || file.Mode != 0o755 {
		t.Errorf("copied file = %+v %v", file, ok)
	}
	err := InstallIPVSDump(context.Background(), f, filepath.Join(t.TempDir(), "missing"))
	wanterr.Check(t, err, "make build") // a missing binary: a hint to build it
}
