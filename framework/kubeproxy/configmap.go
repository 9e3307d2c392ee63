package kubeproxy

import (
	"context"
	"fmt"
	"log/slog"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// ConfigText returns config.conf from the kube-proxy ConfigMap.
func ConfigText(ctx context.Context, c Cluster) (string, error) {
	cm, err := c.Client.CoreV1().ConfigMaps(Namespace).Get(ctx, ConfigMapName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get ConfigMap %s/%s: %w", Namespace, ConfigMapName, err)
	}
	conf, ok := cm.Data[ConfigKey]
	if !ok {
		return "", fmt.Errorf("ConfigMap %s/%s has no %q key (keys: %v): is this a kubeadm cluster?", Namespace, ConfigMapName, ConfigKey, keys(cm.Data))
	}
	return conf, nil
}

// EditConfig applies a text edit to config.conf in the kube-proxy ConfigMap, the way the
// seed's `kubectl -n kube-system edit configmap kube-proxy` does, and tells whether the text
// changed. Conflicting writers are retried.
func EditConfig(ctx context.Context, c Cluster, edit func(conf string) (string, error)) (changed bool, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := c.Client.CoreV1().ConfigMaps(Namespace).Get(ctx, ConfigMapName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get ConfigMap %s/%s: %w", Namespace, ConfigMapName, err)
		}
		conf, ok := cm.Data[ConfigKey]
		if !ok {
			return fmt.Errorf("ConfigMap %s/%s has no %q key (keys: %v): is this a kubeadm cluster?", Namespace, ConfigMapName, ConfigKey, keys(cm.Data))
		}
		edited, err := edit(conf)
		if err != nil {
			return err
		}
		changed = edited != conf
		if !changed {
			return nil
		}
		cm.Data[ConfigKey] = edited
		_, err = c.Client.CoreV1().ConfigMaps(Namespace).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("edit %s in ConfigMap %s/%s: %w", ConfigKey, Namespace, ConfigMapName, err)
	}
	return changed, nil
}

// SetConfigMode sets `mode:` in the ConfigMap and returns the mode it had.
func SetConfigMode(ctx context.Context, c Cluster, mode string) (previous string, changed bool, err error) {
	changed, err = EditConfig(ctx, c, func(conf string) (string, error) {
		previous, _ = Mode(conf)
		return SetMode(conf, mode)
	})
	if err == nil {
		slog.Info("kube-proxy ConfigMap mode", "was", quoteEmpty(previous), "now", mode, "changed", changed)
	}
	return previous, changed, err
}

// SetConfigIPVSField sets a field of the `ipvs:` block in the ConfigMap (scheduler,
// strictARP, timeouts) and returns its previous value.
func SetConfigIPVSField(ctx context.Context, c Cluster, field, value string) (previous string, changed bool, err error) {
	changed, err = EditConfig(ctx, c, func(conf string) (string, error) {
		previous, _ = IPVSField(conf, field)
		return SetIPVSField(conf, field, value)
	})
	if err == nil {
		slog.Info("kube-proxy ConfigMap ipvs."+field, "was", quoteEmpty(previous), "now", value, "changed", changed)
	}
	return previous, changed, err
}

// Reconfigure sets ipvs fields in the ConfigMap and restarts kube-proxy when any changed,
// as a person would after `kubectl edit`: kube-proxy reads its config only at start.
func Reconfigure(ctx context.Context, c Cluster, fields map[string]string) error {
	changedAny := false
	for _, f := range sortedKeys(fields) {
		_, changed, err := SetConfigIPVSField(ctx, c, f, fields[f])
		if err != nil {
			return err
		}
		changedAny = changedAny || changed
	}
	if !changedAny {
		return nil
	}
	_, err := RestartPods(ctx, c)
	return err
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func keys(m map[string]string) []string { return sortedKeys(m) }
