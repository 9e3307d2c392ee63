package kubeproxy

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy/internal/configtext"
)

// DefaultScheduler is the IPVS scheduler kube-proxy uses when config.conf leaves
// ipvs.scheduler empty, as it logs (MsgSchedulerDefaulted).
const DefaultScheduler = "rr"

// Scheduler is the IPVS scheduler of kube-proxy configured with ipvs.scheduler s.
func Scheduler(s string) string { return cmp.Or(s, DefaultScheduler) }

// Config is config.conf of the kube-proxy ConfigMap, byte for byte: a file people edit by
// hand, with their comments, key order and quoting, which Set keeps.
type Config string

// Get reads a scalar by its path: a top-level key ("mode") or a key of a top-level block
// ("ipvs.scheduler", "featureGates.KubeProxyIPVS"); found is false when it is absent.
func (c Config) Get(path string) (value string, found bool) { return configtext.Get(string(c), path) }

// Set sets the scalar at path, changing that one line the way `kubectl edit` would. A
// top-level key the text lacks is appended; a key of a block must be there already.
func (c Config) Set(path, value string) (Config, error) {
	s, err := configtext.Set(string(c), path, value)
	return Config(s), err
}

// ReadConfig returns config.conf from the kube-proxy ConfigMap.
func ReadConfig(ctx context.Context, c Cluster) (Config, error) {
	cm, err := c.Client.CoreV1().ConfigMaps(Namespace).Get(ctx, ConfigMapName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get ConfigMap %s/%s: %w", Namespace, ConfigMapName, err)
	}
	conf, ok := cm.Data[ConfigKey]
	if !ok {
		return "", fmt.Errorf("ConfigMap %s/%s has no %q key (keys: %v): is this a kubeadm cluster?", Namespace, ConfigMapName, ConfigKey, slices.Sorted(maps.Keys(cm.Data)))
	}
	return Config(conf), nil
}

// EditConfig applies an edit to config.conf in the kube-proxy ConfigMap, the way the seed's
// `kubectl -n kube-system edit configmap kube-proxy` does, and tells whether the text
// changed. Conflicting writers are retried. kube-proxy reads its config only at start:
// RestartPods (or Reconfigure, which does both) makes the edit take effect.
func EditConfig(ctx context.Context, c Cluster, edit func(Config) (Config, error)) (changed bool, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := c.Client.CoreV1().ConfigMaps(Namespace).Get(ctx, ConfigMapName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get ConfigMap %s/%s: %w", Namespace, ConfigMapName, err)
		}
		conf, ok := cm.Data[ConfigKey]
		if !ok {
			return fmt.Errorf("ConfigMap %s/%s has no %q key (keys: %v): is this a kubeadm cluster?", Namespace, ConfigMapName, ConfigKey, slices.Sorted(maps.Keys(cm.Data)))
		}
		edited, err := edit(Config(conf))
		if err != nil {
			return err
		}
		changed = string(edited) != conf
		if !changed {
			return nil
		}
		cm.Data[ConfigKey] = string(edited)
		_, err = c.Client.CoreV1().ConfigMaps(Namespace).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("edit %s in ConfigMap %s/%s: %w", ConfigKey, Namespace, ConfigMapName, err)
	}
	return changed, nil
}

// setConfig sets one path in the ConfigMap and returns the value it had.
func setConfig(ctx context.Context, c Cluster, path, value string) (previous string, changed bool, err error) {
	changed, err = EditConfig(ctx, c, func(conf Config) (Config, error) {
		previous, _ = conf.Get(path)
		return conf.Set(path, value)
	})
	if err == nil {
		slog.Info("kube-proxy ConfigMap "+path, "was", quoteEmpty(previous), "now", value, "changed", changed)
	}
	return previous, changed, err
}

// Reconfigure sets scalars of config.conf by path ("ipvs.scheduler": "wrr",
// "featureGates.KubeProxyIPVS": "false") and restarts kube-proxy when any changed, as a
// person would after `kubectl edit`: kube-proxy reads its config only at start. The error
// of a restart whose pods crash says why (see WaitForPods).
func Reconfigure(ctx context.Context, c Cluster, fields map[string]string) error {
	changedAny := false
	for _, path := range slices.Sorted(maps.Keys(fields)) {
		_, changed, err := setConfig(ctx, c, path, fields[path])
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
