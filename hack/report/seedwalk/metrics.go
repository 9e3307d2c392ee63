package seedwalk

import (
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
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
	m, err := kubeproxy.ParseSyncMetrics(metrics)
	if err != nil {
		return time.Time{}, err
	}
	return m.Family(kubeproxy.FamilyIPv4).Last, nil
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
