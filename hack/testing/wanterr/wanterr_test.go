package wanterr

import (
	"errors"
	"testing"
)

// recorder is a testing.TB that notes a failure instead of ending the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestCheck(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		want       string
		wantFailed bool
		wantResult bool
	}{
		{"no error wanted, none", nil, "", false, true},
		{"no error wanted, one", errors.New("boom"), "", true, true},
		{"error wanted, matching", errors.New("parsing x: boom"), "boom", false, false},
		{"error wanted, other", errors.New("parsing x: bang"), "boom", true, false},
		{"error wanted, none", nil, "boom", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			got := Check(r, tt.err, tt.want)
			if r.failed != tt.wantFailed || got != tt.wantResult {
				t.Errorf("Check(%v, %q) = %v, failed %v; want %v, failed %v", tt.err, tt.want, got, r.failed, tt.wantResult, tt.wantFailed)
			}
		})
	}
}
