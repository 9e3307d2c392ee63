// Package kubeproxy drives and checks kube-proxy on a cluster the way the seed does by hand:
// it switches the mode by editing the kube-proxy ConfigMap and deleting the kube-proxy pods
// (method 2), waits for the DaemonSet's new pods, confirms the mode from their logs and from
// /proxyMode on every node, finds the chains an iptables-to-ipvs switch leaves behind and
// cleans them with `kube-proxy --cleanup`, and reports the ipvs deprecation (1.35+) and the
// 1.37 KubeProxyIPVS gate. The text it reads and edits (klog lines, /metrics, config.conf)
// is handled by pure, fuzzed packages under internal/.
package kubeproxy

import (
	"bytes"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Where kubeadm (and so kind) installs kube-proxy.
const (
	Namespace     = "kube-system"
	ConfigMapName = "kube-proxy"
	ConfigKey     = "config.conf"
	DaemonSetName = "kube-proxy"
	ContainerName = "kube-proxy"
	// PodSelector is the seed's `kubectl -n kube-system delete pod -l k8s-app=kube-proxy`.
	PodSelector = "k8s-app=kube-proxy"
)

// Cluster is what this package acts on.
type Cluster struct {
	Client kubernetes.Interface
	// Nodes are the cluster's nodes, named as Kubernetes names them.
	Nodes []node.Node
	// Logs reads container logs; nil reads them through Client.
	Logs LogReader
	// Exec runs commands in pods; needed by PodIPSet only.
	Exec PodExecer
	// Read is how node.ReadState reads the nodes' dataplane (the leftovers of a switch).
	Read node.ReadOptions
	// Timeout bounds each wait (pods ready, cleanup done); 0 means 3 minutes.
	Timeout time.Duration
	// Poll is the interval of those waits; 0 means 2 seconds.
	Poll time.Duration
}

func (c Cluster) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 3 * time.Minute
}

func (c Cluster) poll() time.Duration {
	if c.Poll > 0 {
		return c.Poll
	}
	return 2 * time.Second
}

func (c Cluster) logs() LogReader {
	if c.Logs != nil {
		return c.Logs
	}
	return ClientLogs{Client: c.Client}
}

// LogReader reads a container's log.
type LogReader interface {
	PodLogs(ctx context.Context, namespace, pod, container string, previous bool) (string, error)
}

// ClientLogs reads logs through the API server.
type ClientLogs struct{ Client kubernetes.Interface }

// PodLogs implements LogReader.
func (l ClientLogs) PodLogs(ctx context.Context, namespace, pod, container string, previous bool) (string, error) {
	b, err := l.Client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: previous}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("logs of %s/%s (previous=%v): %w", namespace, pod, previous, err)
	}
	return string(b), nil
}

// PodExecer runs a command in a pod's container.
type PodExecer interface {
	Exec(ctx context.Context, namespace, pod, container string, command []string) (stdout, stderr []byte, err error)
}

// KlientExec runs commands with e2e-framework's klient (the API server's exec subresource).
type KlientExec struct{ Resources *resources.Resources }

// Exec implements PodExecer.
func (k KlientExec) Exec(ctx context.Context, namespace, pod, container string, command []string) ([]byte, []byte, error) {
	var stdout, stderr bytes.Buffer
	err := k.Resources.ExecInPod(ctx, namespace, pod, container, command, &stdout, &stderr)
	return stdout.Bytes(), stderr.Bytes(), err
}
