package seedwalk

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// lastSyncMetric is the gauge kube-proxy (and the reference proxier) sets at the end of
// each sync: the Unix time it finished, one series per IP family.
const lastSyncMetric = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"

// LastSyncIPv4 reads, from kube-proxy's /metrics text, when its IPv4 proxier last finished
// a sync: the series labelled ip_family="IPv4", or the unlabelled one of a single-stack
// build. The IPv6 proxier of a dual-stack kube-proxy does not sync for an IPv4-only
// Service, so the earliest of the families would wait for its periodic resync (30 s).
// The zero time means no IPv4 sync has finished yet.
func LastSyncIPv4(metrics []byte) (time.Time, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(metrics))
	if err != nil {
		return time.Time{}, fmt.Errorf("kube-proxy /metrics: expected the Prometheus text format: %w", err)
	}
	mf := families[lastSyncMetric]
	if mf == nil {
		return time.Time{}, nil
	}
	for _, m := range mf.GetMetric() {
		family := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "ip_family" {
				family = l.GetValue()
			}
		}
		if family != "" && family != "IPv4" {
			continue
		}
		v := m.GetGauge().GetValue()
		if !(v > 0) || math.IsInf(v, 0) || v > math.MaxInt64/1e9 {
			return time.Time{}, nil
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	return time.Time{}, nil
}

// SyncMetrics keeps the lines of kube-proxy's /metrics text about its syncs (samples, HELP
// and TYPE of kubeproxy_sync_proxy_rules_*): what a walk records of the metrics it waited
// on, a few dozen lines of the thousand.
func SyncMetrics(metrics string) string {
	var b strings.Builder
	for l := range strings.Lines(metrics) {
		if strings.HasPrefix(strings.TrimPrefix(strings.TrimPrefix(l, "# HELP "), "# TYPE "), "kubeproxy_sync_proxy_rules_") {
			b.WriteString(l)
		}
	}
	return b.String()
}
