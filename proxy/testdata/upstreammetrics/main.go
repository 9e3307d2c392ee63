// Command upstream-metrics prints the metrics kube-proxy registers in IPVS mode (its
// pkg/proxy/metrics.RegisterMetrics(ProxyModeIPVS)) and the client-go metrics it exposes
// through component-base's restclient adapter, one per line: name, type, label names,
// histogram buckets. It is built against k8s.io/kubernetes itself, so the list is the
// release's, not a reading of its source. See ../kube-proxy-v1.37.2-ipvs-metrics.txt.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clientmetrics "k8s.io/client-go/tools/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
	_ "k8s.io/component-base/metrics/prometheus/restclient"
	kubeproxyconfig "k8s.io/kubernetes/pkg/proxy/apis/config"
	proxymetrics "k8s.io/kubernetes/pkg/proxy/metrics"
)

// labelled is what component-base's vectors offer once registered.
type labelled[T any] interface {
	prometheus.Collector
	WithLabelValues(...string) T
	IsCreated() bool
}

var variableLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)

// touch gives a vector one series, so that it is gathered; a vector RegisterMetrics left
// out of IPVS mode is never created and stays out of the registry.
func touch[T any](v labelled[T]) {
	if !v.IsCreated() {
		return
	}
	ch := make(chan *prometheus.Desc, 1)
	go func() { v.Describe(ch); close(ch) }()
	n := 0
	for d := range ch {
		m := variableLabels.FindStringSubmatch(d.String())
		if m == nil {
			panic("no variableLabels in " + d.String())
		}
		n = 0
		if m[1] != "" {
			n = len(strings.Split(m[1], ","))
		}
	}
	v.WithLabelValues(slices.Repeat([]string{"x"}, n)...)
}

func main() {
	proxymetrics.RegisterMetrics(kubeproxyconfig.ProxyModeIPVS)
	touch(proxymetrics.SyncProxyRulesLatency)
	touch(proxymetrics.SyncFullProxyRulesLatency)
	touch(proxymetrics.SyncPartialProxyRulesLatency)
	touch(proxymetrics.SyncProxyRulesLastTimestamp)
	touch(proxymetrics.NetworkProgrammingLatency)
	touch(proxymetrics.IPTablesRestoreFailuresTotal)
	touch(proxymetrics.IPTablesPartialRestoreFailuresTotal)
	touch(proxymetrics.IPTablesRulesTotal)
	touch(proxymetrics.IPTablesRulesLastSync)
	touch(proxymetrics.NFTablesSyncFailuresTotal)
	touch(proxymetrics.NFTablesCleanupFailuresTotal)
	touch(proxymetrics.ProxyHealthzTotal)
	touch(proxymetrics.ProxyLivezTotal)
	touch(proxymetrics.SyncProxyRulesLastQueuedTimestamp)
	touch(proxymetrics.SyncProxyRulesNoLocalEndpointsTotal)
	touch(proxymetrics.WinKernelLBCreateFailure)
	touch(proxymetrics.WinKernelLBUpdateFailure)
	touch(proxymetrics.WinKernelLBDeleteFailure)
	touch(proxymetrics.LocalhostNodePortListeners)
	touch(proxymetrics.LocalhostNodePortListenerCreationFailuresTotal)
	touch(proxymetrics.ReconcileConntrackFlowsLatency)
	touch(proxymetrics.ReconcileConntrackFlowsDeletedEntriesTotal)

	// The restclient adapter registers its metrics at the first use of a hook (as the first
	// rest client does); each hook once gives the vectors a series.
	ctx, u := context.Background(), url.URL{Host: "x"}
	clientmetrics.RequestLatency.Observe(ctx, "x", u, time.Second)
	clientmetrics.ResolverLatency.Observe(ctx, "x", time.Second)
	clientmetrics.RequestSize.Observe(ctx, "x", "x", 1)
	clientmetrics.ResponseSize.Observe(ctx, "x", "x", 1)
	clientmetrics.RateLimiterLatency.Observe(ctx, "x", u, time.Second)
	clientmetrics.RequestResult.Increment(ctx, "x", "x", "x")
	clientmetrics.RequestRetry.IncrementRetry(ctx, "x", "x", "x")
	clientmetrics.ExecPluginCalls.Increment(0, "x")
	clientmetrics.ExecPluginPolicyCalls.Increment("x")
	clientmetrics.TransportCreateCalls.Increment("x")
	clientmetrics.TransportCAReloads.Increment("x", "x")
	clientmetrics.TransportCacheGCCalls.Increment("x")

	mfs, err := legacyregistry.DefaultGatherer.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "kubeproxy_") && !strings.HasPrefix(name, "rest_client_") {
			continue
		}
		m := mf.GetMetric()[0]
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName())
		}
		slices.Sort(labels)
		buckets := "-"
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			var b []string
			for _, bk := range m.GetHistogram().GetBucket() {
				b = append(b, strconv.FormatFloat(bk.GetUpperBound(), 'g', -1, 64))
			}
			buckets = strings.Join(b, ",")
		}
		ls := "-"
		if len(labels) > 0 {
			ls = strings.Join(labels, ",")
		}
		fmt.Fprintf(os.Stdout, "%s %s %s %s\n", name, strings.ToLower(mf.GetType().String()), ls, buckets)
	}
}
