package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
)

func TestProfilingEnabled(t *testing.T) {
	tests := []struct {
		name    string
		config  string // "" means no --config
		args    []string
		want    bool
		wantErr bool
	}{
		{name: "nothing set", want: false},
		{name: "flag", args: []string{"--profiling"}, want: true},
		{name: "config on", config: "mode: ipvs\nenableProfiling: true\n", want: true},
		{name: "config off", config: "mode: ipvs\nenableProfiling: false\n", want: false},
		{name: "config silent", config: "mode: ipvs\n", want: false},
		{name: "explicit flag beats config", config: "mode: ipvs\nenableProfiling: true\n", args: []string{"--profiling=false"}, want: false},
		{name: "explicit flag on, config off", config: "mode: ipvs\nenableProfiling: false\n", args: []string{"--profiling"}, want: true},
		{name: "config with an unknown field", config: "mode: ipvs\nenableProfilng: true\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var flags config.Flags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			flags.AddFlags(fs)
			args := append([]string{"--proxy-mode=ipvs"}, tt.args...)
			if tt.config != "" {
				args = append(args, "--config="+writeConfig(t, tt.config))
			}
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			cfg, err := flags.Resolve(slog.New(slog.DiscardHandler))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Resolve: error %v, want error %v", err, tt.wantErr)
			}
			if cfg.EnableProfiling != tt.want {
				t.Errorf("EnableProfiling = %v, want %v", cfg.EnableProfiling, tt.want)
			}
		})
	}
}

func TestMetricsMuxProfiling(t *testing.T) {
	for _, on := range []bool{false, true} {
		srv := httptest.NewServer(metricsMux(proxy.NewMetrics(), on))
		resp, err := http.Get(srv.URL + "/debug/pprof/")
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("profiling %v: GET /debug/pprof/ = %d, want %d", on, resp.StatusCode, want)
		}
	}
}
