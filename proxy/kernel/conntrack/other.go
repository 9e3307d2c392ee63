//go:build !linux

package conntrack

import (
	"fmt"
	"runtime"
)

// Linux is only available on Linux; elsewhere every call fails.
type Linux struct{}

var _ Interface = (*Linux)(nil)

// NewLinux returns a table whose calls fail: conntrack is Linux's.
func NewLinux() *Linux { return &Linux{} }

func (*Linux) List(family int) ([]Flow, error) {
	return nil, fmt.Errorf("conntrack is read through netfilter netlink, which %s does not have", runtime.GOOS)
}

func (*Linux) DeleteStale(family int, f *StaleFilter) (int, error) {
	return 0, fmt.Errorf("conntrack is changed through netfilter netlink, which %s does not have", runtime.GOOS)
}
