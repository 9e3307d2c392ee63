package syncmetrics

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// programmingMetric is the time from an EndpointSlice's last-change-trigger-time
// annotation to the end of the sync that applied it: sig-scalability's network
// programming latency SLI.
const programmingMetric = "kubeproxy_network_programming_duration_seconds"

// Bucket is one cumulative histogram bucket: Count observations were <= UpperBound.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Histogram is one series of a Prometheus histogram: its buckets by ascending bound, the
// last one +Inf, and its count and sum.
type Histogram struct {
	Buckets []Bucket
	Count   uint64
	Sum     float64
}

// ProgrammingLatency reads the network programming latency histogram of family (or its
// unlabelled series, when that is the only one) from a proxy's /metrics text. A proxy that
// has observed nothing yet serves no series: that is an empty histogram.
func ProgrammingLatency(text []byte, family string) (Histogram, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return Histogram{}, fmt.Errorf("proxy /metrics: expected the Prometheus text format: %w", err)
	}
	mf := families[programmingMetric]
	if mf == nil {
		return Histogram{}, nil
	}
	if mf.GetType() != dto.MetricType_HISTOGRAM {
		return Histogram{}, fmt.Errorf("proxy /metrics: %s is a %s, expected a histogram", programmingMetric, strings.ToLower(mf.GetType().String()))
	}
	var found *dto.Metric
	for _, m := range mf.GetMetric() {
		switch fam := ipFamily(m); {
		case fam == family:
			found = m
		case fam == "" && len(mf.GetMetric()) == 1:
			found = m
		}
	}
	if found == nil {
		return Histogram{}, nil
	}
	h := Histogram{Count: found.GetHistogram().GetSampleCount(), Sum: found.GetHistogram().GetSampleSum()}
	for _, b := range found.GetHistogram().GetBucket() {
		h.Buckets = append(h.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: b.GetCumulativeCount()})
	}
	slices.SortFunc(h.Buckets, func(a, b Bucket) int { return compareFloat(a.UpperBound, b.UpperBound) })
	// The text format lists +Inf; the parser may leave it out as implied by the count.
	if n := len(h.Buckets); n == 0 || !math.IsInf(h.Buckets[n-1].UpperBound, 1) {
		h.Buckets = append(h.Buckets, Bucket{UpperBound: math.Inf(1), Count: h.Count})
	}
	for i := 1; i < len(h.Buckets); i++ {
		if h.Buckets[i].Count < h.Buckets[i-1].Count {
			return Histogram{}, fmt.Errorf("proxy /metrics: %s: bucket le=%g holds %d, fewer than le=%g's %d: expected cumulative counts",
				programmingMetric, h.Buckets[i].UpperBound, h.Buckets[i].Count, h.Buckets[i-1].UpperBound, h.Buckets[i-1].Count)
		}
	}
	return h, nil
}

// Sub is the observations made between an earlier reading of the same series and this
// one. An earlier reading with no buckets is an empty histogram; one with other buckets,
// or more observations than this one (the proxy restarted), is an error.
func (h Histogram) Sub(earlier Histogram) (Histogram, error) {
	if len(earlier.Buckets) == 0 {
		return h, nil
	}
	if len(earlier.Buckets) != len(h.Buckets) {
		return Histogram{}, fmt.Errorf("histogram readings with %d and %d buckets: expected the same series of one process", len(earlier.Buckets), len(h.Buckets))
	}
	if earlier.Count > h.Count {
		return Histogram{}, fmt.Errorf("histogram count went from %d down to %d: the proxy restarted between the readings", earlier.Count, h.Count)
	}
	d := Histogram{Count: h.Count - earlier.Count, Sum: h.Sum - earlier.Sum, Buckets: make([]Bucket, len(h.Buckets))}
	for i, b := range h.Buckets {
		e := earlier.Buckets[i]
		if e.UpperBound != b.UpperBound || e.Count > b.Count {
			return Histogram{}, fmt.Errorf("histogram bucket %d: le=%g holding %d, then le=%g holding %d: expected the same bounds and growing counts",
				i, e.UpperBound, e.Count, b.UpperBound, b.Count)
		}
		d.Buckets[i] = Bucket{UpperBound: b.UpperBound, Count: b.Count - e.Count}
	}
	return d, nil
}

// Quantile estimates the q-quantile (0 <= q <= 1) the way Prometheus' histogram_quantile
// does: it finds the bucket holding the rank q*Count and interpolates linearly inside it,
// the first bucket starting at 0; a rank in the +Inf bucket gives the highest finite
// bound. NaN for an empty histogram or q outside [0, 1].
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 || len(h.Buckets) < 2 || !(q >= 0 && q <= 1) {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	i, _ := slices.BinarySearchFunc(h.Buckets, rank, func(b Bucket, r float64) int { return compareFloat(float64(b.Count), r) })
	if i == len(h.Buckets)-1 || i == len(h.Buckets) {
		return h.Buckets[len(h.Buckets)-2].UpperBound
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = h.Buckets[i-1].UpperBound, float64(h.Buckets[i-1].Count)
	} else if h.Buckets[0].UpperBound <= 0 {
		return h.Buckets[0].UpperBound
	}
	in := float64(h.Buckets[i].Count) - below
	if in == 0 {
		return h.Buckets[i].UpperBound
	}
	return lower + (h.Buckets[i].UpperBound-lower)*(rank-below)/in
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
