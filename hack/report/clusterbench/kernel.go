package clusterbench

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Programmed counts the benchmark's objects in an IPVS table.
type Programmed struct {
	// VirtualServers on ServicePort, RealServers on TargetPort under them.
	VirtualServers int `json:"virtualServers"`
	RealServers    int `json:"realServers"`
}

// Complete tells whether n Services with two endpoints each are all there.
func (p Programmed) Complete(n int) bool { return p.VirtualServers >= n && p.RealServers >= 2*n }

// CountProgrammed counts, in `ipvsadm -Ln` text (ipvsdump prints the same), the TCP
// virtual servers on ServicePort and their real servers on TargetPort.
func CountProgrammed(ipvsadm string) (Programmed, error) {
	t, err := dataplane.ParseIPVSAdm(ipvsadm)
	if err != nil {
		return Programmed{}, fmt.Errorf("reading the IPVS table: %w", err)
	}
	var p Programmed
	for _, vs := range t.Services {
		if vs.FWMark != 0 || vs.Port != ServicePort || vs.Protocol != dataplane.TCP {
			continue
		}
		p.VirtualServers++
		for _, rs := range vs.RealServers {
			if rs.Port == TargetPort {
				p.RealServers++
			}
		}
	}
	return p, nil
}

// HasRealServer tells whether `ipvsadm -Ln` text (of one virtual server or all) lists rs
// under the virtual server vip:ServicePort.
func HasRealServer(ipvsadm string, vip, rs netip.Addr) (bool, error) {
	t, err := dataplane.ParseIPVSAdm(ipvsadm)
	if err != nil {
		return false, fmt.Errorf("reading the IPVS table: %w", err)
	}
	for _, vs := range t.Services {
		if vs.Address != vip || vs.Port != ServicePort {
			continue
		}
		for _, r := range vs.RealServers {
			if r.Address == rs && r.Port == TargetPort {
				return true, nil
			}
		}
	}
	return false, nil
}

// Memory is a process's resident memory from /proc/<pid>/status, in KiB.
type Memory struct {
	RSSKiB  int64 `json:"rssKiB"`
	PeakKiB int64 `json:"peakKiB"`
}

// ParseProcStatus reads VmRSS and VmHWM (the peak RSS) from /proc/<pid>/status.
func ParseProcStatus(text string) (Memory, error) {
	var m Memory
	var seen int
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return Memory{}, fmt.Errorf("/proc/<pid>/status: %s: expected \"<number> kB\", found %q", key, strings.TrimSpace(rest))
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || v < 0 {
			return Memory{}, fmt.Errorf("/proc/<pid>/status: %s: expected a count of kB, found %q", key, f[0])
		}
		if key == "VmRSS" {
			m.RSSKiB = v
		} else {
			m.PeakKiB = v
		}
		seen++
	}
	if seen != 2 {
		return Memory{}, fmt.Errorf("/proc/<pid>/status: expected VmRSS and VmHWM lines (a kernel thread or a process that exited has none)")
	}
	return m, nil
}

// Rules counts the rules of the nat and filter tables in iptables-save output.
type Rules struct {
	NAT    int `json:"nat"`
	Filter int `json:"filter"`
}

// CountRules reads iptables-save output.
func CountRules(iptablesSave string) (Rules, error) {
	r, err := dataplane.ParseIPTablesSave(iptablesSave)
	if err != nil {
		return Rules{}, fmt.Errorf("reading iptables-save: %w", err)
	}
	return Rules{NAT: r.RuleCount("nat"), Filter: r.RuleCount("filter")}, nil
}

// ParseUnixTime reads `date +%s.%N` output. Busybox builds without nanoseconds print a
// literal %N (or N): those read as whole seconds, and exact reports false.
func ParseUnixTime(text string) (seconds float64, exact bool, err error) {
	s := strings.TrimSpace(text)
	exact = !strings.Contains(s, "N")
	s = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, "N"), "%"), ".")
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return 0, false, fmt.Errorf("node clock: expected seconds since 1970 (date +%%s.%%N), found %q", strings.TrimSpace(text))
	}
	return v, exact && strings.Contains(s, "."), nil
}

// ParseAdjtimex reads the wall clock from busybox adjtimex's report (its time.tv_sec and
// time.tv_usec lines): the one sub-second clock a busybox node without date's %N has.
func ParseAdjtimex(text string) (float64, error) {
	var sec, usec int64 = -1, -1
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch strings.TrimSpace(key) {
		case "time.tv_sec":
			dst = &sec
		case "time.tv_usec":
			dst = &usec
		default:
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("adjtimex: %s: expected a count, found %q", strings.TrimSpace(key), strings.TrimSpace(val))
		}
		*dst = v
	}
	if sec <= 0 || usec < 0 || usec >= 1e6 {
		return 0, fmt.Errorf("adjtimex: expected time.tv_sec and time.tv_usec lines (busybox adjtimex), found sec=%d usec=%d", sec, usec)
	}
	return float64(sec) + float64(usec)/1e6, nil
}
