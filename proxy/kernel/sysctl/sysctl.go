// Package sysctl is the narrow interface to kernel parameters under /proc/sys (and, with
// the same file semantics, module parameters under /sys/module) and a fake.
package sysctl

// Interface reads and writes sysctls named with slashes ("net/ipv4/vs/conntrack").
type Interface interface {
	Get(name string) (string, error)
	Set(name, value string) error
}
