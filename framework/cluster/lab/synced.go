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
// A kube-proxy that cannot start (kubeproxy.Failing) ends the wait at once.
func (p *Provider) waitKubeProxySynced(ctx context.Context, timeout time.Duration) error {
	cs, err := p.cp.Clientset()
	if err != nil {
		return err
	}
	start := time.Now()
	for _, name := range p.NodeNames() {
		n := p.labNode(name)
		w := syncWait{
			node: name,
			poll: time.Second,
			metrics: func(ctx context.Context) ([]byte, error) {
				return node.Output(ctx, n, "curl", "-sS", "--fail", "--max-time", "3", metricsURL)
			},
			failing: func(ctx context.Context) error {
				return kubeproxy.Failing(ctx, kubeproxy.Cluster{Client: cs}, name)
			},
			logTail: func(ctx context.Context) string {
				tail, _ := node.Output(ctx, n, "sh", "-c", "tail -n 20 "+guestNodeLogDir(name)+"/kube-system_kube-proxy-*/*/*.log")
				return string(tail)
			},
		}
		if err := w.run(ctx, timeout-time.Since(start)); err != nil {
			return err
		}
	}
	slog.Info("lab cluster: kube-proxy synced", "nodes", p.NodeNames(), "took", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// syncWait waits for one node's kube-proxy to finish its first sync, watching it fail.
type syncWait struct {
	node string
	poll time.Duration
	// metrics reads kube-proxy's /metrics on the node.
	metrics func(context.Context) ([]byte, error)
	// failing reports kube-proxy's pod failing to start, quoting the evidence.
	failing func(context.Context) error
	// logTail is the end of kube-proxy's log, for the timeout's error.
	logTail func(context.Context) string
}

func (w syncWait) run(ctx context.Context, timeout time.Duration) error {
	start := time.Now()
	var last string
	var failed error
	err := wait.PollUntilContextTimeout(ctx, w.poll, max(timeout, time.Second), true, func(ctx context.Context) (bool, error) {
		out, err := w.metrics(ctx)
		if err == nil {
			t, err := LastSync(out)
			if err != nil {
				return false, err
			}
			if !t.IsZero() {
				return true, nil
			}
			last = "/metrics shows no finished sync yet"
		} else {
			last = err.Error()
		}
		if failed = w.failing(ctx); failed != nil {
			return false, failed
		}
		return false, nil
	})
	if failed != nil {
		return fmt.Errorf("kube-proxy on %s cannot start (seen %s into the wait for its first sync): %w", w.node, roundDuration(time.Since(start)), failed)
	}
	if err != nil {
		// Create deletes the cluster on failure: the log's end goes into the error.
		return fmt.Errorf("kube-proxy on %s did not finish a first sync within %s (last: %s): %w; its log ends:\n%s",
			w.node, roundDuration(timeout), last, err, w.logTail(context.WithoutCancel(ctx)))
	}
	return nil
}

// roundDuration prints waits as people read them: 3m0s, 12s, 0.4s.
func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
