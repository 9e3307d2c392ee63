package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
)

// profilingFlag is kube-proxy's flag for KubeProxyConfiguration.enableProfiling.
const profilingFlag = "profiling"

// profilingEnabled resolves enableProfiling the way this proxier resolves every field:
// --profiling when given explicitly, else the --config file's enableProfiling, else off.
// (kube-proxy ignores --profiling once --config is given; see proxy/README.md on flags.)
// proxy/config does not carry the field because only the metrics server needs it.
func profilingEnabled(fs *pflag.FlagSet, flag bool, configFile string) (bool, error) {
	if fs.Changed(profilingFlag) || configFile == "" {
		return flag, nil
	}
	data, err := os.ReadFile(configFile)
	if err != nil {
		return false, fmt.Errorf("reading --config: %w", err)
	}
	obj, err := config.Decode(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", configFile, err)
	}
	return obj.EnableProfiling, nil
}

// metricsMux is the metrics server's mux, with /debug/pprof/ when profiling is enabled.
func metricsMux(m *proxy.Metrics, profiling bool) *http.ServeMux {
	mux := proxy.MetricsMux(m)
	if profiling {
		proxy.InstallProfiling(mux)
	}
	return mux
}
