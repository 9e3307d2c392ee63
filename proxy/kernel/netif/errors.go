package netif

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// ErrLinkNotFound is wrapped by errors about a link that does not exist.
var ErrLinkNotFound = errors.New("link not found")

// AddressError is the failure of one address: of AddAddress or DeleteAddress, or one
// address of a batch.
type AddressError struct {
	// Op is "add" or "delete".
	Op     string
	Link   string
	Prefix netip.Prefix
	// Err is the cause, a syscall.Errno when the kernel refused the address.
	Err error
}

func (e *AddressError) Error() string {
	if e.Op == opDelete {
		return fmt.Sprintf("delete address %s from %s: %v", e.Prefix, e.Link, e.Err)
	}
	return fmt.Sprintf("add address %s to %s: %v", e.Prefix, e.Link, e.Err)
}

func (e *AddressError) Unwrap() error { return e.Err }

// BatchError tells which addresses of one AddAddresses or DeleteAddresses call failed;
// every other address of the call was applied.
type BatchError struct {
	// Total is the number of addresses the call was given.
	Total int
	// Failed are the addresses that failed, in the order the call was given them.
	Failed []*AddressError
}

func (e *BatchError) Error() string {
	return nlbatch.Failures(fmt.Sprintf("%d of %d address changes failed: ", len(e.Failed), e.Total), e.Failed)
}

// Unwrap gives the failures, so that errors.Is finds a cause such as syscall.EEXIST.
func (e *BatchError) Unwrap() []error { return nlbatch.Errors(e.Failed) }

const (
	opAdd    = "add"
	opDelete = "delete"
)

// batchResult turns the failures of a batch of total addresses into its error.
func batchResult(total int, failed []*AddressError) error {
	if len(failed) == 0 {
		return nil
	}
	return &BatchError{Total: total, Failed: failed}
}

// singleResult is the error of a one-address call made as a batch: that address's own.
func singleResult(err error) error {
	var be *BatchError
	if errors.As(err, &be) && len(be.Failed) == 1 {
		return be.Failed[0]
	}
	return err
}

// linkMissing is the error of adding ps to a link that does not exist: the address's own
// error for one, one error for the whole batch for more.
func linkMissing(link string, ps []netip.Prefix) error {
	if len(ps) == 1 {
		return &AddressError{Op: opAdd, Link: link, Prefix: ps[0], Err: ErrLinkNotFound}
	}
	return fmt.Errorf("add %d addresses to %s: %w", len(ps), link, ErrLinkNotFound)
}
