package lab

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// metricsURL is kube-proxy's metrics endpoint in the guest (metricsBindAddress is left
// at its default, 127.0.0.1:10249, in the ConfigMap).
const metricsURL = "http://127.0.0.1:10249/metrics"

// guestLogDir holds the node agent's container logs, one directory per pod.
const guestLogDir = "/var/lib/ipvs-nodeagent/logs"

// LastSync reads, from kube-proxy's /metrics text, when every IP family it proxies last
// finished a sync (the gauge has one series per family, labelled ip_family): the earliest
// of them. The zero time means some family has not finished one yet (no series, or 0).
func LastSync(metrics []byte) (time.Time, error) {
	m, err := kubeproxy.ParseSyncMetrics(metrics)
	if err != nil {
		return time.Time{}, err
	}
	return m.Earliest(), nil
}

// waitKubeProxySynced waits until the kube-proxy the DaemonSet runs has programmed the
// node once. On a kubeadm or kind cluster it has long done so when the suites start; in
// the lab the node agent reports the pod Ready as soon as the process runs, and a first
// sync takes seconds under TCG. Without this wait, the seed's method 2 would replace an
// iptables-mode kube-proxy that never wrote a rule, and find no leftovers to clean.
func (p *Provider) waitKubeProxySynced(ctx context.Context, timeout time.Duration) error {
	start := time.Now()
	for _, name := range p.NodeNames() {
		if err := p.waitNodeSynced(ctx, name, timeout-time.Since(start)); err != nil {
			return err
		}
	}
	slog.Info("lab cluster: kube-proxy synced", "nodes", p.NodeNames(), "took", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func (p *Provider) waitNodeSynced(ctx context.Context, name string, timeout time.Duration) error {
	n := p.labNode(name)
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, max(timeout, time.Second), true, func(ctx context.Context) (bool, error) {
		out, err := node.Output(ctx, n, "curl", "-sS", "--fail", "--max-time", "3", metricsURL)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		t, err := LastSync(out)
		if err != nil {
			return false, err
		}
		if t.IsZero() {
			last = "/metrics shows no finished sync yet"
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		// Create deletes the cluster on failure: the log's end goes into the error.
		tail, _ := node.Output(context.WithoutCancel(ctx), n, "sh", "-c", "tail -n 20 "+guestNodeLogDir(name)+"/kube-system_kube-proxy-*/*/*.log")
		return fmt.Errorf("kube-proxy on %s did not finish a first sync within %s (last: %s): %w; its log ends:\n%s",
			name, timeout, last, err, tail)
	}
	return nil
}
