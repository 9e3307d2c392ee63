package clusterbench

import (
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
)

// FamilyIPv4 is the ip_family label of the IPv4 proxier; the benchmark's Services are
// IPv4, and a dual-stack kube-proxy reports its IPv6 syncs apart.
const FamilyIPv4 = kubeproxy.FamilyIPv4

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
	all, err := kubeproxy.ParseSyncMetrics(text)
	if err != nil {
		return SyncMetrics{}, err
	}
	f := all.Family(family)
	return SyncMetrics{Syncs: f.Syncs, Seconds: f.Seconds, Last: f.Last}, nil
}

// Since is how many syncs finished, and how many seconds they took together, between an
// earlier reading and this one.
func (m SyncMetrics) Since(earlier SyncMetrics) (syncs int, seconds float64) {
	if m.Syncs < earlier.Syncs {
		return 0, 0 // the proxy restarted; callers compare readings of one process
	}
	return int(m.Syncs - earlier.Syncs), m.Seconds - earlier.Seconds
}
