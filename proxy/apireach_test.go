package proxy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// logLines collects a logger's lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, prefix+" "+args)
}

func (l *logLines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

const (
	unreachable = "Cannot reach the API server"
	answers     = "The API server answers again"
)

func TestAPIReach(t *testing.T) {
	refused := errors.New("dial tcp 10.0.2.2:6443: connect: connection refused")
	tests := []struct {
		name string
		// failures is how many probes fail before one succeeds (-1: all fail).
		failures int
		// watchError sends one watch error; otherwise the informers never sync.
		watchError bool
		synced     bool
		wantDown   bool
		wantBack   bool
	}{
		{name: "watch error, server gone for a while", failures: 6, watchError: true, synced: true, wantDown: true, wantBack: true},
		{name: "watch error, server answers (an expired watch)", failures: 0, watchError: true, synced: true},
		{name: "first list hangs, server unreachable", failures: -1, wantDown: true},
		{name: "first list slow, server answers", failures: 0},
		{name: "synced, no errors", failures: -1, synced: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log logLines
			var probes atomic.Int32
			a := newAPIReach(funcr.New(log.add, funcr.Options{}), func(context.Context) error {
				if n := probes.Add(1); tc.failures < 0 || int(n) <= tc.failures {
					return refused
				}
				return nil
			})
			a.firstListWait, a.probeInterval, a.reportInterval = 20*time.Millisecond, 5*time.Millisecond, 10*time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			synced := make(chan struct{})
			if tc.synced {
				close(synced)
			}
			done := make(chan struct{})
			go func() { a.run(ctx, synced); close(done) }()
			if tc.watchError {
				r := cache.NewReflector(&cache.ListWatch{}, &corev1.Service{}, cache.NewStore(cache.MetaNamespaceKeyFunc), 0)
				a.watchError(ctx, r, refused)
			}
			// Until what the case expects shows (a few probes), or a while when it expects
			// nothing: past firstListWait and many probe intervals.
			deadline := time.Now().Add(5 * time.Second)
			if !tc.wantDown {
				deadline = time.Now().Add(200 * time.Millisecond)
			}
			for time.Now().Before(deadline) {
				if tc.wantBack && log.count(answers) > 0 || !tc.wantBack && tc.wantDown && log.count(unreachable) > 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(60 * time.Millisecond)
			cancel()
			<-done
			if got := log.count(unreachable) > 0; got != tc.wantDown {
				t.Errorf("reported unreachable: %v; expected %v\n%s", got, tc.wantDown, strings.Join(log.lines, "\n"))
			}
			if got := log.count(answers) > 0; got != tc.wantBack {
				t.Errorf("reported back: %v; expected %v\n%s", got, tc.wantBack, strings.Join(log.lines, "\n"))
			}
			if tc.wantDown && log.count("connection refused") == 0 {
				t.Errorf("the report does not quote the probe's error:\n%s", strings.Join(log.lines, "\n"))
			}
		})
	}
}

// While the server stays away, reports come with a doubling interval, not with every probe.
func TestAPIReachBacksOff(t *testing.T) {
	var log logLines
	var probes atomic.Int32
	a := newAPIReach(funcr.New(log.add, funcr.Options{}), func(context.Context) error {
		probes.Add(1)
		return errors.New("connection refused")
	})
	a.probeInterval, a.reportInterval, a.maxReportInterval = time.Millisecond, 10*time.Millisecond, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	go func() { time.Sleep(300 * time.Millisecond); cancel() }()
	a.outage(ctx, errors.New("watch dropped"))
	elapsed := time.Since(start)
	// Reports at 0, 10, 30, 70, 150, 310 ms...: at most 2+log2(elapsed/10ms) of them.
	limit := 2
	for d := 10 * time.Millisecond; d < elapsed; d *= 2 {
		limit++
	}
	reports := log.count(unreachable)
	if reports < 1 || reports > limit {
		t.Fatalf("%d reports over %v and %d probes; expected 1 to %d", reports, elapsed, probes.Load(), limit)
	}
	if int(probes.Load()) <= reports {
		t.Fatalf("%d probes, %d reports: expected fewer reports than probes", probes.Load(), reports)
	}
}

func TestAPIGate(t *testing.T) {
	var calls atomic.Int32
	g := &APIGate{}
	next := roundTripperFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	})
	wrapped := g.Wrap(next)
	do := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://10.0.2.2:6443/api/v1/services", nil)
		_, err := wrapped.RoundTrip(req)
		return err
	}
	if err := do(context.Background()); err != nil || calls.Load() != 1 {
		t.Fatalf("open gate: %v, %d calls; expected the request through", err, calls.Load())
	}

	g.close()
	held := make(chan error, 1)
	go func() { held <- do(context.Background()) }()
	if err := do(context.WithValue(context.Background(), probeKey{}, true)); err != nil || calls.Load() != 2 {
		t.Fatalf("closed gate, probe: %v, %d calls; expected the probe through", err, calls.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := do(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("closed gate, request whose context ends: %v; expected its context's error", err)
	}
	select {
	case err := <-held:
		t.Fatalf("closed gate let a request through: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.open()
	select {
	case err := <-held:
		if err != nil || calls.Load() != 3 {
			t.Fatalf("opened gate: %v, %d calls; expected the held request through", err, calls.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held request still waits 5 s after the gate opened")
	}
}

// During an outage the gate holds the client; the probe that finds the server back opens it.
func TestAPIReachGatesTheClient(t *testing.T) {
	var log logLines
	var probes atomic.Int32
	a := newAPIReach(funcr.New(log.add, funcr.Options{}), func(context.Context) error {
		if probes.Add(1) <= 3 {
			return errors.New("connection refused")
		}
		return nil
	})
	a.gate = &APIGate{}
	a.probeInterval = 20 * time.Millisecond
	closed := make(chan bool, 1)
	go func() {
		time.Sleep(30 * time.Millisecond) // inside the outage: after the first failed probe
		a.gate.mu.Lock()
		closed <- a.gate.up != nil
		a.gate.mu.Unlock()
	}()
	a.outage(context.Background(), errors.New("watch dropped"))
	if !<-closed {
		t.Error("the gate was open while probes failed")
	}
	if a.gate.up != nil {
		t.Error("the gate is still closed after a probe found the server back")
	}
}
