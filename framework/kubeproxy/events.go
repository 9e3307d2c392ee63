package kubeproxy

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeprecationReason is the reason of the Warning event kube-proxy (1.35+) records on its
// Node when it starts in ipvs mode.
const DeprecationReason = "IPVSDeprecation"

// Deprecation is one node's IPVSDeprecation event.
type Deprecation struct {
	Node    string
	Message string
	Count   int32
}

// DeprecationEvents lists the IPVSDeprecation events, one per node (the latest). Events on
// cluster-scoped Nodes land in the default namespace, but the list spans all namespaces
// in case a future version moves them.
func DeprecationEvents(ctx context.Context, c Cluster) ([]Deprecation, error) {
	list, err := c.Client.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + DeprecationReason})
	if err != nil {
		return nil, fmt.Errorf("list %s events: %w", DeprecationReason, err)
	}
	latest := map[string]corev1.Event{}
	for _, e := range list.Items {
		// Filter again: not every API (nor the fake clientset) honours the field selector.
		if e.Reason != DeprecationReason {
			continue
		}
		name := e.InvolvedObject.Name
		if prev, ok := latest[name]; !ok || e.LastTimestamp.After(prev.LastTimestamp.Time) {
			latest[name] = e
		}
	}
	out := make([]Deprecation, 0, len(latest))
	for name, e := range latest {
		count := e.Count
		if count == 0 {
			count = 1
		}
		out = append(out, Deprecation{Node: name, Message: e.Message, Count: count})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}

// DeprecationExpected tells whether a Kubernetes minor version emits the IPVSDeprecation
// event in ipvs mode (1.35 and later). The event is reported, never a failure: ipvs mode
// is deprecated, not broken.
func DeprecationExpected(minor int) bool { return minor >= 35 }

// CheckDeprecation compares the events with what the version should emit: it returns a
// note for the report, and an error only when the events contradict the version (a 1.35+
// cluster with ipvs nodes and no event, or events on an older one).
func CheckDeprecation(events []Deprecation, minor int, ipvsNodes []string) (string, error) {
	if !DeprecationExpected(minor) {
		if len(events) > 0 {
			return "", fmt.Errorf("Kubernetes 1.%d should not emit %s events, found %d (first: %s)", minor, DeprecationReason, len(events), events[0].Message)
		}
		return fmt.Sprintf("Kubernetes 1.%d: ipvs mode is not deprecated yet; no %s events", minor, DeprecationReason), nil
	}
	have := map[string]bool{}
	for _, e := range events {
		have[e.Node] = true
	}
	var missing []string
	for _, n := range ipvsNodes {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("Kubernetes 1.%d emits a %s Warning event per kube-proxy in ipvs mode; none for nodes %v", minor, DeprecationReason, missing)
	}
	msg := ""
	if len(events) > 0 {
		msg = events[0].Message
	}
	return fmt.Sprintf("expected deprecation reported (Kubernetes 1.%d, %d nodes): %s %q", minor, len(events), DeprecationReason, msg), nil
}
