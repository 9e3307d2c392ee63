package syncmetrics

import (
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// dual is a dual-stack proxy's sync metrics.
const dual = `# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="+Inf"} 3
kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family="IPv4"} 1.5
kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 3
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv6",le="+Inf"} 1
kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family="IPv6"} 0.25
kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv6"} 1
# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1000.5
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv6"} 900
# TYPE kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"} 990
kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv6"} 950
`

func TestParseSyncMetrics(t *testing.T) {
	at := func(sec float64) time.Time { return time.Unix(0, int64(sec*1e9)) }
	tests := []struct {
		name             string
		text             string
		ipv4             Family
		earliest, latest time.Time
		pending          bool
		wantErr          string
	}{
		{
			name: "dual stack, IPv6 has a change queued after its last sync", text: dual,
			ipv4:     Family{Syncs: 3, Seconds: 1.5, Last: at(1000.5), Queued: at(990), hasLast: true},
			earliest: at(900), latest: at(1000.5), pending: true,
		},
		{
			name: "one family not synced yet", text: "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\n" +
				"kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"} 1000\n" +
				"kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv6\"} 0\n",
			ipv4: Family{Last: at(1000), hasLast: true}, latest: at(1000),
		},
		{
			name: "unlabelled single-stack series counts as the family", text: "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\n" +
				"kubeproxy_sync_proxy_rules_last_timestamp_seconds 1000\n",
			ipv4: Family{Last: at(1000), hasLast: true}, earliest: at(1000), latest: at(1000),
		},
		{name: "nothing yet", text: "# TYPE go_goroutines gauge\ngo_goroutines 7\n"},
		{name: "not the Prometheus format", text: "{json}", wantErr: "Prometheus text format"},
		{
			name: "wrong type", text: "# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds counter\nkubeproxy_sync_proxy_rules_last_timestamp_seconds 1\n",
			wantErr: "is a counter, expected a gauge",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.text))
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if got := m.Family(FamilyIPv4); got != tc.ipv4 {
				t.Errorf("Family(IPv4) = %+v, want %+v", got, tc.ipv4)
			}
			if got := m.Earliest(); !got.Equal(tc.earliest) {
				t.Errorf("Earliest = %v, want %v", got, tc.earliest)
			}
			if got := m.Latest(); !got.Equal(tc.latest) {
				t.Errorf("Latest = %v, want %v", got, tc.latest)
			}
			if got := m.Pending(); got != tc.pending {
				t.Errorf("Pending = %v, want %v", got, tc.pending)
			}
		})
	}
}

// FuzzParse: whatever the text, Parse returns metrics or an error, and every time it reads
// is after the epoch (a gauge's 0, NaN or out-of-range value is no time), so what
// LastSync-style readers take from it (Family, Earliest) is a real time or none.
func FuzzParse(f *testing.F) {
	f.Add([]byte(dual))
	f.Add([]byte("kubeproxy_sync_proxy_rules_last_timestamp_seconds NaN\n"))
	f.Add([]byte("kubeproxy_sync_proxy_rules_last_timestamp_seconds 1e300\n"))
	f.Add([]byte("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family=\"IPv4\"} -Inf\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		m, err := Parse(text)
		if err != nil {
			if m != nil {
				t.Fatalf("Parse returned %v with error %v", m, err)
			}
			return
		}
		for family, syncs := range m {
			for _, at := range []time.Time{syncs.Last, syncs.Queued} {
				if !at.IsZero() && !at.After(time.Unix(0, 0)) {
					t.Fatalf("family %q: a time not after the epoch: %+v", family, syncs)
				}
			}
		}
		if e := m.Earliest(); !e.IsZero() && !e.After(time.Unix(0, 0)) {
			t.Fatalf("Earliest = %v, not after the epoch", e)
		}
	})
}
