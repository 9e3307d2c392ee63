//go:build !linux

package conntrack

import (
	"fmt"
	"runtime"
)

func (*Linux) List(family int) ([]Flow, error) {
	return nil, fmt.Errorf("conntrack is read through netfilter netlink, which %s does not have", runtime.GOOS)
}

func (*Linux) DeleteStale(family int, f *StaleFilter) (int, error) {
	return 0, fmt.Errorf("conntrack is changed through netfilter netlink, which %s does not have", runtime.GOOS)
}
