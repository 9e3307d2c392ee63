package proxy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeClock is a settable clock for health and reconciler tests.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock            { return &fakeClock{t: time.Date(2026, 3, 23, 3, 24, 40, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time       { return c.t }
func (c *fakeClock) Step(d time.Duration) { c.t = c.t.Add(d) }

func TestHealthStatus(t *testing.T) {
	const timeout = time.Minute
	tests := []struct {
		name    string
		steps   func(h *Health, c *fakeClock)
		healthy bool
		reason  string
	}{
		{"healthy while starting", func(h *Health, c *fakeClock) {}, true, ""},
		{"healthy after a sync", func(h *Health, c *fakeClock) { c.Step(50 * time.Second); h.Synced() }, true, ""},
		{"queued change not late yet", func(h *Health, c *fakeClock) { h.Queued(); c.Step(59 * time.Second) }, true, ""},
		{"queued change waited too long", func(h *Health, c *fakeClock) {
			h.Synced()
			h.Queued()
			c.Step(30 * time.Second)
			h.Queued()
			c.Step(30 * time.Second)
		}, false, "a queued change has waited 1m0s for a sync"},
		{"no sync for too long", func(h *Health, c *fakeClock) { c.Step(61 * time.Second) }, false, "no successful sync for 1m1s"},
		{"two failures are tolerated", func(h *Health, c *fakeClock) { h.Failed(errors.New("x")); h.Failed(errors.New("x")) }, true, ""},
		{"three failures in a row are not", func(h *Health, c *fakeClock) {
			h.Failed(errors.New("x"))
			h.Failed(errors.New("x"))
			h.Failed(errors.New("add to ip set KUBE-CLUSTER-IP 10.96.0.1,tcp:443: boom"))
		}, false, "3 syncs in a row failed"},
		{"a success resets the count", func(h *Health, c *fakeClock) {
			h.Failed(nil)
			h.Failed(nil)
			h.Synced()
			h.Failed(nil)
		}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeClock()
			h := NewHealth(timeout, 3, c.Now)
			tt.steps(h, c)
			s := h.Status()
			if s.Healthy != tt.healthy || s.Reason != tt.reason {
				t.Errorf("Status() healthy=%t reason=%q, want healthy=%t reason=%q", s.Healthy, s.Reason, tt.healthy, tt.reason)
			}
		})
	}
}

func TestHealthHandlers(t *testing.T) {
	c := newFakeClock()
	h := NewHealth(time.Minute, 2, c.Now)
	m := NewMetrics()
	srv := httptest.NewServer(HealthMux(h, m))
	defer srv.Close()

	get := func(path string) (int, HealthStatus) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s Content-Type = %q, want application/json", path, ct)
		}
		var s HealthStatus
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("%s body %q: %v", path, body, err)
		}
		return resp.StatusCode, s
	}

	h.Synced()
	c.Step(10 * time.Second)
	code, s := get("/healthz")
	if code != http.StatusOK || !s.Healthy || s.NodeEligible == nil || !*s.NodeEligible {
		t.Errorf("/healthz = %d %+v, want 200 healthy and node eligible", code, s)
	}
	if !s.LastUpdated.Equal(c.Now()) || !s.CurrentTime.Equal(c.Now()) {
		t.Errorf("/healthz lastUpdated=%s currentTime=%s, want both now (%s) while healthy, as kube-proxy", s.LastUpdated, s.CurrentTime, c.Now())
	}

	// A node the autoscaler is about to remove fails /healthz but not /livez.
	h.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: toBeDeletedTaint}}}})
	if code, s := get("/healthz"); code != http.StatusServiceUnavailable || *s.NodeEligible {
		t.Errorf("/healthz with ToBeDeleted taint = %d %+v, want 503 not eligible", code, s)
	}
	if code, _ := get("/livez"); code != http.StatusOK {
		t.Errorf("/livez with ToBeDeleted taint = %d, want 200", code)
	}
	h.SetNode(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}})

	h.Failed(errors.New("first"))
	h.Failed(errors.New("add to ip set KUBE-CLUSTER-IP 10.96.0.1,tcp:443: injected"))
	for _, path := range []string{"/healthz", "/livez"} {
		code, s := get(path)
		if code != http.StatusServiceUnavailable || s.Healthy || !strings.Contains(s.LastError, "KUBE-CLUSTER-IP 10.96.0.1,tcp:443") {
			t.Errorf("%s after 2 failures = %d %+v, want 503 naming the failed object", path, code, s)
		}
	}

	// The handlers count their answers in kube-proxy's metrics.
	mfs, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "kubeproxy_proxy_healthz_total" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			counts[mm.GetLabel()[0].GetValue()] = mm.GetCounter().GetValue()
		}
	}
	if counts["200"] != 1 || counts["503"] != 2 {
		t.Errorf("kubeproxy_proxy_healthz_total = %v, want 200:1 503:2", counts)
	}
}
