package labrun

import (
	"bytes"
	"fmt"
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The gauges kube-proxy (and the reference proxier) keep per IP family: when a sync of
// the rules last ended, and when a change that needs one last arrived.
const (
	syncedMetric = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
	queuedMetric = "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds"
)

// syncState is what the metrics say about the proxy's syncs.
type syncState struct {
	// Latest is the end of the latest sync of any family. A dual-stack kube-proxy syncs
	// only the family a change concerns, so the other family's time says nothing.
	Latest time.Time
	// Pending tells whether some family has a change queued after its last sync ended.
	Pending bool
}

// readSyncState reads syncState from /metrics text.
func readSyncState(metrics []byte) (syncState, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(metrics))
	if err != nil {
		return syncState{}, fmt.Errorf("proxy /metrics: expected the Prometheus text format: %w", err)
	}
	synced, queued := perFamily(families[syncedMetric].GetMetric()), perFamily(families[queuedMetric].GetMetric())
	var s syncState
	for _, t := range synced {
		if t.After(s.Latest) {
			s.Latest = t
		}
	}
	for fam, q := range queued {
		if q.After(synced[fam]) {
			s.Pending = true
		}
	}
	return s, nil
}

// perFamily maps each series' ip_family label to its time; unset (0) series are left out.
func perFamily(ms []*dto.Metric) map[string]time.Time {
	out := map[string]time.Time{}
	for _, m := range ms {
		v := m.GetGauge().GetValue()
		if !(v > 0) || math.IsInf(v, 0) || v > math.MaxInt64/1e9 {
			continue
		}
		fam := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "ip_family" {
				fam = l.GetValue()
			}
		}
		sec, frac := math.Modf(v)
		out[fam] = time.Unix(int64(sec), int64(frac*1e9))
	}
	return out
}
