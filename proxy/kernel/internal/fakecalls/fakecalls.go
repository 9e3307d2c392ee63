// Package fakecalls holds what every kernel fake shares: the log of the calls it received
// and the failures a test queued for its next calls.
package fakecalls

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Recorder logs calls and hands out injected failures. A fake embeds it, which gives
// tests Calls, ResetCalls and FailNext; the fake's own methods call Recordf and Fault,
// so a failed call is logged and changes nothing. A fake records while holding its
// own lock, so the log keeps the order in which the fake applied the calls; the Recorder
// locks on its own too, so a test may read the log or queue a failure at any time.
type Recorder struct {
	owner string   // "ipvs.Fake", for panics
	ops   []string // the operations a failure may be queued for

	mu     sync.Mutex
	calls  []string
	faults map[string][]error
}

// New returns a Recorder for the fake named owner whose operations (method names) are ops.
func New(owner string, ops ...string) *Recorder {
	return &Recorder{owner: owner, ops: slices.Clone(ops), faults: map[string][]error{}}
}

// Recordf appends a call, formatted as fmt.Sprintf does, to the log.
func (r *Recorder) Recordf(format string, args ...any) {
	call := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

// Call logs a call of op with args, separated by spaces as fmt.Sprintln does
// ("AddService TCP 10.96.0.1:443"), and returns the failure queued for op, if any: a fake
// that gets one returns it without changing anything.
func (r *Recorder) Call(op string, args ...any) error {
	r.Recordf("%s", strings.TrimSuffix(fmt.Sprintln(append([]any{op}, args...)...), "\n"))
	return r.Fault(op)
}

// Calls returns a copy of the log.
func (r *Recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// TB is the part of testing.TB that CheckCalls uses. The fakes are linked into binaries
// (kernel.Fake), which should not import package testing.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// CheckCalls fails the test t unless the log is exactly want: the calls since the last
// ResetCalls, in order.
func (r *Recorder) CheckCalls(t TB, want ...string) {
	t.Helper()
	if got := r.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls() =\n%q\nexpected\n%q", got, want)
	}
}

// ResetCalls empties the log; queued failures stay.
func (r *Recorder) ResetCalls() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// FailNext queues err for the next call of op. An op the fake does not have is a mistake
// in the test, so it panics instead of queueing a failure that would never come.
func (r *Recorder) FailNext(op string, err error) {
	r.mustKnow(op, "FailNext")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[op] = append(r.faults[op], err)
}

// Fault takes the failure queued first for op, or returns nil when none is queued.
func (r *Recorder) Fault(op string) error {
	r.mustKnow(op, "Fault")
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.faults[op]
	if len(q) == 0 {
		return nil
	}
	r.faults[op] = q[1:]
	return q[0]
}

func (r *Recorder) mustKnow(op, method string) {
	if slices.Contains(r.ops, op) {
		return
	}
	var want string
	switch len(r.ops) {
	case 1:
		want = r.ops[0]
	case 2:
		want = r.ops[0] + " or " + r.ops[1]
	default:
		want = "one of " + strings.Join(r.ops, ", ")
	}
	panic(fmt.Sprintf("%s.%s: unknown operation %q: expected %s", r.owner, method, op, want))
}
