package kubeproxy

import "github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy/internal/syncmetrics"

// SyncMetrics is what a proxy's /metrics says about its syncs, per ip_family label (""
// for the unlabelled series of an older single-stack proxy): Family gives one family's
// sync count, seconds and last sync; Earliest, Latest and Pending look across families.
// kube-proxy and the reference proxier serve the same metrics.
type SyncMetrics = syncmetrics.Metrics

// FamilySyncs is one family's entry of SyncMetrics.
type FamilySyncs = syncmetrics.Family

// FamilyIPv4 is the ip_family label value of the IPv4 proxier.
const FamilyIPv4 = syncmetrics.FamilyIPv4

// ParseSyncMetrics reads the sync metrics from a proxy's /metrics text. Metrics not yet
// there give no entries; text that is not the Prometheus format, or a sync metric of the
// wrong type, is an error.
func ParseSyncMetrics(text []byte) (SyncMetrics, error) { return syncmetrics.Parse(text) }

// Histogram is one series of a Prometheus histogram; Sub takes an earlier reading from it
// and Quantile estimates a quantile as Prometheus' histogram_quantile does.
type Histogram = syncmetrics.Histogram

// ProgrammingLatency reads kubeproxy_network_programming_duration_seconds of one IP
// family from a proxy's /metrics text: empty when the proxy has observed nothing yet.
func ProgrammingLatency(text []byte, family string) (Histogram, error) {
	return syncmetrics.ProgrammingLatency(text, family)
}
