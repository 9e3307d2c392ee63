//go:build !linux

package ipset

import (
	"fmt"
	"runtime"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Linux is only available on Linux; elsewhere every call fails.
type Linux struct{}

var errNotLinux = fmt.Errorf("ip sets are a Linux kernel feature; this is %s", runtime.GOOS)

// NewLinux returns ip sets whose every call fails on this system.
func NewLinux() *Linux { return &Linux{} }

func (*Linux) List() ([]dataplane.IPSet, error) { return nil, errNotLinux }
func (*Linux) Create(dataplane.IPSet) error     { return errNotLinux }
func (*Linux) Destroy(string) error             { return errNotLinux }
func (*Linux) Add(string, ...string) error      { return errNotLinux }
func (*Linux) Del(string, ...string) error      { return errNotLinux }
func (*Linux) Close() error                     { return nil }
