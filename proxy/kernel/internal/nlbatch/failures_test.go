package nlbatch

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

func TestFailures(t *testing.T) {
	mk := func(n int) []error {
		var out []error
		for i := range n {
			out = append(out, fmt.Errorf("object %d: %w", i, syscall.EEXIST))
		}
		return out
	}
	tests := []struct {
		n    int
		want string
	}{
		{0, "h: "},
		{1, "h: object 0: file exists"},
		{5, "h: object 0: file exists; object 1: file exists; object 2: file exists; object 3: file exists; object 4: file exists"},
		{7, "h: object 0: file exists; object 1: file exists; object 2: file exists; object 3: file exists; object 4: file exists; and 2 more"},
	}
	for _, tc := range tests {
		failed := mk(tc.n)
		if got := Failures("h: ", failed); got != tc.want {
			t.Errorf("%d failures: %q, want %q", tc.n, got, tc.want)
		}
		errs := Errors(failed)
		if len(errs) != tc.n {
			t.Errorf("%d failures: Errors gave %d", tc.n, len(errs))
		}
		if tc.n > 0 && !errors.Is(errors.Join(errs...), syscall.EEXIST) {
			t.Errorf("%d failures: the cause is lost", tc.n)
		}
	}
}
