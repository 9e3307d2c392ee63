package clusterbench

import (
	"bytes"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// unixFloat is the time a gauge of Unix seconds stands for (to the nanosecond).
func unixFloat(v float64) time.Time {
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9)))
}

func TestParseSyncMetrics(t *testing.T) {
	tests := []struct {
		name    string
		text    []byte
		family  string
		want    SyncMetrics
		wantErr string
	}{
		{
			name: "reference proxier", text: []byte(fixture.Read(t, "metrics-reference.txt")), family: FamilyIPv4,
			want: SyncMetrics{Syncs: 1, Seconds: 0.859336856, Last: unixFloat(1.7956833827677317e+09)},
		},
		{
			name: "upstream kube-proxy v1.37.2", text: []byte(fixture.Read(t, "metrics-kube-proxy-v1.37.2.txt")), family: FamilyIPv4,
			want: SyncMetrics{Syncs: 1, Seconds: 4.166931517, Last: unixFloat(1.7956833598469381e+09)},
		},
		{
			// Dual-stack in the lab, after the benchmark's burst and change at N=100.
			name: "reference proxier, dual-stack", text: []byte(fixture.Read(t, "metrics-lab-reference-dualstack.txt")), family: FamilyIPv4,
			want: SyncMetrics{Syncs: 4, Seconds: 5.764870708, Last: unixFloat(1.7956867276852016e+09)},
		},
		{
			name: "reference proxier, its IPv6 family", text: []byte(fixture.Read(t, "metrics-lab-reference-dualstack.txt")), family: "IPv6",
			want: SyncMetrics{Syncs: 1, Seconds: 2.659234969, Last: unixFloat(1.795686727685571e+09)},
		},
		{
			// Upstream after the benchmark at N=1,000: four IPv4 syncs, the burst's taking 485 s.
			name: "upstream kube-proxy v1.37.2, dual-stack", text: []byte(fixture.Read(t, "metrics-lab-kube-proxy-v1.37.2-dualstack.txt")), family: FamilyIPv4,
			want: SyncMetrics{Syncs: 4, Seconds: 501.450318647, Last: unixFloat(1.795689876323306e+09)},
		},
		{name: "family with no series yet", text: []byte(fixture.Read(t, "metrics-kube-proxy-v1.37.2.txt")), family: "IPv6"},
		{name: "no sync metrics at all", text: []byte("# TYPE go_goroutines gauge\ngo_goroutines 7\n"), family: FamilyIPv4},
		{
			name:   "unlabelled single series (older proxies)",
			text:   []byte("# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram\nkubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"+Inf\"} 2\nkubeproxy_sync_proxy_rules_duration_seconds_sum 0.5\nkubeproxy_sync_proxy_rules_duration_seconds_count 2\n"),
			family: FamilyIPv4, want: SyncMetrics{Syncs: 2, Seconds: 0.5},
		},
		{
			name: "gauge still zero", family: FamilyIPv4,
			text: []byte("# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\nkubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 0\n"),
		},
		{
			name: "wrong type", family: FamilyIPv4, wantErr: "expected a histogram",
			text: []byte("# TYPE kubeproxy_sync_proxy_rules_duration_seconds gauge\nkubeproxy_sync_proxy_rules_duration_seconds 3\n"),
		},
		{name: "not Prometheus text", text: []byte("<html>404 page not found</html>\n"), family: FamilyIPv4, wantErr: "expected the Prometheus text format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSyncMetrics(tt.text, tt.family)
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if got.Syncs != tt.want.Syncs || math.Abs(got.Seconds-tt.want.Seconds) > 1e-9 || !got.Last.Equal(tt.want.Last) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSince(t *testing.T) {
	a := SyncMetrics{Syncs: 4, Seconds: 2}
	b := SyncMetrics{Syncs: 7, Seconds: 5.5}
	if n, s := b.Since(a); n != 3 || s != 3.5 {
		t.Errorf("Since = %d, %v; want 3, 3.5", n, s)
	}
	if n, s := a.Since(b); n != 0 || s != 0 {
		t.Errorf("Since across a restart = %d, %v; want 0, 0", n, s)
	}
}

func FuzzParseSyncMetrics(f *testing.F) {
	f.Add([]byte(fixture.Read(f, "metrics-reference.txt")))
	f.Add([]byte(fixture.Read(f, "metrics-kube-proxy-v1.37.2.txt")))
	f.Add([]byte(fixture.Read(f, "metrics-lab-reference-dualstack.txt")))
	f.Add([]byte(fixture.Read(f, "metrics-lab-kube-proxy-v1.37.2-dualstack.txt")))
	f.Add([]byte("kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 1e300\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		m, err := ParseSyncMetrics(text, FamilyIPv4)
		if err != nil {
			return
		}
		if !m.Last.IsZero() && m.Last.Unix() <= 0 {
			t.Errorf("Last %v: a sync before 1970", m.Last)
		}
	})
}

const benchTable = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.1:443 rr
  -> 10.0.2.2:6443                Masq    1      0          0
TCP  10.96.12.7:80 rr
  -> 10.244.16.0:8080             Masq    1      0          0
  -> 10.244.16.1:8080             Masq    1      0          0
TCP  10.96.200.3:80 rr
  -> 10.244.16.2:8080             Masq    1      0          0
UDP  10.96.0.10:80 rr
  -> 10.244.3.9:8080              Masq    1      0          0
`

func TestCountProgrammed(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		want     Programmed
		complete int // the largest n it is Complete for
	}{
		{"empty table", "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n", Programmed{}, 0},
		// kubernetes on :443 and a UDP :80 are not the benchmark's; one Service lacks an endpoint.
		{"bench table", benchTable, Programmed{VirtualServers: 2, RealServers: 3}, 1},
		// The lab capture: TCP :80 with real servers on :8080 counts (all three, the weight-0
		// one too: the kernel holds it), the NodePorts and :443 do not.
		{"lab capture", fixture.Read(t, "ipvsadm-Ln-lab.txt"), Programmed{VirtualServers: 1, RealServers: 3}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CountProgrammed(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if !got.Complete(tt.complete) || got.Complete(tt.complete+1) {
				t.Errorf("%+v: Complete(%d) should hold and Complete(%d) not", got, tt.complete, tt.complete+1)
			}
		})
	}
	if _, err := CountProgrammed("TCP  10.96.0.1:443 rr\n  -> not-an-address  Masq 1 0 0\n"); err == nil {
		t.Error("a broken table read without error")
	}
}

func TestHasRealServer(t *testing.T) {
	vip := netip.MustParseAddr("10.96.12.7")
	tests := []struct {
		name string
		vip  string
		rs   string
		want bool
	}{
		{"there", "10.96.12.7", "10.244.16.1", true},
		{"other service's", "10.96.12.7", "10.244.16.2", false},
		{"port 443 service", "10.96.0.1", "10.0.2.2", false},
		{"missing", vip.String(), ChangeAddress.String(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HasRealServer(benchTable, netip.MustParseAddr(tt.vip), netip.MustParseAddr(tt.rs))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("HasRealServer(%s, %s) = %v, want %v", tt.vip, tt.rs, got, tt.want)
			}
		})
	}
}

func TestParseProcStatus(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    Memory
		wantErr string
	}{
		{"host process", fixture.Read(t, "proc-status-host.txt"), Memory{RSSKiB: 1624, PeakKiB: 1624}, ""},
		{"reference proxier in the lab", fixture.Read(t, "proc-status-lab-reference.txt"), Memory{RSSKiB: 48220, PeakKiB: 48276}, ""},
		{"order and spacing", "Name:\tkube-proxy\nVmHWM:\t  163000 kB\nVmRSS:\t   81234 kB\n", Memory{RSSKiB: 81234, PeakKiB: 163000}, ""},
		{"kernel thread", "Name:\tkthreadd\nState:\tS (sleeping)\n", Memory{}, "expected VmRSS and VmHWM"},
		{"odd unit", "VmRSS:\t 12 MB\nVmHWM:\t 12 kB\n", Memory{}, `expected "<number> kB"`},
		{"not a number", "VmRSS:\t x kB\nVmHWM:\t 12 kB\n", Memory{}, "expected a count of kB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcStatus(tt.text)
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseProcStatus(f *testing.F) {
	f.Add(fixture.Read(f, "proc-status-host.txt"))
	f.Add(fixture.Read(f, "proc-status-lab-reference.txt"))
	f.Add("VmRSS:\t1 kB\nVmHWM:\t2 kB\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseProcStatus(text)
		if err == nil && (m.RSSKiB < 0 || m.PeakKiB < 0) {
			t.Errorf("negative memory %+v from %q", m, text)
		}
	})
}

func TestCountRules(t *testing.T) {
	got, err := CountRules(fixture.Read(t, "iptables-save-lab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// Counted with awk on the file: 13 -A lines in *nat, 12 in *filter.
	if want := (Rules{NAT: 13, Filter: 12}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	got, err = CountRules(fixture.Read(t, "iptables-save-lab-reference.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// The reference proxier's rules in the lab cluster at N=100 (awk: 13 in *nat, 16 in *filter).
	if want := (Rules{NAT: 13, Filter: 16}); got != want {
		t.Errorf("reference proxier: got %+v, want %+v", got, want)
	}
	if got, err := CountRules(""); err != nil || got != (Rules{}) {
		t.Errorf("empty iptables-save: %+v, %v; want zero counts", got, err)
	}
	if _, err := CountRules("*nat\n-A\nCOMMIT\n"); err == nil {
		t.Error("a rule without a chain read without error")
	}
}

func TestParseUnixTime(t *testing.T) {
	tests := []struct {
		in        string
		want      float64
		wantExact bool
		wantErr   bool
	}{
		{"1795683382.776831700\n", 1795683382.7768317, true, false},
		{"1795683382\n", 1795683382, false, false},
		{"1795686457.%N\n", 1795686457, false, false}, // the lab's busybox, read there
		{"1795683382.N\n", 1795683382, false, false},
		{"", 0, false, true},
		{"date: invalid format\n", 0, false, true},
		{"0\n", 0, false, true},
	}
	for _, tt := range tests {
		got, exact, err := ParseUnixTime(tt.in)
		if (err != nil) != tt.wantErr || math.Abs(got-tt.want) > 1e-6 || exact != tt.wantExact {
			t.Errorf("ParseUnixTime(%q) = %v, %v, %v; want %v, %v, error %v", tt.in, got, exact, err, tt.want, tt.wantExact, tt.wantErr)
		}
	}
}

func TestParseAdjtimex(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    float64
		wantErr bool
	}{
		{"busybox", fixture.Read(t, "adjtimex-busybox.txt"), 0, false},
		{"minimal", "    time.tv_sec:  1795686504\n    time.tv_usec: 602493\n", 1795686504.602493, false},
		{"no usec", "    time.tv_sec:  1795686504\n", 0, true},
		{"usec out of range", "time.tv_sec: 1795686504\ntime.tv_usec: 1000000\n", 0, true},
		{"garbage", "time.tv_sec: soon\ntime.tv_usec: 1\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAdjtimex(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if tt.want != 0 && math.Abs(got-tt.want) > 1e-6 {
				t.Errorf("got %f, want %f", got, tt.want)
			}
			if tt.name == "busybox" && got < 1.7e9 {
				t.Errorf("got %f from a real adjtimex report, want a 2020s time", got)
			}
		})
	}
}

func FuzzParseAdjtimex(f *testing.F) {
	f.Add(fixture.Read(f, "adjtimex-busybox.txt"))
	f.Fuzz(func(t *testing.T, text string) {
		if v, err := ParseAdjtimex(text); err == nil && !(v > 0) {
			t.Errorf("ParseAdjtimex(%q) = %v without error", text, v)
		}
	})
}

func TestParsePIDs(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr string
	}{
		{"412\n", 412, ""},
		{"", 0, "found 0"},
		{"412\n977\n", 0, "found 2"},
		{"abc\n", 0, "expected a process id"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePIDs(tt.in, "/usr/local/bin/kube-proxy")
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if got != tt.want {
				t.Errorf("ParsePIDs(%q) = %d; want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestObjects(t *testing.T) {
	tests := []struct {
		i     int
		name  string
		addr0 string
		addr1 string
	}{
		{0, "bench-00000", "10.244.16.0", "10.244.16.1"},
		{127, "bench-00127", "10.244.16.254", "10.244.16.255"},
		{128, "bench-00128", "10.244.17.0", "10.244.17.1"},
		{9999, "bench-09999", "10.244.94.30", "10.244.94.31"},
	}
	for _, tt := range tests {
		svc := Service(tt.i)
		es := EndpointSlice(tt.i, "lab-node")
		if svc.Name != tt.name || es.Name != tt.name || svc.Namespace != Namespace || es.Namespace != Namespace {
			t.Errorf("%d: names %s/%s and %s/%s, want %s/%s", tt.i, svc.Namespace, svc.Name, es.Namespace, es.Name, Namespace, tt.name)
		}
		if svc.Spec.Selector != nil || svc.Spec.Ports[0].Port != ServicePort || svc.Spec.Ports[0].TargetPort.IntValue() != TargetPort {
			t.Errorf("%d: Service spec %+v: want no selector, port %d -> %d", tt.i, svc.Spec, ServicePort, TargetPort)
		}
		if es.Labels[discoveryv1.LabelServiceName] != tt.name || es.Labels[discoveryv1.LabelManagedBy] != ManagedBy {
			t.Errorf("%d: slice labels %v", tt.i, es.Labels)
		}
		if es.AddressType != discoveryv1.AddressTypeIPv4 || *es.Ports[0].Port != TargetPort {
			t.Errorf("%d: slice type %s port %d", tt.i, es.AddressType, *es.Ports[0].Port)
		}
		if len(es.Endpoints) != 2 || es.Endpoints[0].Addresses[0] != tt.addr0 || es.Endpoints[1].Addresses[0] != tt.addr1 {
			t.Errorf("%d: endpoints %+v, want %s and %s", tt.i, es.Endpoints, tt.addr0, tt.addr1)
		}
		for _, ep := range es.Endpoints {
			if !*ep.Conditions.Ready || *ep.NodeName != "lab-node" {
				t.Errorf("%d: endpoint %+v: want ready on lab-node", tt.i, ep)
			}
		}
	}
	changed := EndpointSlice(5, "lab-node", ChangeAddress)
	if len(changed.Endpoints) != 3 || changed.Endpoints[2].Addresses[0] != ChangeAddress.String() {
		t.Errorf("changed slice endpoints %+v, want the pair plus %s", changed.Endpoints, ChangeAddress)
	}
	// Every address of the largest N stays in EndpointBase's /16 and apart from ChangeAddress.
	last := EndpointAddress(MaxServices-1, 1)
	if last.As4()[1] != EndpointBase.As4()[1] || !last.Less(ChangeAddress) {
		t.Errorf("the last endpoint %s leaves %s/16 or reaches %s", last, EndpointBase, ChangeAddress)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{168, 2.5, "67x"},
		{3, 2, "1.5x"},
		{78, 112, "0.7x"},
		{5, 0, "-"},
		{0, 5, "-"},
		{math.NaN(), 1, "-"},
	}
	for _, tt := range tests {
		if got := FormatRatio(Ratio(tt.a, tt.b)); got != tt.want {
			t.Errorf("Ratio(%v, %v) printed %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	ms := []Measurement{
		{Proxy: "v1.37.2", Services: 1000, BurstSeconds: 2.1, VisibleSeconds: 7.2, SyncedSeconds: 168, Syncs: 3, SyncSeconds: 170,
			ChangeVisibleSeconds: 1.7, ChangeSyncSeconds: 3, Memory: Memory{RSSKiB: 78 * 1024, PeakKiB: 80 * 1024}, Rules: Rules{NAT: 13, Filter: 16}},
		{Proxy: "reference", Services: 1000, BurstSeconds: 2.0, VisibleSeconds: 2.4, SyncedSeconds: 2.5, Syncs: 2, SyncSeconds: 2.25,
			ChangeVisibleSeconds: 0.05, ChangeSyncSeconds: 0.0015, Memory: Memory{RSSKiB: 60 * 1024, PeakKiB: 64 * 1024}, Rules: Rules{NAT: 13, Filter: 16}},
		{Proxy: "reference", Services: 100, BurstSeconds: 0.3, VisibleSeconds: 0.9, SyncedSeconds: 1, Syncs: 1, SyncSeconds: 0.84,
			ChangeVisibleSeconds: 0.05, ChangeSyncSeconds: 0.002, Memory: Memory{RSSKiB: 49 * 1024, PeakKiB: 50 * 1024}, Rules: Rules{NAT: 13, Filter: 16}},
	}
	failed := Measurement{Proxy: "v1.37.2", Services: 10000, BurstSeconds: 95, Notes: []string{"FAILED: timeout"}}
	var fb bytes.Buffer
	if err := writeTable(&fb, []Measurement{failed}, "reference"); err != nil {
		t.Fatal(err)
	}
	if row := strings.Split(fb.String(), "\n")[1]; strings.Contains(row, " 0 ") || !strings.HasSuffix(strings.TrimSpace(row), "-") {
		t.Errorf("a failed run's row shows zeros instead of dashes: %q", row)
	}
	var b bytes.Buffer
	if err := writeTable(&b, ms, "reference"); err != nil {
		t.Fatal(err)
	}
	want := `     N              proxy  burst s  visible s  after burst s  synced s  syncs  sync sum s  +1 visible s  +1 sync s  RSS MB  peak MB   nat  filter
   100          reference    0.300      0.900          0.600      1.00      1       0.840         0.050     0.0020      49       50    13      16
  1000          reference     2.00       2.40          0.400      2.50      2        2.25         0.050     0.0015      60       64    13      16
  1000            v1.37.2     2.10       7.20           5.10       168      3         170          1.70       3.00      78       80    13      16
  1000  v1.37.2/reference                3.0x            13x       67x                76x           34x      2000x    1.3x     1.3x  1.0x    1.0x
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s\ngot %q", got, want, got)
	}
}
