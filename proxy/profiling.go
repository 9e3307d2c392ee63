package proxy

import (
	"net/http"
	"net/http/pprof"
)

// InstallProfiling serves the Go runtime's profiles under /debug/pprof/ on mux, as
// kube-proxy does on its metrics server when KubeProxyConfiguration.enableProfiling (or
// --profiling) is set: `go tool pprof http://127.0.0.1:10249/debug/pprof/profile?seconds=30`
// then records the proxier's CPU time while it syncs.
func InstallProfiling(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
