package proxy

import (
	"context"
	"time"
)

// runner calls a sync function when asked, no sooner than minInterval after the previous
// call ended, and at least once every maxInterval when nobody asks. After a failure it
// calls again after a backoff that starts at retryInterval and doubles up to maxInterval,
// so a kernel that keeps refusing is not hammered; a success resets the backoff.
type runner struct {
	fn            func() error
	minInterval   time.Duration
	retryInterval time.Duration
	maxInterval   time.Duration
	kick          chan struct{}
	// due, when set, says how soon after a successful call the next unasked one must come
	// (at most maxInterval): the proxier's full syncs keep their period from the last full
	// sync, so that the partial syncs changes ask for do not push the next one further away.
	due func() time.Duration
}

func newRunner(fn func() error, minInterval, retryInterval, maxInterval time.Duration) *runner {
	if maxInterval < minInterval {
		maxInterval = minInterval
	}
	if retryInterval <= 0 {
		retryInterval = time.Second
	}
	return &runner{fn: fn, minInterval: minInterval, retryInterval: retryInterval, maxInterval: maxInterval, kick: make(chan struct{}, 1)}
}

// Run asks for a call soon; requests made while one is pending coalesce.
func (r *runner) Run() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Loop calls the function until ctx ends.
func (r *runner) Loop(ctx context.Context) {
	timer := time.NewTimer(r.maxInterval)
	defer timer.Stop()
	var lastEnd time.Time
	var backoff time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-timer.C:
		}
		if wait := r.minInterval - time.Since(lastEnd); !lastEnd.IsZero() && wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		// Requests that came in meanwhile are served by this call.
		select {
		case <-r.kick:
		default:
		}
		err := r.fn()
		lastEnd = time.Now()
		next := r.maxInterval
		if r.due != nil {
			next = min(next, max(r.due(), 0))
		}
		if err != nil {
			backoff = min(max(2*backoff, r.retryInterval), r.maxInterval)
			next = backoff
		} else {
			backoff = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}
