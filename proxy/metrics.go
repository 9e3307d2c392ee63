package proxy

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	k8smetrics "k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	// client-go's metrics adapters (rest_client_*), imported as kube-proxy's main package
	// imports them: they register in component-base's legacy registry, served beside ours.
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
)

// Metrics are the proxier's Prometheus metrics. Names shared with kube-proxy keep
// kube-proxy's names, labels and buckets so dashboards and alerts work unchanged; the
// ones kube-proxy lacks are marked below. TestMetricsMatchKubeProxy holds them to
// kube-proxy v1.37's list (proxy/testdata/kube-proxy-v1.37.2-ipvs-metrics.txt).
//
// They live in a registry of their own; /metrics serves it together with
// component-base's legacy registry, which holds what every Kubernetes component exposes
// the same way: client-go's rest_client_*, the Go and process collectors, and
// component-base's registered_metrics_total and the like.
type Metrics struct {
	registry *prometheus.Registry

	SyncDuration        *prometheus.HistogramVec
	FullSyncDuration    *prometheus.HistogramVec
	PartialSyncDuration *prometheus.HistogramVec
	LastSync            *prometheus.GaugeVec
	LastQueued          *prometheus.GaugeVec
	NetworkProgramming  *prometheus.HistogramVec
	RestoreFailures     *prometheus.CounterVec
	IPTablesRules       *prometheus.GaugeVec
	ServiceChanges      prometheus.Counter
	EndpointChanges     prometheus.Counter
	// ServicesPending and EndpointsPending are kube-proxy's *_changes_pending: changes
	// received and not yet taken by a sync.
	ServicesPending  prometheus.Gauge
	EndpointsPending prometheus.Gauge
	// NoLocalEndpoints counts, by traffic_policy (internal, external), the Services with a
	// Local policy whose endpoints are all on other nodes, so IPVS mode falls back to them.
	NoLocalEndpoints *prometheus.GaugeVec
	// ConntrackDuration and ConntrackDeleted are kube-proxy's conntrack reconciler metrics:
	// the stale UDP entries cleanup after a sync.
	ConntrackDuration *prometheus.HistogramVec
	ConntrackDeleted  *prometheus.CounterVec
	HealthzTotal      *prometheus.CounterVec
	LivezTotal        *prometheus.CounterVec
	// SyncErrors (not in kube-proxy) counts syncs that failed, by family.
	SyncErrors *prometheus.CounterVec
	// Programmed (not in kube-proxy) counts the objects the proxier holds in the kernel, by
	// family and kind: virtual_servers, real_servers, terminating_real_servers, addresses,
	// ipsets, ipset_members.
	Programmed *prometheus.GaugeVec
}

// syncBuckets are kube-proxy's buckets for sync durations: 1 ms to about 16 s.
var syncBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

// NewMetrics registers the metrics in a registry of their own, so that tests and several
// proxiers in one process do not collide.
func NewMetrics() *Metrics {
	const fam = "ip_family"
	m := &Metrics{
		registry:            prometheus.NewRegistry(),
		SyncDuration:        histogramVec("sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds", syncBuckets, fam),
		FullSyncDuration:    histogramVec("sync_full_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for full resyncs (the kernel re-read)", syncBuckets, fam),
		PartialSyncDuration: histogramVec("sync_partial_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for partial resyncs", syncBuckets, fam),
		LastSync:            gaugeVec("sync_proxy_rules_last_timestamp_seconds", "The last time proxy rules were successfully synced", fam),
		LastQueued:          gaugeVec("sync_proxy_rules_last_queued_timestamp_seconds", "The last time a sync of proxy rules was queued", fam),
		NetworkProgramming:  histogramVec("network_programming_duration_seconds", "In Cluster Network Programming Latency in seconds", networkProgrammingBuckets(), fam),
		RestoreFailures:     counterVec("sync_proxy_rules_iptables_restore_failures_total", "Cumulative proxy iptables restore failures", fam),
		IPTablesRules:       gaugeVec("sync_proxy_rules_iptables_total", "Total number of iptables rules owned by kube-proxy", "table", fam),
		ServiceChanges:      counter("sync_proxy_rules_service_changes_total", "Cumulative proxy rules Service changes"),
		EndpointChanges:     counter("sync_proxy_rules_endpoint_changes_total", "Cumulative proxy rules Endpoint changes"),
		ServicesPending:     gauge("sync_proxy_rules_service_changes_pending", "Pending proxy rules Service changes"),
		EndpointsPending:    gauge("sync_proxy_rules_endpoint_changes_pending", "Pending proxy rules Endpoint changes"),
		NoLocalEndpoints:    gaugeVec("sync_proxy_rules_no_local_endpoints_total", "Number of services with a Local traffic policy and no endpoints", "traffic_policy", fam),
		ConntrackDuration:   histogramVec("conntrack_reconciler_sync_duration_seconds", "ReconcileConntrackFlowsLatency latency in seconds", syncBuckets, fam),
		ConntrackDeleted:    counterVec("conntrack_reconciler_deleted_entries_total", "Cumulative conntrack flows deleted by conntrack reconciler", fam),
		HealthzTotal:        counterVec("proxy_healthz_total", "Cumulative proxy healthz HTTP status", "code"),
		LivezTotal:          counterVec("proxy_livez_total", "Cumulative proxy livez HTTP status", "code"),
		SyncErrors:          counterVec("sync_proxy_rules_errors_total", "Cumulative syncs that could not apply every kernel change (they are retried)", fam),
		Programmed:          gaugeVec("ipvs_programmed_objects", "Objects the IPVS proxier holds in the kernel, by kind", fam, "kind"),
	}
	m.registry.MustRegister(
		m.SyncDuration, m.FullSyncDuration, m.PartialSyncDuration, m.LastSync, m.LastQueued,
		m.NetworkProgramming, m.RestoreFailures, m.IPTablesRules, m.ServiceChanges,
		m.EndpointChanges, m.ServicesPending, m.EndpointsPending, m.NoLocalEndpoints,
		m.ConntrackDuration, m.ConntrackDeleted, m.HealthzTotal, m.LivezTotal, m.SyncErrors,
		m.Programmed,
	)
	return m
}

// namespace prefixes every metric name, as kube-proxy's do.
const namespace = "kubeproxy"

func histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

func gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
}

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
}

// networkProgrammingBuckets are kube-proxy's, built with the same component-base calls:
// 0.25 s steps to 0.5 s, then 1 s to a minute, 5 s to two minutes, 30 s to five, and a
// first bucket at 0 that MergeBuckets puts there.
func networkProgrammingBuckets() []float64 {
	return k8smetrics.MergeBuckets(
		k8smetrics.LinearBuckets(0.25, 0.25, 2),
		k8smetrics.LinearBuckets(1, 1, 59),
		k8smetrics.LinearBuckets(60, 5, 12),
		k8smetrics.LinearBuckets(120, 30, 7),
	)
}

// familyLabel is kube-proxy's ip_family label value.
func familyLabel(family int) string { return fmt.Sprintf("IPv%d", family) }

// setProgrammed publishes a family's object counts.
func (m *Metrics) setProgrammed(family int, p Programmed) {
	f := familyLabel(family)
	m.Programmed.WithLabelValues(f, "virtual_servers").Set(float64(p.VirtualServers))
	m.Programmed.WithLabelValues(f, "real_servers").Set(float64(p.RealServers))
	m.Programmed.WithLabelValues(f, "terminating_real_servers").Set(float64(p.Terminating))
	m.Programmed.WithLabelValues(f, "addresses").Set(float64(p.Addresses))
	m.Programmed.WithLabelValues(f, "ipsets").Set(float64(p.IPSets))
	m.Programmed.WithLabelValues(f, "ipset_members").Set(float64(p.IPSetMembers))
}

// setNoLocalEndpoints publishes a family's count of Services whose Local policy found no
// local endpoint, per policy.
func (m *Metrics) setNoLocalEndpoints(family, internal, external int) {
	f := familyLabel(family)
	m.NoLocalEndpoints.WithLabelValues("internal", f).Set(float64(internal))
	m.NoLocalEndpoints.WithLabelValues("external", f).Set(float64(external))
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Gatherer(), promhttp.HandlerOpts{Registry: m.registry})
}

// Gatherer gathers what /metrics serves: the proxier's metrics and component-base's
// legacy registry (process-wide, so every proxier of a process shares that part).
func (m *Metrics) Gatherer() prometheus.Gatherer {
	return prometheus.Gatherers{legacyregistry.DefaultGatherer, m.registry}
}

// MetricsMux serves /metrics and /proxyMode (answering "ipvs", as kube-proxy answers its
// mode) on the metrics address.
func MetricsMux(m *Metrics) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/proxyMode", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fmt.Fprint(w, "ipvs")
	})
	return mux
}
