package lab

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
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
		t.Run(tc.name, func(t *testing.T) {
			got, err := LastSync([]byte(tc.text))
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			// float64 seconds keep about a microsecond at today's Unix times.
			if got.IsZero() != tc.want.IsZero() || got.Sub(tc.want).Abs() > time.Microsecond {
				t.Errorf("LastSync = %v; want %v", got, tc.want)
			}
		})
	}
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

func TestSyncWait(t *testing.T) {
	upstream := fixture.Read(t, "metrics-kube-proxy-v1.37.2.txt")
	crashLoop := errors.New("kube-proxy pod kube-proxy-x on node lab-node is failing (CrashLoopBackOff, restarted 12 times): its last fatal line: unknown scheduler bogus")
	noMetrics := func(context.Context) ([]byte, error) { return nil, errors.New("curl: (7) Failed to connect") }
	for _, tc := range []struct {
		name    string
		metrics func(context.Context) ([]byte, error)
		failing func(polls int) error
		timeout time.Duration
		want    []string // substrings of the error; none: the wait succeeds
		within  time.Duration
	}{
		{name: "synced", metrics: func(context.Context) ([]byte, error) { return []byte(upstream), nil },
			failing: func(int) error { return nil }, timeout: time.Minute, within: time.Second},
		{name: "crash-looping fails at once, quoting the pod", metrics: noMetrics,
			failing: func(polls int) error {
				if polls < 3 {
					return nil
				}
				return crashLoop
			},
			timeout: time.Minute, within: 2 * time.Second,
			want: []string{"kube-proxy on lab-node cannot start", crashLoop.Error()}},
		{name: "timeout prints rounded", metrics: noMetrics, failing: func(int) error { return nil }, timeout: 1200 * time.Millisecond,
			within: 3 * time.Second, want: []string{"did not finish a first sync within 1.2s (last: curl: (7) Failed to connect)", "its log ends:\nF1205 fatal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			polls := 0
			w := syncWait{
				node:    NodeName,
				poll:    10 * time.Millisecond,
				metrics: tc.metrics,
				failing: func(context.Context) error { polls++; return tc.failing(polls) },
				logTail: func(context.Context) string { return "F1205 fatal" },
			}
			start := time.Now()
			err := w.run(context.Background(), tc.timeout)
			if took := time.Since(start); took > tc.within {
				t.Errorf("the wait took %s, want at most %s", took, tc.within)
			}
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("run = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("run = nil, want an error with %q", tc.want)
			}
			fixture.Contains(t, "error", err.Error(), tc.want...)
		})
	}
}

func TestRoundDuration(t *testing.T) {
	for in, want := range map[time.Duration]string{
		3*time.Minute - 280*time.Nanosecond:   "3m0s",
		12*time.Second + 400*time.Millisecond: "12s",
		1234 * time.Millisecond:               "1.2s",
	} {
		if got := roundDuration(in).String(); got != want {
			t.Errorf("roundDuration(%s) = %s, want %s", in, got, want)
		}
	}
}
