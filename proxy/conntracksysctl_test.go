package proxy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
)

// defaultConntrack is kube-proxy v1.37's conntrack section after defaulting.
var defaultConntrack = config.Conntrack{MaxPerCore: 32768, Min: 131072, TCPEstablishedTimeout: 24 * time.Hour, TCPCloseWaitTimeout: time.Hour}

func TestSetupConntrack(t *testing.T) {
	tests := []struct {
		name        string
		conntrack   config.Conntrack
		cpus        int
		prepare     func(f *fakes)
		wantSysctl  []string // Set calls, conntrack ones only
		wantModules []string
	}{
		{
			name: "defaults on 2 CPUs: the minimum wins", conntrack: defaultConntrack, cpus: 2,
			wantSysctl: []string{
				"Set net/netfilter/nf_conntrack_max 131072",
				"Set net/netfilter/nf_conntrack_tcp_timeout_established 86400",
				"Set net/netfilter/nf_conntrack_tcp_timeout_close_wait 3600",
			},
			wantModules: []string{"Set nf_conntrack/parameters/hashsize 32768"},
		},
		{
			name: "defaults on 8 CPUs: per core wins", conntrack: defaultConntrack, cpus: 8,
			wantSysctl: []string{
				"Set net/netfilter/nf_conntrack_max 262144",
				"Set net/netfilter/nf_conntrack_tcp_timeout_established 86400",
				"Set net/netfilter/nf_conntrack_tcp_timeout_close_wait 3600",
			},
			wantModules: []string{"Set nf_conntrack/parameters/hashsize 65536"},
		},
		{
			name: "many CPUs: capped at 1048576", conntrack: config.Conntrack{MaxPerCore: 32768, Min: 131072}, cpus: 256,
			wantSysctl:  []string{"Set net/netfilter/nf_conntrack_max 1048576"},
			wantModules: []string{"Set nf_conntrack/parameters/hashsize 262144"},
		},
		{
			name: "a larger nf_conntrack_max and hash table are kept", conntrack: config.Conntrack{MaxPerCore: 32768, Min: 131072}, cpus: 2,
			prepare: func(f *fakes) {
				f.sysctl.Define(sysctlConntrackMax, "500000")
				f.moduleParams.Define(moduleConntrackHashsize, "40000")
			},
		},
		{name: "maxPerCore 0 leaves the table, min too", conntrack: config.Conntrack{Min: 131072}, cpus: 2},
		{
			name: "udp timeouts and be-liberal", conntrack: config.Conntrack{UDPTimeout: 10 * time.Second, UDPStreamTimeout: 3 * time.Minute, TCPBeLiberal: true}, cpus: 2,
			wantSysctl: []string{
				"Set net/netfilter/nf_conntrack_udp_timeout 10",
				"Set net/netfilter/nf_conntrack_udp_timeout_stream 180",
				"Set net/netfilter/nf_conntrack_tcp_be_liberal 1",
			},
		},
		{
			name: "a timeout already right is not written", conntrack: config.Conntrack{TCPCloseWaitTimeout: time.Minute}, cpus: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakes(t)
			if tt.prepare != nil {
				tt.prepare(f)
			}
			opts := SetupOptions{Scheduler: "rr", Conntrack: tt.conntrack, CPUs: tt.cpus}
			if err := Setup(f.k, opts); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range f.sysctl.Calls() {
				if strings.Contains(c, "net/netfilter/") {
					got = append(got, c)
				}
			}
			if !slices.Equal(got, tt.wantSysctl) {
				t.Errorf("conntrack sysctls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantSysctl, "\n"))
			}
			if got := f.moduleParams.Calls(); !slices.Equal(got, tt.wantModules) {
				t.Errorf("module parameters: %q, want %q", got, tt.wantModules)
			}
			f.resetCalls()
			if err := Setup(f.k, opts); err != nil {
				t.Fatal(err)
			}
			if got := append(f.sysctl.Calls(), f.moduleParams.Calls()...); len(got) != 0 {
				t.Errorf("a second Setup wrote again: %q", got)
			}
		})
	}
}

func TestSetupOptionsFromConntrack(t *testing.T) {
	cfg := config.Config{Conntrack: defaultConntrack}
	opts := SetupOptionsFrom(cfg)
	if opts.Conntrack != defaultConntrack || opts.CPUs < 1 {
		t.Errorf("SetupOptionsFrom: conntrack %+v, CPUs %d", opts.Conntrack, opts.CPUs)
	}
}
