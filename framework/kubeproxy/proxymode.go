package kubeproxy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// MetricsAddress is where kube-proxy serves /metrics and /proxyMode by default
// (metricsBindAddress 127.0.0.1:10249); it is only reachable on the node itself.
const MetricsAddress = "127.0.0.1:10249"

// Known proxy modes, as /proxyMode prints them.
var knownModes = []string{"iptables", "ipvs", "nftables", "kernelspace"}

// ParseProxyMode reads the body of kube-proxy's /proxyMode: the bare mode name.
func ParseProxyMode(body []byte) (string, error) {
	s := strings.TrimSpace(string(body))
	for _, m := range knownModes {
		if s == m {
			return m, nil
		}
	}
	if s == "" {
		return "", errors.New("/proxyMode: expected a proxy mode; found an empty body")
	}
	return "", fmt.Errorf("/proxyMode: expected one of %v; found %.120q", knownModes, s)
}

// ReadProxyMode asks kube-proxy on the node for its mode through /proxyMode, with curl (kind
// nodes) or busybox wget (the kernel lab).
func ReadProxyMode(ctx context.Context, n node.Node) (string, error) {
	url := "http://" + MetricsAddress + "/proxyMode"
	body, err := node.Output(ctx, n, "curl", "-sS", "--max-time", "5", url)
	if err != nil {
		var werr error
		body, werr = node.Output(ctx, n, "wget", "-q", "-T", "5", "-O", "-", url)
		if werr != nil {
			return "", fmt.Errorf("node %s: kube-proxy does not answer on %s (is it running with the default metricsBindAddress?): %w", n.Name(), url, errors.Join(err, werr))
		}
	}
	mode, err := ParseProxyMode(body)
	if err != nil {
		return "", fmt.Errorf("node %s: %w", n.Name(), err)
	}
	return mode, nil
}
