package labtest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how Require ends the test. Like testing.T, its
// Fatalf and Skip stop the goroutine that calls them.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return "TestX" }
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) {
	r.skip = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) { r.Skip(fmt.Sprintf(format, args...)) }

func TestRequire(t *testing.T) {
	_, statErr := os.Stat("/proc/net/ip_vs")
	inLab := "kernel lab guest has no IPVS" // what a guest without IPVS gets
	if statErr == nil {
		inLab = ""
	}
	tests := []struct {
		name, env string
		want      string // what the failure says; "" when Require lets the test run
	}{
		{"outside the lab", "", "TestX needs the kernel lab"},
		{"in the lab", "1", inLab},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvVar, tt.env)
			var r recorder
			done := make(chan struct{})
			go func() {
				defer close(done)
				Require(&r)
			}()
			<-done
			if r.skip != "" {
				t.Fatalf("Require skipped (%q); expected it never to skip", r.skip)
			}
			if (tt.want == "") != (r.fatal == "") || !strings.Contains(r.fatal, tt.want) {
				t.Fatalf("Require failed with %q; expected %q", r.fatal, tt.want)
			}
		})
	}
}

func (r *recorder) Fatal(args ...any) {
	r.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}

type closer struct{ closed bool }

func (c *closer) Close() error { c.closed = true; return nil }

func TestOpen(t *testing.T) {
	var c *closer
	t.Run("opened", func(t *testing.T) {
		c = Open(t, func() (*closer, error) { return &closer{}, nil })
		if c.closed {
			t.Error("Open closed the handle before the test ended")
		}
	})
	if !c.closed {
		t.Error("the handle is still open after its test ended")
	}

	var r recorder
	done := make(chan struct{})
	go func() {
		defer close(done)
		Open(&r, func() (*closer, error) { return nil, errors.New("no IPVS") })
		t.Error("Open returned after open failed")
	}()
	<-done
	if r.fatal != "no IPVS" {
		t.Errorf("Open failed with %q; expected open's error", r.fatal)
	}
}
