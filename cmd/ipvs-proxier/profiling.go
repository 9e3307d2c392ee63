package main

import (
	"net/http"

	"github.com/ipvs-e2e/ipvs-e2e/proxy"
)

// metricsMux is the metrics server's mux, with /debug/pprof/ when profiling is enabled
// (enableProfiling, --profiling; proxy/config resolves the two).
func metricsMux(m *proxy.Metrics, profiling bool) *http.ServeMux {
	mux := proxy.MetricsMux(m)
	if profiling {
		proxy.InstallProfiling(mux)
	}
	return mux
}
