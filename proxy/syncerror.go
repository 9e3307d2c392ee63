package proxy

import (
	"fmt"
	"strings"
)

// Failure is one kernel call that failed during a sync, with the object it was for.
type Failure struct {
	// Op is what was attempted ("add virtual server", "add to ipset").
	Op string
	// Object names what it was for ("TCP 10.96.0.1:443", "KUBE-CLUSTER-IP 10.96.0.1,tcp:443").
	Object string
	Err    error
}

func (f Failure) Error() string { return fmt.Sprintf("%s %s: %v", f.Op, f.Object, f.Err) }

func (f Failure) Unwrap() error { return f.Err }

// SyncError reports a sync (or a cleanup) that applied everything it could but not all of
// it. The reconciler keeps the failed objects out of what it believes the kernel holds, so
// the next sync tries them again.
type SyncError struct {
	// Context says what ran: "IPv4 sync", "cleanup".
	Context  string
	Failures []Failure
}

func (e *SyncError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d kernel change(s) failed", e.Context, len(e.Failures))
	const shown = 5
	for i, f := range e.Failures {
		if i == shown {
			fmt.Fprintf(&b, "; and %d more", len(e.Failures)-shown)
			break
		}
		b.WriteString("; ")
		b.WriteString(f.Error())
	}
	return b.String()
}

// Unwrap gives the failures to errors.Is and errors.As.
func (e *SyncError) Unwrap() []error {
	out := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f
	}
	return out
}
