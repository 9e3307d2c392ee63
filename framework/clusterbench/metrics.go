package clusterbench

import (
	"bytes"
	"fmt"
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The metrics kube-proxy and the reference proxier share (same names, labels, buckets).
const (
	SyncDurationMetric = "kubeproxy_sync_proxy_rules_duration_seconds"
	LastSyncMetric     = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
)

// FamilyIPv4 is the ip_family label of the IPv4 proxier; the benchmark's Services are
// IPv4, and a dual-stack kube-proxy reports its IPv6 syncs apart.
const FamilyIPv4 = "IPv4"

// SyncMetrics is what a proxy's /metrics says about the syncs of one IP family.
type SyncMetrics struct {
	// Syncs and Seconds are the sync duration histogram's count and sum.
	Syncs   uint64
	Seconds float64
	// Last is when the last sync finished, on the proxy's (the node's) clock; zero before
	// the first one.
	Last time.Time
}

// ParseSyncMetrics reads the sync histogram and last-sync gauge of family from the
// Prometheus text a proxy serves on /metrics. A family with no series yet (no sync has
// finished) gives zero values; text that is not the Prometheus format is an error.
func ParseSyncMetrics(text []byte, family string) (SyncMetrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return SyncMetrics{}, fmt.Errorf("proxy /metrics: expected the Prometheus text format: %w", err)
	}
	var m SyncMetrics
	if mf := families[SyncDurationMetric]; mf != nil {
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			return SyncMetrics{}, fmt.Errorf("proxy /metrics: %s is a %s, expected a histogram", SyncDurationMetric, mf.GetType())
		}
		if s := seriesOf(mf, family); s != nil {
			m.Syncs, m.Seconds = s.GetHistogram().GetSampleCount(), s.GetHistogram().GetSampleSum()
		}
	}
	if mf := families[LastSyncMetric]; mf != nil {
		if mf.GetType() != dto.MetricType_GAUGE {
			return SyncMetrics{}, fmt.Errorf("proxy /metrics: %s is a %s, expected a gauge", LastSyncMetric, mf.GetType())
		}
		if s := seriesOf(mf, family); s != nil {
			v := s.GetGauge().GetValue()
			if v > 0 && !math.IsInf(v, 0) && v < math.MaxInt64/1e9 {
				m.Last = unixFloat(v)
			}
		}
	}
	return m, nil
}

// seriesOf finds the series labelled ip_family=family; a metric without that label (an
// older or single-stack proxy) counts as the family's when it has exactly one series.
func seriesOf(mf *dto.MetricFamily, family string) *dto.Metric {
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "ip_family" && l.GetValue() == family {
				return m
			}
		}
	}
	if len(mf.GetMetric()) == 1 {
		for _, l := range mf.GetMetric()[0].GetLabel() {
			if l.GetName() == "ip_family" {
				return nil
			}
		}
		return mf.GetMetric()[0]
	}
	return nil
}

// Since is how many syncs finished, and how many seconds they took together, between an
// earlier reading and this one.
func (m SyncMetrics) Since(earlier SyncMetrics) (syncs int, seconds float64) {
	if m.Syncs < earlier.Syncs {
		return 0, 0 // the proxy restarted; callers compare readings of one process
	}
	return int(m.Syncs - earlier.Syncs), m.Seconds - earlier.Seconds
}

func unixFloat(v float64) time.Time {
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9)))
}
