package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestInstallProfiling(t *testing.T) {
	tests := []struct {
		name       string
		profiling  bool
		path       string
		wantStatus int
		wantBody   string
	}{
		{"index", true, "/debug/pprof/", http.StatusOK, "goroutine"},
		{"named profile", true, "/debug/pprof/heap?debug=1", http.StatusOK, "heap profile"},
		{"cmdline", true, "/debug/pprof/cmdline", http.StatusOK, ""},
		{"cpu profile", true, "/debug/pprof/profile?seconds=1", http.StatusOK, ""},
		{"metrics still served", true, "/metrics", http.StatusOK, "kubeproxy_sync_proxy_rules_duration_seconds"},
		{"off: no index", false, "/debug/pprof/", http.StatusNotFound, ""},
		{"off: no cpu profile", false, "/debug/pprof/profile?seconds=1", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics()
			m.SyncDuration.WithLabelValues("IPv4").Observe(0.1)
			mux := MetricsMux(m)
			if tt.profiling {
				InstallProfiling(mux)
			}
			srv := httptest.NewServer(mux)
			defer srv.Close()
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s: status %d, want %d (body %.200q)", tt.path, resp.StatusCode, tt.wantStatus, body)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("GET %s: body does not contain %q: %.300q", tt.path, tt.wantBody, body)
			}
			if tt.path == "/debug/pprof/profile?seconds=1" && tt.profiling && len(body) == 0 {
				t.Errorf("GET %s: empty CPU profile", tt.path)
			}
		})
	}
}
