//go:build !linux

package netif

import (
	"fmt"
	"runtime"
)

// Linux is only available on Linux; elsewhere NewLinux fails.
type Linux struct{ Interface }

// NewLinux fails: links are read through Linux's rtnetlink.
func NewLinux() (*Linux, error) {
	return nil, fmt.Errorf("network links are read through rtnetlink, which %s does not have", runtime.GOOS)
}
