package proxy

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// recorder is a sync function that logs when it was called and fails as told.
type recorder struct {
	mu    sync.Mutex
	calls []time.Time
	fail  int
	ch    chan struct{}
}

func (r *recorder) fn() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, time.Now())
	select {
	case r.ch <- struct{}{}:
	default:
	}
	if r.fail > 0 {
		r.fail--
		return errors.New("injected")
	}
	return nil
}

func (r *recorder) wait(t *testing.T, n int, within time.Duration) []time.Time {
	t.Helper()
	deadline := time.After(within)
	for {
		r.mu.Lock()
		if len(r.calls) >= n {
			out := append([]time.Time(nil), r.calls...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("waited %s for %d calls, got %d", within, n, len(r.calls))
		}
	}
}

func TestRunnerCoalescesAndHonoursMinInterval(t *testing.T) {
	rec := &recorder{ch: make(chan struct{}, 1)}
	r := newRunner(rec.fn, 200*time.Millisecond, time.Second, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Loop(ctx)
	r.Run()
	rec.wait(t, 1, 2*time.Second)
	// A burst while the min interval runs yields one call, not five.
	for range 5 {
		r.Run()
	}
	calls := rec.wait(t, 2, 2*time.Second)
	if gap := calls[1].Sub(calls[0]); gap < 190*time.Millisecond {
		t.Errorf("second call %s after the first, want at least the min interval 200ms", gap)
	}
	time.Sleep(300 * time.Millisecond)
	rec.mu.Lock()
	n := len(rec.calls)
	rec.mu.Unlock()
	if n != 2 {
		t.Errorf("%d calls after a burst of 5 requests, want 2 (coalesced)", n)
	}
}

func TestRunnerRunsPeriodicallyAndBacksOff(t *testing.T) {
	rec := &recorder{ch: make(chan struct{}, 1), fail: 3}
	r := newRunner(rec.fn, 0, 50*time.Millisecond, 400*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Loop(ctx)
	r.Run()
	// Three failures: retries after 50, 100 and 200 ms; then the period of 400 ms.
	calls := rec.wait(t, 5, 5*time.Second)
	gaps := []time.Duration{calls[1].Sub(calls[0]), calls[2].Sub(calls[1]), calls[3].Sub(calls[2]), calls[4].Sub(calls[3])}
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	// Only lower bounds: on a loaded machine calls come late, never early.
	for i := range gaps {
		if gaps[i] < want[i]-10*time.Millisecond {
			t.Errorf("gap %d = %s, want at least %s (backoff doubling from 50ms, then the 400ms period)", i, gaps[i], want[i])
		}
	}
}

// With due, unasked calls keep their own period: calls asked for in between do not push the
// next one back by maxInterval.
func TestRunnerDue(t *testing.T) {
	rec := &recorder{ch: make(chan struct{}, 1)}
	r := newRunner(rec.fn, 0, time.Second, time.Hour)
	r.due = func() time.Duration { return 100 * time.Millisecond }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Loop(ctx)
	r.Run()
	rec.wait(t, 1, 5*time.Second)
	r.Run()
	// Without due the third call would come an hour after the second.
	rec.wait(t, 3, 5*time.Second)
}
