package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// emptyAPIServer answers the proxier's lists with no objects, holds its watches until the
// test ends and answers /readyz.
func emptyAPIServer(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	lists := map[string]string{
		"/api/v1/services":                         `{"kind":"ServiceList","apiVersion":"v1"`,
		"/apis/discovery.k8s.io/v1/endpointslices": `{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1"`,
		"/api/v1/nodes":                            `{"kind":"NodeList","apiVersion":"v1"`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			io.WriteString(w, "ok")
			return
		}
		list, ok := lists[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("watch") == "true" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, list+`,"metadata":{"resourceVersion":"1"},"items":[]}`)
	}))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return srv
}

// client-go's rest_client_* metrics, as kube-proxy serves them: the program's own API
// client (newClient, from --kubeconfig) records its requests, and /metrics serves them.
func TestAPIClientRequestsAreServedOnMetrics(t *testing.T) {
	api := emptyAPIServer(t)
	host := strings.TrimPrefix(api.URL, "http://")
	e := testEnv(fakeKernel(), nil)
	e.newClient = newClient
	metrics := freeAddr(t)
	args := []string{"--config", writeConfig(t, "mode: ipvs\n"), "--kubeconfig", writeKubeconfig(t, api.URL),
		"--healthz-bind-address", freeAddr(t), "--metrics-bind-address", metrics}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stderr, e) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("run did not return after its context ended")
		}
	}()

	// The informers' three watch-lists (Services, EndpointSlices, the Node), answered 200.
	// Client-go times requests it reads whole, not watches: kube-proxy's scrape shows no
	// GET in rest_client_request_duration_seconds either.
	var got map[string]float64
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err = restClientSeries("http://"+metrics+"/metrics", host)
		if got[`rest_client_requests_total{code="200",method="GET"}`] >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rest_client_requests_total for %s did not reach the 3 lists: %v (scrape error: %v)\nstderr:\n%s", host, got, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restClientSeries scrapes url and returns, for the rest_client_* series of host, counter
// values and histogram sample counts, keyed by name and the other labels.
func restClientSeries(url, host string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "rest_client_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var others []string // the text format's label order is sorted already
			ours := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "host" {
					ours = l.GetValue() == host
					continue
				}
				others = append(others, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			if !ours {
				continue
			}
			k := name + "{" + strings.Join(others, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[k] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[k] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out, nil
}
