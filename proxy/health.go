package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// toBeDeletedTaint marks a node the cluster autoscaler is about to remove; kube-proxy's
// /healthz then fails so that load balancers drain the node.
const toBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"

// DefaultFailureThreshold is how many syncs in a row may fail before health turns bad.
const DefaultFailureThreshold = 3

// Health tracks whether the proxier keeps the dataplane programmed. It is healthy while the
// last successful sync is recent (within the timeout; kube-proxy uses twice syncPeriod),
// no queued change has waited longer than the timeout, and fewer than the threshold of
// syncs in a row have failed. It is safe for concurrent use.
type Health struct {
	mu        sync.Mutex
	now       func() time.Time
	timeout   time.Duration
	threshold int

	lastUpdated  time.Time
	oldestQueued time.Time
	failures     int
	lastError    string
	node         *corev1.Node
	nodeKnown    bool
}

// NewHealth returns a tracker that counts as freshly updated now. now nil means time.Now;
// threshold 0 means DefaultFailureThreshold.
func NewHealth(timeout time.Duration, threshold int, now func() time.Time) *Health {
	if now == nil {
		now = time.Now
	}
	if threshold <= 0 {
		threshold = DefaultFailureThreshold
	}
	return &Health{now: now, timeout: timeout, threshold: threshold, lastUpdated: now()}
}

// Queued records that a change waits for a sync.
func (h *Health) Queued() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.oldestQueued.IsZero() {
		h.oldestQueued = h.now()
	}
}

// Synced records a successful sync.
func (h *Health) Synced() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastUpdated, h.oldestQueued, h.failures, h.lastError = h.now(), time.Time{}, 0, ""
}

// Failed records a failed sync.
func (h *Health) Failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	if err != nil {
		h.lastError = err.Error()
	}
}

// SetNode records the proxier's Node (nil: not found or deleted) for /healthz.
func (h *Health) SetNode(n *corev1.Node) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.node, h.nodeKnown = n, true
}

// HealthStatus is the JSON body of /healthz and /livez: kube-proxy's fields (lastUpdated,
// currentTime, nodeEligible, healthy) and, beyond them, why it is unhealthy.
type HealthStatus struct {
	LastUpdated  time.Time `json:"lastUpdated"`
	CurrentTime  time.Time `json:"currentTime"`
	NodeEligible *bool     `json:"nodeEligible,omitempty"`
	Healthy      bool      `json:"healthy"`
	// ConsecutiveFailures and LastError are not in kube-proxy's body.
	ConsecutiveFailures int    `json:"consecutiveFailures,omitempty"`
	LastError           string `json:"lastError,omitempty"`
	Reason              string `json:"reason,omitempty"`
}

// Status evaluates health now.
func (h *Health) Status() HealthStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	s := HealthStatus{LastUpdated: h.lastUpdated, CurrentTime: now, Healthy: true, ConsecutiveFailures: h.failures, LastError: h.lastError}
	switch {
	case h.failures >= h.threshold:
		s.Healthy, s.Reason = false, strconv.Itoa(h.failures)+" syncs in a row failed"
	case !h.oldestQueued.IsZero() && now.Sub(h.oldestQueued) >= h.timeout:
		s.Healthy, s.Reason = false, "a queued change has waited "+now.Sub(h.oldestQueued).Round(time.Second).String()+" for a sync"
	case now.Sub(h.lastUpdated) >= h.timeout:
		s.Healthy, s.Reason = false, "no successful sync for "+now.Sub(h.lastUpdated).Round(time.Second).String()
	}
	return s
}

// nodeEligible is false for a node that is gone, being deleted or about to be removed by
// the cluster autoscaler; a node not yet looked up counts as eligible.
func (h *Health) nodeEligible() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.nodeKnown {
		return true
	}
	if h.node == nil || h.node.DeletionTimestamp != nil {
		return false
	}
	for _, t := range h.node.Spec.Taints {
		if t.Key == toBeDeletedTaint {
			return false
		}
	}
	return true
}

// HealthMux serves /healthz (health and node eligibility) and /livez (health only) as
// kube-proxy does on its healthz address: 200 or 503 with a JSON body whose lastUpdated is
// the current time while healthy.
func HealthMux(h *Health, m *Metrics) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		s := h.Status()
		eligible := h.nodeEligible()
		s.NodeEligible = &eligible
		if !eligible && s.Healthy {
			s.Healthy, s.Reason = false, "node is being deleted"
		}
		writeHealth(w, s, m, true)
	})
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		writeHealth(w, h.Status(), m, false)
	})
	return mux
}

func writeHealth(w http.ResponseWriter, s HealthStatus, m *Metrics, healthz bool) {
	code := http.StatusOK
	if s.Healthy {
		s.LastUpdated = s.CurrentTime
	} else {
		code = http.StatusServiceUnavailable
	}
	if m != nil {
		counter := m.LivezTotal
		if healthz {
			counter = m.HealthzTotal
		}
		counter.WithLabelValues(strconv.Itoa(code)).Inc()
	}
	body, _ := json.Marshal(s)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
