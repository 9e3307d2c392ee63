package ipvs

import (
	"fmt"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// ObjectError is the failure of one object of AddServices: a virtual server, or one of
// its real servers when RealServer is valid.
type ObjectError struct {
	Service    dataplane.ServiceKey
	RealServer dataplane.RealServerKey
	// Err says what failed and why (as the single-object methods say it), wrapping the
	// kernel's errno.
	Err error
}

func (e *ObjectError) Error() string { return e.Err.Error() }

func (e *ObjectError) Unwrap() error { return e.Err }

// BatchError tells which objects of one AddServices call failed; every other object was
// created, except the real servers of a virtual server that failed, which were not tried.
type BatchError struct {
	// Services is the number of virtual servers the call was given.
	Services int
	// Failed are the failed objects in the order the call was given them.
	Failed []*ObjectError
}

func (e *BatchError) Error() string {
	return nlbatch.Failures(fmt.Sprintf("%d object(s) of a batch of %d virtual servers failed: ", len(e.Failed), e.Services), e.Failed)
}

// Unwrap gives the failures, so that errors.Is finds a cause such as syscall.EEXIST.
func (e *BatchError) Unwrap() []error { return nlbatch.Errors(e.Failed) }

// batchResult turns the failures of a batch of n virtual servers into its error.
func batchResult(n int, failed []*ObjectError) error {
	if len(failed) == 0 {
		return nil
	}
	return &BatchError{Services: n, Failed: failed}
}
