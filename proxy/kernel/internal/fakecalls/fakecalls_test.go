package fakecalls

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestRecorderLogsInOrderAndResets(t *testing.T) {
	r := New("x.Fake", "Add", "Del")
	r.Recordf("Add %s %d", "a", 1)
	r.Recordf("Del %s", "a")
	got := r.Calls()
	if want := []string{"Add a 1", "Del a"}; !slices.Equal(got, want) {
		t.Fatalf("Calls() = %q, expected %q", got, want)
	}
	got[0] = "changed"
	if r.Calls()[0] != "Add a 1" {
		t.Error("changing the returned log changed the Recorder's")
	}
	r.ResetCalls()
	if got := r.Calls(); len(got) != 0 {
		t.Errorf("after Reset, Calls() = %q", got)
	}
}

func TestRecorderFaultsComeOncePerCallInOrder(t *testing.T) {
	r := New("x.Fake", "Add", "Del")
	first, second := errors.New("first"), errors.New("second")
	r.FailNext("Add", first)
	r.FailNext("Add", second)
	r.ResetCalls() // forgets calls, not faults
	if err := r.Fault("Del"); err != nil {
		t.Errorf("Fault(Del) = %v, expected none: the faults were queued for Add", err)
	}
	for i, want := range []error{first, second, nil} {
		if err := r.Fault("Add"); err != want {
			t.Errorf("Fault(Add) #%d = %v, expected %v", i+1, err, want)
		}
	}
}

func TestRecorderCallLogsThenFails(t *testing.T) {
	r := New("x.Fake", "Add")
	refused := errors.New("refused")
	r.FailNext("Add", refused)
	if err := r.Call("Add", "a", 1); err != refused {
		t.Errorf("first Call(Add) = %v, expected the queued %v", err, refused)
	}
	if err := r.Call("Add", "b"); err != nil {
		t.Errorf("second Call(Add) = %v, expected none", err)
	}
	if got, want := r.Calls(), []string{"Add a 1", "Add b"}; !slices.Equal(got, want) {
		t.Errorf("Calls() = %q, expected %q: a failed call is logged too", got, want)
	}
}

func TestRecorderRefusesUnknownOperations(t *testing.T) {
	for _, c := range []struct {
		name string
		ops  []string
		call func(r *Recorder)
		want string
	}{
		{"FailNext with one of many", []string{"List", "Create", "Destroy"}, func(r *Recorder) { r.FailNext("Flush", nil) },
			`x.Fake.FailNext: unknown operation "Flush": expected one of List, Create, Destroy`},
		{"FailNext with one of two", []string{"Get", "Set"}, func(r *Recorder) { r.FailNext("Put", nil) },
			`x.Fake.FailNext: unknown operation "Put": expected Get or Set`},
		{"Fault", []string{"Get"}, func(r *Recorder) { _ = r.Fault("Put") },
			`x.Fake.Fault: unknown operation "Put": expected Get`},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if got := recover(); got != c.want {
					t.Errorf("panic %v, expected %q", got, c.want)
				}
			}()
			c.call(New("x.Fake", c.ops...))
		})
	}
}

func TestRecorderConcurrentUse(t *testing.T) {
	r := New("x.Fake", "Add")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				r.FailNext("Add", errors.New("x"))
				r.Recordf("Add")
				_ = r.Fault("Add")
				_ = r.Calls()
			}
		})
	}
	wg.Wait()
	if n := len(r.Calls()); n != 800 {
		t.Errorf("%d calls logged, expected 800", n)
	}
	if err := r.Fault("Add"); err != nil {
		t.Errorf("a fault is left after as many Fault calls as FailNext calls: %v", err)
	}
}

// fakeTB keeps what CheckCalls reports.
type fakeTB struct{ errors []string }

func (*fakeTB) Helper() {}
func (tb *fakeTB) Errorf(format string, args ...any) {
	tb.errors = append(tb.errors, fmt.Sprintf(format, args...))
}

func TestCheckCalls(t *testing.T) {
	r := New("x.Fake", "Add")
	r.Recordf("Add a")
	r.Recordf("Add b")
	for _, c := range []struct {
		want []string
		fail bool
	}{
		{[]string{"Add a", "Add b"}, false},
		{[]string{"Add b", "Add a"}, true},
		{[]string{"Add a"}, true},
		{nil, true},
	} {
		var tb fakeTB
		r.CheckCalls(&tb, c.want...)
		if failed := len(tb.errors) > 0; failed != c.fail {
			t.Errorf("CheckCalls(%q) reported %q, expected a failure: %v", c.want, tb.errors, c.fail)
		}
	}
	r.ResetCalls()
	var tb fakeTB
	r.CheckCalls(&tb)
	if len(tb.errors) > 0 {
		t.Errorf("CheckCalls() after ResetCalls reported %q", tb.errors)
	}
}
