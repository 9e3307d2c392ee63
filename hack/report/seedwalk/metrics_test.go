package seedwalk

import (
	"testing"
	"time"
)

func TestLastSyncIPv4(t *testing.T) {
	const gauge = "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\n"
	tests := []struct {
		name    string
		metrics string
		want    time.Time
		wantErr bool
	}{
		{name: "dual-stack: the IPv4 series, not the earlier IPv6 one",
			metrics: gauge + "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv6\"} 1.7956874881078413e+09\n" +
				"kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 1.795687503166186e+09\n",
			want: time.Unix(1795687503, 166186000)},
		{name: "unlabelled", metrics: gauge + "kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.5e+09\n", want: time.Unix(1500000000, 0)},
		{name: "IPv6 only", metrics: gauge + "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv6\"} 1.5e+09\n"},
		{name: "not synced yet", metrics: gauge + "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 0\n"},
		{name: "no gauge", metrics: "# TYPE go_goroutines gauge\ngo_goroutines 12\n"},
		{name: "NaN", metrics: gauge + "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} NaN\n"},
		{name: "not Prometheus text", metrics: "<html>404</html>\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LastSyncIPv4([]byte(tt.metrics))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error: %v", err, tt.wantErr)
			}
			// float64 seconds carry microseconds at best.
			if d := got.Sub(tt.want); d > time.Microsecond || d < -time.Microsecond || got.IsZero() != tt.want.IsZero() {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// The metrics of real runs: upstream kube-proxy v1.37.2 (dual-stack) and the reference proxier.
func TestLastSyncIPv4RealMetrics(t *testing.T) {
	for _, run := range realRuns {
		rec := loadRun(t, run)
		got, err := LastSyncIPv4([]byte(rec.Results[StepMetrics].Output))
		if err != nil {
			t.Fatalf("%s: %v", run, err)
		}
		if got.Year() != 2026 {
			t.Errorf("%s: last IPv4 sync at %v, want a time of the run (2026)", run, got)
		}
	}
}

func FuzzLastSyncIPv4(f *testing.F) {
	for _, run := range realRuns {
		f.Add([]byte(loadRun(f, run).Results[StepMetrics].Output))
	}
	f.Add([]byte("kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} +Inf\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := LastSyncIPv4(b)
		if err != nil && !got.IsZero() {
			t.Errorf("a time (%v) with an error (%v)", got, err)
		}
		if !got.IsZero() && !got.After(time.Unix(0, 0)) {
			t.Errorf("a sync time not after 1970: %v", got)
		}
	})
}

func TestSyncMetrics(t *testing.T) {
	// The sync gauge with its HELP and TYPE lines is what is kept of a page holding it
	// between other metrics.
	want := "# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds [ALPHA] The last time proxy rules were successfully synced\n" +
		"# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\n" +
		"kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 1.795687503166186e+09\n"
	in := "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 12\n" +
		want + "kubeproxy_network_programming_duration_seconds_count 3\n"
	if got := SyncMetrics(in); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
