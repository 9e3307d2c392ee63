package proxy

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/cpuset"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// The netfilter conntrack settings of the configuration's conntrack section, written at
// start as kube-proxy v1.37 writes them (pkg/proxy/conntrack.setSysctls).
const (
	sysctlConntrackMax              = "net/netfilter/nf_conntrack_max"
	sysctlConntrackTCPEstablished   = "net/netfilter/nf_conntrack_tcp_timeout_established"
	sysctlConntrackTCPCloseWait     = "net/netfilter/nf_conntrack_tcp_timeout_close_wait"
	sysctlConntrackTCPBeLiberal     = "net/netfilter/nf_conntrack_tcp_be_liberal"
	sysctlConntrackUDPTimeout       = "net/netfilter/nf_conntrack_udp_timeout"
	sysctlConntrackUDPStreamTimeout = "net/netfilter/nf_conntrack_udp_timeout_stream"
	// moduleConntrackHashsize is under /sys/module (kernel.Kernel.ModuleParams).
	moduleConntrackHashsize = "nf_conntrack/parameters/hashsize"
)

// conntrackMaxLimit caps nf_conntrack_max on many-core nodes, as kube-proxy does.
const conntrackMaxLimit = 1 << 20

// conntrackMax is the nf_conntrack_max kube-proxy wants: maxPerCore per CPU, at least min,
// at most conntrackMaxLimit; 0 means leave it.
func conntrackMax(c config.Conntrack, cpus int) int {
	if c.MaxPerCore <= 0 {
		return 0
	}
	scaled := int(c.MaxPerCore) * cpus
	switch {
	case scaled > conntrackMaxLimit:
		return conntrackMaxLimit
	case scaled > int(c.Min):
		return scaled
	default:
		return int(c.Min)
	}
}

// onlineCPUs counts the node's online CPUs, not the process's (its cpuset may be smaller):
// nf_conntrack_max is for the whole node. kube-proxy reads the same file.
func onlineCPUs() int {
	if n, err := cpuset.NumCPU(); err == nil && n > 0 {
		return n
	}
	return runtime.NumCPU()
}

// setConntrackSysctls applies the conntrack section. nf_conntrack_max is only raised and
// the hash table grown to a quarter of it; timeouts are set when not zero. Any failure
// stops the start, as in kube-proxy.
func setConntrackSysctls(k *kernel.Kernel, log klog.Logger, c config.Conntrack, cpus int) error {
	fail := func(field string, err error) error {
		return fmt.Errorf("conntrack.%s: %w; set it to 0 in the configuration to leave the kernel's value", field, err)
	}
	if max := conntrackMax(c, cpus); max > 0 {
		have, err := readInt(k.Sysctl.Get(sysctlConntrackMax))
		if err != nil || have < max {
			if err := k.Sysctl.Set(sysctlConntrackMax, strconv.Itoa(max)); err != nil {
				return fail("maxPerCore", fmt.Errorf("set sysctl %s=%d: %w", sysctlConntrackMax, max, err))
			}
			log.Info("Set sysctl", "entry", sysctlConntrackMax, "value", max)
		}
		if k.ModuleParams == nil {
			return fail("maxPerCore", errors.New("the kernel has no module parameters to size the conntrack hash table with"))
		}
		hashsize, err := readInt(k.ModuleParams.Get(moduleConntrackHashsize))
		if err != nil {
			return fail("maxPerCore", fmt.Errorf("read /sys/module/%s: %w", moduleConntrackHashsize, err))
		}
		if hashsize < max/4 {
			if err := k.ModuleParams.Set(moduleConntrackHashsize, strconv.Itoa(max/4)); err != nil {
				return fail("maxPerCore", fmt.Errorf("set /sys/module/%s=%d: %w", moduleConntrackHashsize, max/4, err))
			}
			log.Info("Setting conntrack hashsize", "conntrackHashsize", max/4)
		}
	}
	for _, s := range []struct {
		field, name string
		d           time.Duration
	}{
		{"tcpEstablishedTimeout", sysctlConntrackTCPEstablished, c.TCPEstablishedTimeout},
		{"tcpCloseWaitTimeout", sysctlConntrackTCPCloseWait, c.TCPCloseWaitTimeout},
		{"udpTimeout", sysctlConntrackUDPTimeout, c.UDPTimeout},
		{"udpStreamTimeout", sysctlConntrackUDPStreamTimeout, c.UDPStreamTimeout},
	} {
		if s.d <= 0 {
			continue
		}
		if err := ensureSysctl(k, log, s.name, strconv.Itoa(int(s.d/time.Second))); err != nil {
			return fail(s.field, err)
		}
	}
	if c.TCPBeLiberal {
		if err := ensureSysctl(k, log, sysctlConntrackTCPBeLiberal, "1"); err != nil {
			return fail("tcpBeLiberal", err)
		}
	}
	return nil
}

// readInt parses what a Get returned.
func readInt(v string, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", v)
	}
	return n, nil
}
