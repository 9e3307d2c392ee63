package sysctl

import (
	"io/fs"
	"maps"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/fakecalls"
)

// KernelDefaults are the values a freshly booted kernel has for the sysctls kube-proxy in
// IPVS mode reads or writes. bridge-nf-call-iptables exists only once br_netfilter is
// loaded, and br_netfilter starts it at 1.
var KernelDefaults = map[string]string{
	"net/ipv4/vs/conntrack":                 "0",
	"net/ipv4/vs/expire_nodest_conn":        "0",
	"net/ipv4/vs/expire_quiescent_template": "0",
	"net/ipv4/vs/conn_reuse_mode":           "1",
	"net/ipv4/ip_forward":                   "0",
	"net/ipv4/conf/all/arp_ignore":          "0",
	"net/ipv4/conf/all/arp_announce":        "0",
	"net/ipv4/conf/all/route_localnet":      "0",
	"net/bridge/bridge-nf-call-iptables":    "1",
	"net/ipv6/conf/all/disable_ipv6":        "0",
	// nf_conntrack, which ip_vs loads. nf_conntrack_max is sized from memory at boot;
	// the timeouts are the kernel's constants.
	"net/netfilter/nf_conntrack_max":                     "65536",
	"net/netfilter/nf_conntrack_tcp_timeout_established": "432000",
	"net/netfilter/nf_conntrack_tcp_timeout_close_wait":  "60",
	"net/netfilter/nf_conntrack_tcp_be_liberal":          "0",
	"net/netfilter/nf_conntrack_udp_timeout":             "30",
	"net/netfilter/nf_conntrack_udp_timeout_stream":      "120",
}

// ModuleParamDefaults are the module parameters under /sys/module the proxier reads or
// writes, with a freshly loaded module's values (the conntrack hash table is sized from
// memory, as nf_conntrack_max).
var ModuleParamDefaults = map[string]string{
	"nf_conntrack/parameters/hashsize": "16384",
}

// Fake is an in-memory /proc/sys holding integer sysctls. Like the kernel it refuses names
// that do not exist (an error satisfying errors.Is(err, fs.ErrNotExist)) and values that
// are not integers (EINVAL). Its Recorder logs every Set ("Set net/ipv4/ip_forward 1")
// and fails the next Get or Set on request. It is safe for concurrent use.
type Fake struct {
	mu     sync.Mutex
	values map[string]string
	*fakecalls.Recorder
}

var _ Interface = (*Fake)(nil)

// NewFake returns a fake preloaded with KernelDefaults.
func NewFake() *Fake {
	return NewFakeWith(KernelDefaults)
}

// NewFakeModuleParams returns a fake of /sys/module preloaded with ModuleParamDefaults.
func NewFakeModuleParams() *Fake { return NewFakeWith(ModuleParamDefaults) }

// NewFakeWith returns a fake holding values, for another tree of files with sysctl
// semantics (/sys/module, /proc/self).
func NewFakeWith(values map[string]string) *Fake {
	return &Fake{values: maps.Clone(values), Recorder: fakecalls.New("sysctl.Fake", "Get", "Set")}
}

// Define makes a sysctl exist with a value, as loading a module does.
func (f *Fake) Define(name, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[name] = value
}

// Remove makes a sysctl disappear, as on a kernel without the module that provides it
// (net/bridge/* without br_netfilter, net/ipv4/vs/* without ip_vs).
func (f *Fake) Remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.values, name)
}

// Values returns a copy of every sysctl the fake holds.
func (f *Fake) Values() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.values)
}

// Get returns the value of a sysctl.
func (f *Fake) Get(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fault("Get"); err != nil {
		return "", err
	}
	if err := checkName(name); err != nil {
		return "", err
	}
	v, ok := f.values[name]
	if !ok {
		return "", notExist("open", name)
	}
	return v, nil
}

// Set writes a sysctl; like /proc/sys it takes surrounding white space and stores the
// integer in its plain decimal form.
func (f *Fake) Set(name, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Call("Set", name, value); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	if _, ok := f.values[name]; !ok {
		return notExist("open", name)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil {
		return &fs.PathError{Op: "write", Path: procPath(defaultRoot, name), Err: syscall.EINVAL}
	}
	f.values[name] = strconv.FormatInt(n, 10)
	return nil
}

func notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: procPath(defaultRoot, name), Err: syscall.ENOENT}
}
