package proxy

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

var errInjected = errors.New("injected failure")

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		release string
		opts    SetupOptions
		want    []string // Set calls on the sysctl fake
	}{
		{
			name:    "kernel 6.1 leaves conn_reuse_mode",
			release: "6.1.0-18-cloud-amd64",
			opts:    SetupOptions{Scheduler: "rr"},
			want: []string{
				"Set net/ipv4/vs/conntrack 1",
				"Set net/ipv4/vs/expire_nodest_conn 1",
				"Set net/ipv4/vs/expire_quiescent_template 1",
				"Set net/ipv4/ip_forward 1",
			},
		},
		{
			name:    "kernel 5.4 sets conn_reuse_mode 0; strictARP",
			release: "5.4.0-150-generic",
			opts:    SetupOptions{Scheduler: "rr", StrictARP: true},
			want: []string{
				"Set net/ipv4/vs/conntrack 1",
				"Set net/ipv4/vs/conn_reuse_mode 0",
				"Set net/ipv4/vs/expire_nodest_conn 1",
				"Set net/ipv4/vs/expire_quiescent_template 1",
				"Set net/ipv4/ip_forward 1",
				"Set net/ipv4/conf/all/arp_ignore 1",
				"Set net/ipv4/conf/all/arp_announce 2",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes(t)
			f.sysctl.Define(sysctlOSRelease, tt.release)
			if err := Setup(f.k, tt.opts); err != nil {
				t.Fatal(err)
			}
			if got := f.sysctl.Calls(); !slices.Equal(got, tt.want) {
				t.Errorf("sysctl calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			// The scheduler probe is created and deleted.
			if got := f.ipvs.Calls(); !slices.Equal(got, []string{"AddService TCP 198.51.100.0:20000", "DeleteService TCP 198.51.100.0:20000"}) {
				t.Errorf("IPVS calls = %q, want the scheduler probe created and deleted", got)
			}
			// A second start changes no sysctl that is already right.
			f.resetCalls()
			if err := Setup(f.k, tt.opts); err != nil {
				t.Fatal(err)
			}
			if got := f.sysctl.Calls(); len(got) != 0 {
				t.Errorf("second Setup wrote sysctls already right: %q", got)
			}
		})
	}
}

func TestSetupTimeouts(t *testing.T) {
	f := newFakes(t)
	opts := SetupOptions{Scheduler: "rr", Timeouts: dataplane.Timeouts{TCP: 7200, UDP: 300}}
	if err := Setup(f.k, opts); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.ipvs.Timeouts(); got != (dataplane.Timeouts{TCP: 7200, TCPFin: 120, UDP: 300}) {
		t.Errorf("timeouts = %+v, want tcp 7200, tcpfin kept at 120, udp 300", got)
	}
	f.resetCalls()
	if err := Setup(f.k, opts); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.ipvs.Calls() {
		if strings.HasPrefix(c, "SetTimeouts") {
			t.Errorf("timeouts already right were set again: %s", c)
		}
	}
}

func TestSetupRefuses(t *testing.T) {
	conntrackOpts := SetupOptions{Scheduler: "rr", Conntrack: defaultConntrack, CPUs: 2}
	tests := []struct {
		name    string
		prepare func(f *fakes)
		opts    SetupOptions
		want    string
	}{
		{
			name:    "scheduler the kernel lacks",
			prepare: func(f *fakes) { f.ipvs.SetSchedulers("rr", "wrr") },
			opts:    SetupOptions{Scheduler: "mh"},
			want:    `IPVS scheduler "mh": the kernel refused a test virtual server TCP 198.51.100.0:20000`,
		},
		{
			name:    "no ip_vs sysctls (module not loaded)",
			prepare: func(f *fakes) { f.sysctl.Remove(sysctlVSConnTrack) },
			opts:    SetupOptions{Scheduler: "rr"},
			want:    "set sysctl net/ipv4/vs/conntrack=1",
		},
		{
			name:    "unknown kernel version",
			prepare: func(f *fakes) { f.sysctl.Remove(sysctlOSRelease) },
			opts:    SetupOptions{Scheduler: "rr"},
			want:    "read the kernel version",
		},
		// The conntrack settings (conntracksysctl.go), with kube-proxy's defaults on 2 CPUs.
		{
			name:    "no nf_conntrack_max",
			prepare: func(f *fakes) { f.sysctl.Remove(sysctlConntrackMax) },
			opts:    conntrackOpts,
			want:    "conntrack.maxPerCore: set sysctl net/netfilter/nf_conntrack_max=131072: ",
		},
		{
			name:    "hash size not readable",
			prepare: func(f *fakes) { f.moduleParams.Remove(moduleConntrackHashsize) },
			opts:    conntrackOpts,
			want:    "conntrack.maxPerCore: read /sys/module/nf_conntrack/parameters/hashsize: ",
		},
		{
			name:    "hash size not writable",
			prepare: func(f *fakes) { f.moduleParams.FailNext("Set", errInjected) },
			opts:    conntrackOpts,
			want:    "conntrack.maxPerCore: set /sys/module/nf_conntrack/parameters/hashsize=32768: injected failure; set it to 0 in the configuration to leave the kernel's value",
		},
		{
			name:    "no module parameters at all",
			prepare: func(f *fakes) { f.k.ModuleParams = nil },
			opts:    conntrackOpts,
			want:    "conntrack.maxPerCore: the kernel has no module parameters",
		},
		{
			name:    "close-wait timeout refused",
			prepare: func(f *fakes) { f.sysctl.Remove(sysctlConntrackTCPCloseWait) },
			opts:    conntrackOpts,
			want:    "conntrack.tcpCloseWaitTimeout: set sysctl net/netfilter/nf_conntrack_tcp_timeout_close_wait=3600",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes(t)
			tt.prepare(f)
			err := Setup(f.k, tt.opts)
			wanterr.Check(t, err, tt.want)
			if strings.Contains(tt.want, "scheduler") && !strings.Contains(err.Error(), "modprobe ip_vs_mh") {
				t.Errorf("error %q does not say which module to load", err)
			}
		})
	}
}

func TestParseKernelVersion(t *testing.T) {
	tests := []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"6.1.0-18-cloud-amd64\n", 6, 1, true},
		{"5.4.0-150-generic", 5, 4, true},
		{"4.19.0+", 4, 19, true},
		{"6.", 0, 0, false},
		{"+6.1", 0, 0, false},
		{"6.12", 6, 12, true},
		{"linux", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		major, minor, err := parseKernelVersion(tt.in)
		if (err == nil) != tt.ok || major != tt.major || minor != tt.minor {
			t.Errorf("parseKernelVersion(%q) = %d, %d, %v; want %d, %d, ok=%t", tt.in, major, minor, err, tt.major, tt.minor, tt.ok)
		}
	}
}

// FuzzParseKernelVersion: the release string comes from the kernel. It must never panic,
// and what it accepts must read back the same from "MAJOR.MINOR".
func FuzzParseKernelVersion(f *testing.F) {
	for _, s := range []string{"6.1.0-18-cloud-amd64", "5.4.0-150-generic", "4.19.0+", "6.12", "x", "6.", ".1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		major, minor, err := parseKernelVersion(s)
		if err != nil {
			return
		}
		m2, n2, err := parseKernelVersion(strconv.Itoa(major) + "." + strconv.Itoa(minor))
		if err != nil || m2 != major || n2 != minor {
			t.Errorf("parseKernelVersion(%q) = %d.%d, which does not read back (%d.%d, %v)", s, major, minor, m2, n2, err)
		}
	})
}
