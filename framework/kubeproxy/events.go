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
const deprecationReason = "IPVSDeprecation"

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
	list, err := c.Client.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "reason=" + deprecationReason})
	if err != nil {
		return nil, fmt.Errorf("list %s events: %w", deprecationReason, err)
	}
	latest := map[string]corev1.Event{}
	for _, e := range list.Items {
		// Filter again: not every API (nor the fake clientset) honours the field selector.
		if e.Reason != deprecationReason {
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

// checkDeprecation compares what the cluster shows of the ipvs deprecation with what the
// version should show. kube-proxy 1.35+ both logs the deprecation and records an
// IPVSDeprecation Warning event on its node; logged maps node names to the logged message.
// It returns a note for the report, and an error only when the cluster contradicts the
// version: a 1.35+ ipvs node with neither the log line nor the event, or either on an older
// one. A node that logged the deprecation without an event is a note: kube-proxy v1.37.2
// records the event in createProxier, before Run starts its event broadcaster, which drops
// what it is sent while nobody watches (seen in the lab cluster).
func checkDeprecation(events []Deprecation, logged map[string]string, minor int, ipvsNodes []string) (string, error) {
	if !DeprecationExpected(minor) {
		if err := noDeprecation(events, logged, fmt.Sprintf("Kubernetes 1.%d", minor)); err != nil {
			return "", err
		}
		return fmt.Sprintf("Kubernetes 1.%d: ipvs mode is not deprecated yet; no %s events", minor, deprecationReason), nil
	}
	have := map[string]string{}
	for _, e := range events {
		have[e.Node] = e.Message
	}
	var missing, logOnly []string
	msg := ""
	for _, n := range ipvsNodes {
		switch {
		case have[n] != "":
			msg = have[n]
		case logged[n] != "":
			msg = logged[n]
			logOnly = append(logOnly, n)
		default:
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("Kubernetes 1.%d deprecates ipvs mode, but kube-proxy on nodes %v neither logged it nor recorded a %s event", minor, missing, deprecationReason)
	}
	note := fmt.Sprintf("expected deprecation reported (Kubernetes 1.%d, %d nodes): %q", minor, len(ipvsNodes), msg)
	if len(logOnly) > 0 {
		note += fmt.Sprintf("; logged but no %s event on nodes %v (kube-proxy records the event before its event broadcaster runs, so the API server may never get it)", deprecationReason, logOnly)
	}
	return note, nil
}

// LoggedDeprecations maps each node to the deprecation message its kube-proxy logged.
func LoggedDeprecations(modes []NodeMode) map[string]string {
	out := make(map[string]string, len(modes))
	for _, m := range modes {
		out[m.Node] = m.Log.Deprecation
	}
	return out
}

// CheckReleaseDeprecation is checkDeprecation for the release the kube-proxy DaemonSet
// runs. Another implementation of ipvs mode than upstream kube-proxy (the reference
// proxier) is not deprecated: it must neither log the deprecation nor record the event.
func CheckReleaseDeprecation(r Release, events []Deprecation, logged map[string]string, ipvsNodes []string) (string, error) {
	if r.Upstream() {
		return checkDeprecation(events, logged, r.Minor, ipvsNodes)
	}
	if err := noDeprecation(events, logged, "kube-proxy image "+r.Image+", not an upstream release,"); err != nil {
		return "", err
	}
	return fmt.Sprintf("kube-proxy image %s is not an upstream kube-proxy: its ipvs mode is not deprecated; no deprecation logged and no %s events (%d nodes)", r.Image, deprecationReason, len(ipvsNodes)), nil
}

// noDeprecation fails when any node logged the deprecation or has the event; who names
// what should not have.
func noDeprecation(events []Deprecation, logged map[string]string, who string) error {
	if len(events) > 0 {
		return fmt.Errorf("%s should not emit %s events, found %d (first: %s)", who, deprecationReason, len(events), events[0].Message)
	}
	nodes := make([]string, 0, len(logged))
	for n := range logged {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		if logged[n] != "" {
			return fmt.Errorf("%s should not log the ipvs deprecation, node %s logged %q", who, n, logged[n])
		}
	}
	return nil
}
