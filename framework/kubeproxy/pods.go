package kubeproxy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/preflight"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
)

// Pods lists the kube-proxy pods, sorted by node.
func Pods(ctx context.Context, c Cluster) ([]corev1.Pod, error) {
	list, err := c.Client.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: PodSelector})
	if err != nil {
		return nil, fmt.Errorf("list kube-proxy pods (%s in %s): %w", PodSelector, Namespace, err)
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool { return pods[i].Spec.NodeName < pods[j].Spec.NodeName })
	return pods, nil
}

// PodOnNode returns the kube-proxy pod scheduled on a node.
func PodOnNode(ctx context.Context, c Cluster, nodeName string) (corev1.Pod, error) {
	pods, err := Pods(ctx, c)
	if err != nil {
		return corev1.Pod{}, err
	}
	for _, p := range pods {
		if p.Spec.NodeName == nodeName && p.DeletionTimestamp == nil {
			return p, nil
		}
	}
	return corev1.Pod{}, fmt.Errorf("no kube-proxy pod on node %s (is the DaemonSet %s/%s running there?)", nodeName, Namespace, DaemonSetName)
}

// RestartPods is the seed's `kubectl -n kube-system delete pod -l k8s-app=kube-proxy`
// followed by waiting until the DaemonSet has replaced every pod with a Ready one. It
// returns the new pods.
func RestartPods(ctx context.Context, c Cluster) ([]corev1.Pod, error) {
	old, gone, err := podsToReplace(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, p := range old {
		err := c.Client.CoreV1().Pods(Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("delete kube-proxy pod %s: %w", p.Name, err)
		}
	}
	slog.Info("deleted kube-proxy pods; waiting for the DaemonSet to replace them", "pods", len(old))
	return WaitForPods(ctx, c, gone)
}

// podsToReplace lists the kube-proxy pods and their UIDs, which WaitForPods is then to see
// replaced.
func podsToReplace(ctx context.Context, c Cluster) ([]corev1.Pod, map[types.UID]bool, error) {
	pods, err := Pods(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	uids := map[types.UID]bool{}
	for _, p := range pods {
		uids[p.UID] = true
	}
	return pods, uids, nil
}

// WaitForPods waits until the kube-proxy DaemonSet runs one Ready pod per scheduled node,
// none of them among replaced. A pod that crashes stops the wait at once with what its log
// says: the 1.37 validation failure (KubeProxyIPVS gate off) or a kernel without IPVS.
func WaitForPods(ctx context.Context, c Cluster, replaced map[types.UID]bool) ([]corev1.Pod, error) {
	start := time.Now()
	var ready []corev1.Pod
	var status string
	var crashed error
	err := wait.PollUntilContextTimeout(ctx, c.poll(), c.timeout(), true, func(ctx context.Context) (bool, error) {
		ds, err := c.Client.AppsV1().DaemonSets(Namespace).Get(ctx, DaemonSetName, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("get DaemonSet %s/%s: %w", Namespace, DaemonSetName, err)
		}
		want := int(ds.Status.DesiredNumberScheduled)
		if want == 0 {
			want = len(c.Nodes)
		}
		pods, err := Pods(ctx, c)
		if err != nil {
			return false, err
		}
		ready = ready[:0]
		var waiting []string
		fresh := 0
		for _, p := range pods {
			if replaced[p.UID] || p.DeletionTimestamp != nil {
				continue
			}
			fresh++
			if why := fixtures.PodFailing(p); why != "" {
				crashed = diagnose(ctx, c, p, why)
				return false, crashed
			}
			if podReady(p) {
				ready = append(ready, p)
			} else {
				waiting = append(waiting, fmt.Sprintf("%s on %s: %s", p.Name, p.Spec.NodeName, p.Status.Phase))
			}
		}
		status = fmt.Sprintf("%d of %d new kube-proxy pods ready (%d new in all); waiting for %s", len(ready), want, fresh, strings.Join(waiting, ", "))
		return len(ready) == want && fresh == want, nil
	})
	if crashed != nil {
		return nil, crashed
	}
	if err != nil {
		return nil, fmt.Errorf("kube-proxy pods not ready after %s: %s: %w", time.Since(start).Round(time.Second), status, err)
	}
	slog.Info("kube-proxy pods ready", "pods", len(ready), "took", time.Since(start).Round(time.Second))
	return slices.Clone(ready), nil
}

func podReady(p corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && fixtures.PodReady(p)
}

// Failing tells whether the kube-proxy pod on a node cannot start: its container crash-loops,
// exited with an error, or restarted after logging a fatal line. The error quotes the
// pod, its restarts and its log's last fatal (or error) line; nil means it runs, has not
// started yet, or is not scheduled yet. Waits on kube-proxy call it on every poll, so a
// proxy that cannot start fails them at once instead of at their timeout.
func Failing(ctx context.Context, c Cluster, nodeName string) error {
	pods, err := Pods(ctx, c)
	if err != nil {
		return nil // the API server is the caller's to watch; this looks at the pod only
	}
	for _, p := range pods {
		if p.Spec.NodeName != nodeName || p.DeletionTimestamp != nil {
			continue
		}
		if why := fixtures.PodFailing(p); why != "" {
			return diagnose(ctx, c, p, why)
		}
		// One restart with a fatal line in the log before it is no hiccup either.
		if restarts(p) > 0 {
			if log, err := c.logs().PodLogs(ctx, Namespace, p.Name, ContainerName, true); err == nil {
				if ScanLogs(log).Fatal != "" {
					return diagnose(ctx, c, p, "exited on a fatal error")
				}
			}
		}
	}
	return nil
}

// restarts is the kube-proxy container's restart count.
func restarts(p corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n = max(n, cs.RestartCount)
	}
	return n
}

func restarted(n int32) string {
	switch n {
	case 0:
		return "not restarted"
	case 1:
		return "restarted once"
	}
	return fmt.Sprintf("restarted %d times", n)
}

// diagnose turns a crashing pod's log into an error that says what to do.
func diagnose(ctx context.Context, c Cluster, p corev1.Pod, why string) error {
	log, err := c.logs().PodLogs(ctx, Namespace, p.Name, ContainerName, true)
	if err != nil || strings.TrimSpace(log) == "" {
		log, _ = c.logs().PodLogs(ctx, Namespace, p.Name, ContainerName, false)
	}
	f := ScanLogs(log)
	head := fmt.Sprintf("kube-proxy pod %s on node %s is failing (%s, %s)", p.Name, p.Spec.NodeName, why, restarted(restarts(p)))
	switch {
	case f.ValidationFailure != "":
		return fmt.Errorf("%s: it refuses mode ipvs: %s\n"+
			"From Kubernetes 1.37 ipvs mode sits behind the KubeProxyIPVS feature gate (deprecated; on by default until 1.40, "+
			"removed in 1.43) and the gate is off on this cluster. Enable it in config.conf (featureGates: {KubeProxyIPVS: true}) "+
			"or move to mode nftables", head, f.ValidationFailure)
	case f.CannotUseIPVS != "":
		return fmt.Errorf("%s: the node's kernel cannot do IPVS: %s\n%s", head, f.CannotUseIPVS, preflight.Remediation())
	case f.Fatal != "":
		return fmt.Errorf("%s: its last fatal line: %s", head, f.Fatal)
	case len(f.Errors) > 0:
		return fmt.Errorf("%s: its last error: %s", head, f.Errors[len(f.Errors)-1])
	}
	if err != nil {
		return fmt.Errorf("%s; its log could not be read: %w", head, err)
	}
	return fmt.Errorf("%s; its log ends:\n%s", head, tail(log, 10))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
