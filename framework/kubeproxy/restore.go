package kubeproxy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Snapshot is kube-proxy's ConfigMap and DaemonSet as a run found them on a cluster it did
// not create, to put back at the end whatever the run changed (the ConfigMap switch, the
// disruptive specs' edits, a pause left by an interrupted cleanup).
type Snapshot struct {
	configMap *corev1.ConfigMap
	daemonSet *appsv1.DaemonSet
}

// TakeSnapshot reads kube-proxy's ConfigMap and DaemonSet.
func TakeSnapshot(ctx context.Context, c Cluster) (*Snapshot, error) {
	cm, err := c.Client.CoreV1().ConfigMaps(Namespace).Get(ctx, ConfigMapName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("snapshot of ConfigMap %s/%s: %w", Namespace, ConfigMapName, err)
	}
	ds, err := c.Client.AppsV1().DaemonSets(Namespace).Get(ctx, DaemonSetName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("snapshot of DaemonSet %s/%s: %w", Namespace, DaemonSetName, err)
	}
	return &Snapshot{configMap: cm, daemonSet: ds}, nil
}

// Restore puts back what differs from the snapshot: the ConfigMap's data, byte for byte,
// and the DaemonSet's pod template; when anything was put back, it restarts kube-proxy's
// pods and waits for them, so they run the configuration the cluster had. It returns what
// it did, for the run's report.
func (s *Snapshot) Restore(ctx context.Context, c Cluster) (string, error) {
	var done []string
	cm, err := c.Client.CoreV1().ConfigMaps(Namespace).Get(ctx, ConfigMapName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("restore ConfigMap %s/%s: %w", Namespace, ConfigMapName, err)
	}
	if !maps.Equal(cm.Data, s.configMap.Data) || !maps.EqualFunc(cm.BinaryData, s.configMap.BinaryData, slices.Equal[[]byte]) {
		cm.Data, cm.BinaryData = s.configMap.Data, s.configMap.BinaryData
		if _, err := c.Client.CoreV1().ConfigMaps(Namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return "", fmt.Errorf("restore ConfigMap %s/%s: %w", Namespace, ConfigMapName, err)
		}
		done = append(done, fmt.Sprintf("ConfigMap %s/%s restored byte for byte (keys %s)", Namespace, ConfigMapName, strings.Join(slices.Sorted(maps.Keys(s.configMap.Data)), ", ")))
	}
	ds, err := c.Client.AppsV1().DaemonSets(Namespace).Get(ctx, DaemonSetName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("restore DaemonSet %s/%s: %w", Namespace, DaemonSetName, err)
	}
	if !apiequality.Semantic.DeepEqual(ds.Spec.Template, s.daemonSet.Spec.Template) {
		ds.Spec.Template = s.daemonSet.Spec.Template
		if _, err := c.Client.AppsV1().DaemonSets(Namespace).Update(ctx, ds, metav1.UpdateOptions{}); err != nil {
			return "", fmt.Errorf("restore DaemonSet %s/%s: %w", Namespace, DaemonSetName, err)
		}
		done = append(done, fmt.Sprintf("DaemonSet %s/%s pod template restored", Namespace, DaemonSetName))
	}
	if len(done) == 0 {
		return "kube-proxy's ConfigMap and DaemonSet unchanged: nothing to restore", nil
	}
	if _, err := RestartPods(ctx, c); err != nil {
		return strings.Join(done, "; "), fmt.Errorf("restart kube-proxy after the restore: %w", err)
	}
	done = append(done, "kube-proxy's pods restarted and ready")
	return strings.Join(done, "; "), nil
}
