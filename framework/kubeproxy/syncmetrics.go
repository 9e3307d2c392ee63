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
