package lab

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/internal/fixture"
)

func TestLastSync(t *testing.T) {
	upstream := fixture.Read(t, "metrics-kube-proxy-v1.37.2.txt")
	reference := fixture.Read(t, "metrics-ipvs-proxier.txt")
	const series = `kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} `
	for _, tc := range []struct {
		name    string
		text    string
		want    time.Time
		wantErr string
	}{
		{name: "kube-proxy v1.37.2 after its first sync", text: upstream, want: time.Unix(1795683359, 846938100)},
		{name: "reference proxier after its first sync", text: reference, want: time.Unix(1795683382, 767731700)},
		{name: "not synced: the gauge is 0", text: replaceSeries(t, upstream, series+"0")},
		{name: "not synced: no series yet", text: replaceSeries(t, reference, "")},
		{name: "dual-stack, IPv6 not synced yet", text: replaceSeries(t, upstream, series+"1.7e9\n"+strings.Replace(series, "IPv4", "IPv6", 1)+"0")},
		{name: "dual-stack, both synced: the earlier", text: replaceSeries(t, upstream, series+"1.8e9\n"+strings.Replace(series, "IPv4", "IPv6", 1)+"1.7e9"), want: time.Unix(1.7e9, 0)},
		{name: "no kube-proxy metrics at all", text: "# HELP up x\n# TYPE up gauge\nup 1\n"},
		{name: "not the text format", text: "<html>404</html>\n", wantErr: "expected the Prometheus text format"},
	} {
		got, err := LastSync([]byte(tc.text))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		// float64 seconds keep about a microsecond at today's Unix times.
		if err != nil || got.IsZero() != tc.want.IsZero() || got.Sub(tc.want).Abs() > time.Microsecond {
			t.Errorf("%s: LastSync = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func FuzzLastSync(f *testing.F) {
	for _, name := range []string{"metrics-kube-proxy-v1.37.2.txt", "metrics-ipvs-proxier.txt"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("kubeproxy_sync_proxy_rules_last_timestamp_seconds NaN\n"))
	f.Add([]byte("kubeproxy_sync_proxy_rules_last_timestamp_seconds 1e300\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		got, err := LastSync(text)
		if err != nil && !got.IsZero() {
			t.Fatalf("LastSync returned %v with error %v", got, err)
		}
		if !got.IsZero() && !got.After(time.Unix(0, 0)) {
			t.Fatalf("LastSync = %v, not after the epoch", got)
		}
	})
}

// replaceSeries swaps the sync gauge's series in a real output for others.
func replaceSeries(t *testing.T, text, series string) string {
	t.Helper()
	var out []string
	found := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "kubeproxy_sync_proxy_rules_last_timestamp_seconds{") {
			found = true
			if series != "" {
				out = append(out, series)
			}
			continue
		}
		out = append(out, line)
	}
	if !found {
		t.Fatal("testdata has no kubeproxy_sync_proxy_rules_last_timestamp_seconds series")
	}
	return strings.Join(out, "\n")
}
