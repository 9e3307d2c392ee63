//go:build lab

package proxy

import (
	"testing"
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// TestSetConntrackSysctlsLab writes the conntrack section on the lab's kernel, as the
// fakes say it does, and reads every value back from /proc/sys and /sys/module; the old
// values are put back afterwards.
func TestSetConntrackSysctlsLab(t *testing.T) {
	labtest.Require(t)
	k := labtest.Open(t, kernel.Linux)
	restore := func(s sysctl.Interface, name string) {
		old, err := s.Get(name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		t.Cleanup(func() {
			if err := s.Set(name, old); err != nil {
				t.Errorf("restore %s=%s: %v", name, old, err)
			}
		})
	}
	for _, name := range []string{sysctlConntrackMax, sysctlConntrackTCPEstablished, sysctlConntrackTCPCloseWait,
		sysctlConntrackTCPBeLiberal, sysctlConntrackUDPTimeout, sysctlConntrackUDPStreamTimeout} {
		restore(k.Sysctl, name)
	}
	restore(k.ModuleParams, moduleConntrackHashsize)

	// A max above any boot-time default so that it is written: 8 CPUs' worth.
	c := config.Conntrack{MaxPerCore: 131072, Min: 131072, TCPEstablishedTimeout: 24 * time.Hour, TCPCloseWaitTimeout: time.Hour,
		TCPBeLiberal: true, UDPTimeout: 45 * time.Second, UDPStreamTimeout: 150 * time.Second}
	const cpus = 8
	max := conntrackMax(c, cpus)
	for round := range 2 { // the second start finds everything right
		if err := setConntrackSysctls(k, klog.Background(), c, cpus); err != nil {
			t.Fatalf("start %d: %v", round+1, err)
		}
	}
	read := func(s sysctl.Interface, name string) int {
		n, err := readInt(s.Get(name))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return n
	}
	if got := read(k.Sysctl, sysctlConntrackMax); got < max {
		t.Errorf("%s = %d, want at least %d", sysctlConntrackMax, got, max)
	}
	if got := read(k.ModuleParams, moduleConntrackHashsize); got < max/4 {
		t.Errorf("/sys/module/%s = %d, want at least %d", moduleConntrackHashsize, got, max/4)
	}
	for name, want := range map[string]int{
		sysctlConntrackTCPEstablished:   86400,
		sysctlConntrackTCPCloseWait:     3600,
		sysctlConntrackTCPBeLiberal:     1,
		sysctlConntrackUDPTimeout:       45,
		sysctlConntrackUDPStreamTimeout: 150,
	} {
		if got := read(k.Sysctl, name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	t.Logf("online CPUs %d; %s %d, hashsize %d", onlineCPUs(), sysctlConntrackMax, read(k.Sysctl, sysctlConntrackMax), read(k.ModuleParams, moduleConntrackHashsize))
}
