package syncmetrics

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The sync metrics kube-proxy and the reference proxier both serve on /metrics, one series
// per IP family (label ip_family).
const (
	durationMetric = "kubeproxy_sync_proxy_rules_duration_seconds"
	lastMetric     = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
	queuedMetric   = "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds"
)

// FamilyIPv4 and FamilyIPv6 are the ip_family label values.
const (
	FamilyIPv4 = "IPv4"
	FamilyIPv6 = "IPv6"
)

// Family is what /metrics says about the syncs of one IP family.
type Family struct {
	// Syncs and Seconds are the sync duration histogram's count and sum.
	Syncs   uint64
	Seconds float64
	// Last is when the last sync finished and Queued when the last change needing one
	// arrived, on the proxy's (the node's) clock; zero when not yet (or 0 in the gauge).
	Last   time.Time
	Queued time.Time
	// hasLast tells that the last-sync gauge has a series for the family, even at 0.
	hasLast bool
}

// Metrics maps each ip_family label to its syncs ("" for a series without the label,
// as an older single-stack proxy serves).
type Metrics map[string]Family

// Parse reads the sync metrics from a proxy's /metrics text. Metrics not yet
// there give no entries; text that is not the Prometheus format, or a sync metric of the
// wrong type, is an error.
func Parse(text []byte) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("proxy /metrics: expected the Prometheus text format: %w", err)
	}
	out := Metrics{}
	each := func(name string, want dto.MetricType, set func(*Family, *dto.Metric)) error {
		mf := families[name]
		if mf == nil {
			return nil
		}
		if mf.GetType() != want {
			return fmt.Errorf("proxy /metrics: %s is a %s, expected a %s", name, strings.ToLower(mf.GetType().String()), strings.ToLower(want.String()))
		}
		for _, m := range mf.GetMetric() {
			fam := ipFamily(m)
			f := out[fam]
			set(&f, m)
			out[fam] = f
		}
		return nil
	}
	if err := each(durationMetric, dto.MetricType_HISTOGRAM, func(f *Family, m *dto.Metric) {
		f.Syncs, f.Seconds = m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
	}); err != nil {
		return nil, err
	}
	if err := each(lastMetric, dto.MetricType_GAUGE, func(f *Family, m *dto.Metric) {
		f.Last, f.hasLast = unixTime(m.GetGauge().GetValue()), true
	}); err != nil {
		return nil, err
	}
	if err := each(queuedMetric, dto.MetricType_GAUGE, func(f *Family, m *dto.Metric) {
		f.Queued = unixTime(m.GetGauge().GetValue())
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// Family is the family's syncs: its labelled series, or the unlabelled one when that is
// the only series (a single-stack proxy without the label).
func (s Metrics) Family(family string) Family {
	if f, ok := s[family]; ok {
		return f
	}
	if f, ok := s[""]; ok && len(s) == 1 {
		return f
	}
	return Family{}
}

// Earliest is the earliest last sync over the families the last-sync gauge lists: when
// every family the proxy runs had finished a sync. Zero when the gauge lists none, or
// some family has not finished one.
func (s Metrics) Earliest() time.Time {
	var earliest time.Time
	for _, f := range s {
		if !f.hasLast {
			continue
		}
		if f.Last.IsZero() {
			return time.Time{}
		}
		if earliest.IsZero() || f.Last.Before(earliest) {
			earliest = f.Last
		}
	}
	return earliest
}

// Latest is the end of the latest sync of any family: a dual-stack kube-proxy syncs only
// the family a change concerns.
func (s Metrics) Latest() time.Time {
	var latest time.Time
	for _, f := range s {
		if f.Last.After(latest) {
			latest = f.Last
		}
	}
	return latest
}

// Pending tells whether some family has a change queued after its last sync ended.
func (s Metrics) Pending() bool {
	for _, f := range s {
		if f.Queued.After(f.Last) {
			return true
		}
	}
	return false
}

func ipFamily(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "ip_family" {
			return l.GetValue()
		}
	}
	return ""
}

// unixTime turns a gauge of Unix seconds into a time; 0, negative, NaN, infinite and
// out-of-range values are the zero time.
func unixTime(v float64) time.Time {
	if !(v > 0) || math.IsInf(v, 0) || v >= math.MaxInt64/1e9 {
		return time.Time{}
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9)))
}
