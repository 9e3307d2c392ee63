//go:build !linux

package pods

import (
	"errors"
	"runtime"

	"github.com/vishvananda/netns"
)

type nsHandle int

var errNotLinux = errors.New("pods need Linux network namespaces; this is " + runtime.GOOS)

// Create fails: network namespaces are Linux only.
func Create(spec Spec) (*Pod, error) {
	if _, err := spec.validate(); err != nil {
		return nil, err
	}
	return nil, errNotLinux
}

// Do fails: network namespaces are Linux only.
func (p *Pod) Do(fn func() error) error { return errNotLinux }

// Delete has nothing to delete where pods cannot be created.
func (p *Pod) Delete() error { return nil }

// InNetns needs Linux network namespaces.
func InNetns(ns netns.NsHandle, fn func() error) error { return errNotLinux }
