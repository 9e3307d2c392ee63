package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// The sysctls the IPVS proxier needs, as kube-proxy sets them.
const (
	sysctlVSConnTrack             = "net/ipv4/vs/conntrack"
	sysctlConnReuse               = "net/ipv4/vs/conn_reuse_mode"
	sysctlExpireNoDestConn        = "net/ipv4/vs/expire_nodest_conn"
	sysctlExpireQuiescentTemplate = "net/ipv4/vs/expire_quiescent_template"
	sysctlForward                 = "net/ipv4/ip_forward"
	sysctlArpIgnore               = "net/ipv4/conf/all/arp_ignore"
	sysctlArpAnnounce             = "net/ipv4/conf/all/arp_announce"
	// sysctlOSRelease gives the kernel version (uname -r) through the same interface.
	sysctlOSRelease = "kernel/osrelease"
)

// SetupOptions are the start-up settings of the kernel.
type SetupOptions struct {
	// Scheduler is the IPVS scheduler to check.
	Scheduler string
	// StrictARP sets arp_ignore=1 and arp_announce=2 on all interfaces.
	StrictARP bool
	// Timeouts are the IPVS tcp/tcpfin/udp timeouts; a zero field keeps the kernel's value.
	Timeouts dataplane.Timeouts
	// Conntrack are the netfilter conntrack sysctls to set; the zero value changes none.
	Conntrack config.Conntrack
	// CPUs sizes nf_conntrack_max (Conntrack.MaxPerCore per CPU).
	CPUs int
	// Logger; the zero value means klog's default logger.
	Logger klog.Logger
}

// SetupOptionsFrom takes the start-up settings from the configuration; timeouts below a
// second become 0 (keep the kernel's value), as in kube-proxy.
func SetupOptionsFrom(cfg config.Config) SetupOptions {
	return SetupOptions{
		Scheduler: cfg.IPVS.Scheduler,
		StrictARP: cfg.IPVS.StrictARP,
		Timeouts: dataplane.Timeouts{
			TCP:    uint32(cfg.IPVS.TCPTimeout / time.Second),
			TCPFin: uint32(cfg.IPVS.TCPFinTimeout / time.Second),
			UDP:    uint32(cfg.IPVS.UDPTimeout / time.Second),
		},
		Conntrack: cfg.Conntrack,
		CPUs:      onlineCPUs(),
	}
}

// schedulerProbe is the virtual server kube-proxy creates to learn whether the kernel has
// a scheduler: TEST-NET-2, a port nothing uses.
var schedulerProbe = dataplane.VirtualServer{Protocol: dataplane.TCP, Address: netip.MustParseAddr("198.51.100.0"), Port: 20000}

// Setup prepares the kernel once at start: the conntrack sysctls of the configuration, the
// sysctls IPVS mode needs, the IPVS timeouts
// and a check that the kernel has the scheduler. Like kube-proxy it refuses to start when a
// needed sysctl cannot be set or the scheduler is missing; a failure to set the timeouts is
// only logged. Values already right are not written again.
func Setup(k *kernel.Kernel, opts SetupOptions) error {
	if err := checkKernel(k); err != nil {
		return err
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = klog.Background()
	}
	release, err := k.Sysctl.Get(sysctlOSRelease)
	if err != nil {
		return fmt.Errorf("read the kernel version (%s): %w", sysctlOSRelease, err)
	}
	major, minor, err := parseKernelVersion(release)
	if err != nil {
		return err
	}
	// As kube-proxy: conntrack first (its platformSetup), then what IPVS mode needs.
	if err := setConntrackSysctls(k, log, opts.Conntrack, opts.CPUs); err != nil {
		return err
	}
	want := []struct{ name, value string }{{sysctlVSConnTrack, "1"}}
	switch {
	case major < 4 || (major == 4 && minor < 1):
		log.Error(nil, "Can't set sysctl, kernel version doesn't satisfy minimum version requirements", "sysctl", sysctlConnReuse, "minimumKernelVersion", "4.1", "kernelVersion", release)
	case major > 5 || (major == 5 && minor >= 9):
		// Kernels from 5.9 on fixed the connection-reuse delay (kubernetes#93297).
		log.V(2).Info("Left as-is", "sysctl", sysctlConnReuse)
	default:
		want = append(want, struct{ name, value string }{sysctlConnReuse, "0"})
	}
	want = append(want, []struct{ name, value string }{
		{sysctlExpireNoDestConn, "1"},
		{sysctlExpireQuiescentTemplate, "1"},
		{sysctlForward, "1"},
	}...)
	if opts.StrictARP {
		want = append(want, []struct{ name, value string }{{sysctlArpIgnore, "1"}, {sysctlArpAnnounce, "2"}}...)
	}
	for _, s := range want {
		if err := ensureSysctl(k, log, s.name, s.value); err != nil {
			return err
		}
	}

	if t := opts.Timeouts; t != (dataplane.Timeouts{}) {
		if err := ensureTimeouts(k, log, t); err != nil {
			log.Error(err, "Failed to configure IPVS timeouts")
		}
	}
	return CheckScheduler(k, opts.Scheduler)
}

// ensureSysctl writes a sysctl unless it already holds the value.
func ensureSysctl(k *kernel.Kernel, log klog.Logger, name, value string) error {
	have, err := k.Sysctl.Get(name)
	if err == nil && strings.TrimSpace(have) == value {
		return nil
	}
	if err := k.Sysctl.Set(name, value); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", name, value, err)
	}
	log.V(1).Info("Changed sysctl", "name", name, "before", strings.TrimSpace(have), "after", value)
	return nil
}

// ensureTimeouts sets the IPVS timeouts unless the kernel already has them.
func ensureTimeouts(k *kernel.Kernel, log klog.Logger, want dataplane.Timeouts) error {
	have, err := k.IPVS.Timeouts()
	if err == nil &&
		(want.TCP == 0 || want.TCP == have.TCP) &&
		(want.TCPFin == 0 || want.TCPFin == have.TCPFin) &&
		(want.UDP == 0 || want.UDP == have.UDP) {
		return nil
	}
	if err := k.IPVS.SetTimeouts(want); err != nil {
		return err
	}
	log.V(1).Info("Set IPVS timeouts", "tcp", want.TCP, "tcpFin", want.TCPFin, "udp", want.UDP)
	return nil
}

// CheckScheduler test-creates a virtual server with the scheduler and deletes it, as
// kube-proxy does, because only the kernel knows which schedulers it has.
func CheckScheduler(k *kernel.Kernel, scheduler string) error {
	if scheduler == "" {
		return errors.New("IPVS scheduler is empty: expected a scheduler name such as rr")
	}
	probe := schedulerProbe
	probe.Scheduler = scheduler
	if err := k.IPVS.AddService(probe); err != nil {
		return fmt.Errorf("IPVS scheduler %q: the kernel refused a test virtual server %s with it (%v); load the scheduler's module (modprobe ip_vs_%s) or set ipvs.scheduler to one the kernel has",
			scheduler, probe.Key(), err, scheduler)
	}
	if err := k.IPVS.DeleteService(probe.Key()); err != nil {
		return fmt.Errorf("delete the test virtual server %s after checking scheduler %q: %w", probe.Key(), scheduler, err)
	}
	return nil
}

// parseKernelVersion reads major and minor from a release string ("6.1.0-18-cloud-amd64").
func parseKernelVersion(release string) (int, int, error) {
	release = strings.TrimSpace(release)
	majorText, rest, _ := strings.Cut(release, ".")
	minorText := rest
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minorText = rest[:i]
	}
	major, err1 := strconv.ParseUint(majorText, 10, 16)
	minor, err2 := strconv.ParseUint(minorText, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("kernel version %q: expected MAJOR.MINOR[...] as uname -r prints it", release)
	}
	return int(major), int(minor), nil
}
