package kubeproxy

import (
	"context"
	"fmt"
	"log/slog"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RollOut changes the kube-proxy DaemonSet and waits until its controller has replaced
// every pod with a Ready one of the new template, as `kubectl apply` then `kubectl rollout
// status` would: change gets the DaemonSet as it is and returns it as it should be (its
// resourceVersion kept, so a concurrent change fails the update instead of being
// overwritten). It returns the new pods; a new pod that cannot start ends the wait with
// its log (WaitForPods).
func RollOut(ctx context.Context, c Cluster, change func(*appsv1.DaemonSet) (*appsv1.DaemonSet, error)) ([]corev1.Pod, error) {
	dss := c.Client.AppsV1().DaemonSets(Namespace)
	ds, err := dss.Get(ctx, DaemonSetName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get DaemonSet %s/%s: %w", Namespace, DaemonSetName, err)
	}
	_, old, err := podsToReplace(ctx, c)
	if err != nil {
		return nil, err
	}
	next, err := change(ds.DeepCopy())
	if err != nil {
		return nil, err
	}
	if _, err := dss.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("update DaemonSet %s/%s: %w", Namespace, DaemonSetName, err)
	}
	slog.Info("kube-proxy DaemonSet updated; waiting for the rollout", "pods", len(old))
	return WaitForPods(ctx, c, old)
}
