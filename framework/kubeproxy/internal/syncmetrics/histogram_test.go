package syncmetrics

import (
	"math"
	"os"
	"reflect"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// programming is a proxy's network programming histogram after ten observations, with
// kube-proxy's first buckets.
const programming = `# TYPE kubeproxy_network_programming_duration_seconds histogram
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv4",le="0.25"} 2
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv4",le="0.5"} 6
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv4",le="1"} 9
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv4",le="2"} 10
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv4",le="+Inf"} 10
kubeproxy_network_programming_duration_seconds_sum{ip_family="IPv4"} 5.5
kubeproxy_network_programming_duration_seconds_count{ip_family="IPv4"} 10
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="0.25"} 1
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="0.5"} 1
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="1"} 1
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="2"} 1
kubeproxy_network_programming_duration_seconds_bucket{ip_family="IPv6",le="+Inf"} 1
kubeproxy_network_programming_duration_seconds_sum{ip_family="IPv6"} 0.1
kubeproxy_network_programming_duration_seconds_count{ip_family="IPv6"} 1
`

var inf = math.Inf(1)

func buckets(pairs ...float64) []Bucket {
	var b []Bucket
	for i := 0; i < len(pairs); i += 2 {
		b = append(b, Bucket{UpperBound: pairs[i], Count: uint64(pairs[i+1])})
	}
	return b
}

func TestProgrammingLatency(t *testing.T) {
	tests := []struct {
		name, text, family string
		want               Histogram
		wantErr            string
	}{
		{
			name: "IPv4 of a dual-stack proxy", text: programming, family: FamilyIPv4,
			want: Histogram{Count: 10, Sum: 5.5, Buckets: buckets(0.25, 2, 0.5, 6, 1, 9, 2, 10, inf, 10)},
		},
		{
			name: "IPv6 of a dual-stack proxy", text: programming, family: FamilyIPv6,
			want: Histogram{Count: 1, Sum: 0.1, Buckets: buckets(0.25, 1, 0.5, 1, 1, 1, 2, 1, inf, 1)},
		},
		{
			name: "unlabelled single series", family: FamilyIPv4,
			text: "# TYPE kubeproxy_network_programming_duration_seconds histogram\n" +
				"kubeproxy_network_programming_duration_seconds_bucket{le=\"1\"} 1\n" +
				"kubeproxy_network_programming_duration_seconds_bucket{le=\"+Inf\"} 2\n" +
				"kubeproxy_network_programming_duration_seconds_sum 3\n" +
				"kubeproxy_network_programming_duration_seconds_count 2\n",
			want: Histogram{Count: 2, Sum: 3, Buckets: buckets(1, 1, inf, 2)},
		},
		{name: "nothing observed yet", text: "# TYPE go_goroutines gauge\ngo_goroutines 7\n", family: FamilyIPv4},
		{name: "not the Prometheus format", text: "{json}", family: FamilyIPv4, wantErr: "Prometheus text format"},
		{
			name: "wrong type", family: FamilyIPv4,
			text:    "# TYPE kubeproxy_network_programming_duration_seconds gauge\nkubeproxy_network_programming_duration_seconds 1\n",
			wantErr: "is a gauge, expected a histogram",
		},
		{
			name: "buckets not cumulative", family: FamilyIPv4,
			text: "# TYPE kubeproxy_network_programming_duration_seconds histogram\n" +
				"kubeproxy_network_programming_duration_seconds_bucket{le=\"1\"} 3\n" +
				"kubeproxy_network_programming_duration_seconds_bucket{le=\"+Inf\"} 2\n" +
				"kubeproxy_network_programming_duration_seconds_count 2\n",
			wantErr: "expected cumulative counts",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ProgrammingLatency([]byte(tc.text), tc.family)
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if !reflect.DeepEqual(h, tc.want) {
				t.Errorf("got %+v, want %+v", h, tc.want)
			}
		})
	}
}

func TestHistogramSub(t *testing.T) {
	now := Histogram{Count: 10, Sum: 5.5, Buckets: buckets(0.25, 2, 0.5, 6, inf, 10)}
	tests := []struct {
		name    string
		earlier Histogram
		want    Histogram
		wantErr string
	}{
		{name: "from nothing", want: now},
		{
			name:    "observations in between",
			earlier: Histogram{Count: 3, Sum: 0.5, Buckets: buckets(0.25, 2, 0.5, 3, inf, 3)},
			want:    Histogram{Count: 7, Sum: 5, Buckets: buckets(0.25, 0, 0.5, 3, inf, 7)},
		},
		{
			name:    "restarted proxy",
			earlier: Histogram{Count: 11, Buckets: buckets(0.25, 2, 0.5, 6, inf, 11)},
			wantErr: "restarted",
		},
		{
			name:    "other buckets",
			earlier: Histogram{Count: 1, Buckets: buckets(1, 1, inf, 1)},
			wantErr: "with 2 and 3 buckets",
		},
		{
			name:    "a bucket shrank",
			earlier: Histogram{Count: 4, Buckets: buckets(0.25, 3, 0.5, 4, inf, 4)},
			wantErr: "growing counts",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := now.Sub(tc.earlier)
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if !reflect.DeepEqual(d, tc.want) {
				t.Errorf("got %+v, want %+v", d, tc.want)
			}
		})
	}
}

// TestQuantile checks the estimates against histogram_quantile's arithmetic, worked by
// hand: the rank q*count, its bucket, linear interpolation inside it.
func TestQuantile(t *testing.T) {
	h := Histogram{Count: 10, Buckets: buckets(0.25, 2, 0.5, 6, 1, 9, 2, 10, inf, 10)}
	tests := []struct {
		name string
		h    Histogram
		q    float64
		want float64
	}{
		{"rank 1 in the first bucket, from 0", h, 0.1, 0.125},
		{"rank 5 in (0.25, 0.5], 3 of its 4", h, 0.5, 0.4375},
		{"rank 9.9 in (1, 2]", h, 0.99, 1.9},
		{"rank 10, the top of (1, 2]", h, 1, 2},
		{"rank in +Inf gives the highest finite bound", Histogram{Count: 3, Buckets: buckets(0.25, 0, 0.5, 1, inf, 3)}, 0.99, 0.5},
		{"empty", Histogram{Buckets: buckets(0.25, 0, inf, 0)}, 0.5, math.NaN()},
		{"q out of range", h, 1.5, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.h.Quantile(tc.q)
			if math.IsNaN(tc.want) {
				if !math.IsNaN(got) {
					t.Fatalf("Quantile(%g) = %g, want NaN", tc.q, got)
				}
				return
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("Quantile(%g) = %g, want %g", tc.q, got, tc.want)
			}
		})
	}
}

// FuzzProgrammingLatency: whatever the text, a histogram read from it has cumulative
// buckets ending at +Inf, and its quantiles lie within its finite bounds.
func FuzzProgrammingLatency(f *testing.F) {
	f.Add([]byte(programming))
	if b, err := os.ReadFile("testdata/metrics-reference-churn-after.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("kubeproxy_network_programming_duration_seconds_bucket{le=\"NaN\"} 1\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		h, err := ProgrammingLatency(text, FamilyIPv4)
		if err != nil || h.Count == 0 {
			return
		}
		if !math.IsInf(h.Buckets[len(h.Buckets)-1].UpperBound, 1) {
			t.Fatalf("last bucket %+v, want +Inf", h.Buckets[len(h.Buckets)-1])
		}
		for _, q := range []float64{0, 0.5, 0.99, 1} {
			v := h.Quantile(q)
			if len(h.Buckets) < 2 || math.IsNaN(h.Buckets[len(h.Buckets)-2].UpperBound) {
				continue
			}
			if v > h.Buckets[len(h.Buckets)-2].UpperBound {
				t.Fatalf("Quantile(%g) = %g above the highest finite bound of %+v", q, v, h)
			}
		}
	})
}

// TestProgrammingLatencyLabRun reads the reference proxier's metrics around a churn of
// 2,400 endpoint changes at 1,000 Services in the lab cluster (make bench-cluster). The
// quantiles are worked by hand from the buckets: p50's rank 1,200 lies in (4, 5], which
// holds 1,334-1,191 = 143 of them, 9 past its start; p99's rank 2,376 in (17, 18], 27
// of them, 3 past its start.
func TestProgrammingLatencyLabRun(t *testing.T) {
	read := func(name string) Histogram {
		h, err := ProgrammingLatency([]byte(fixture.Read(t, name)), FamilyIPv4)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before, after := read("metrics-reference-churn-before.txt"), read("metrics-reference-churn-after.txt")
	if before.Count != 0 || len(before.Buckets) != 0 {
		t.Errorf("before the churn: %+v, want no observation (the burst's slices carry no trigger time)", before)
	}
	d, err := after.Sub(before)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count != 2400 {
		t.Errorf("%d observations, want one per change: 2400", d.Count)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 4 + 9.0/143}, {0.99, 17 + 3.0/27}} {
		if got := d.Quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Quantile(%g) = %g, want %g", c.q, got, c.want)
		}
	}
}
