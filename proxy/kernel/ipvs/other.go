//go:build !linux

package ipvs

import "runtime"

// Linux is only available on Linux; elsewhere NewLinux fails.
type Linux struct{ Interface }

// CheckKernel fails: IPVS is a Linux kernel feature.
func CheckKernel() error { return noIPVSError("this is " + runtime.GOOS + ", not Linux") }

// NewLinux fails: IPVS is a Linux kernel feature.
func NewLinux() (*Linux, error) { return nil, CheckKernel() }
