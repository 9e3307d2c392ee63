//go:build e2e

package lab

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// upForTest brings a lab cluster up for t and deletes it when t ends, keeping the run
// directory of a failed test for inspection.
func upForTest(ctx context.Context, t *testing.T, o cluster.Options) (*Provider, *rest.Config) {
	t.Helper()
	p, rc, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.KeepRunDir()
		}
		if err := p.Delete(context.Background()); err != nil {
			t.Errorf("delete: %v", err)
		}
	})
	return p, rc
}

// TestLabCluster brings a lab cluster up, checks that the node agent answers commands,
// that kube-proxy's log is readable through the apiserver and that /proxyMode says ipvs,
// then deletes it. It needs the upstream release built and the guest binaries
// (`make lab-cluster-binaries`).
func TestLabCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, rc := upForTest(ctx, t, cluster.Options{KubernetesVersion: os.Getenv("IPVS_E2E_K8S_VERSION"), HostNodePorts: []int32{30089}})
	cs := kubernetes.NewForConfigOrDie(rc)
	nodes, err := p.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := node.Output(ctx, nodes[0], "ip", "-4", "-o", "addr", "show", "eth0")
	if err != nil || !strings.Contains(string(out), "10.0.2.15/24") {
		t.Fatalf("ip addr on the node: %q, %v", out, err)
	}
	kp := kubeproxy.Cluster{Client: cs, Nodes: nodes, Timeout: 2 * time.Minute, Poll: time.Second}
	if _, err := kubeproxy.WaitForPods(ctx, kp, nil); err != nil {
		t.Fatal(err)
	}
	pod, err := kubeproxy.PodOnNode(ctx, kp, NodeName)
	if err != nil {
		t.Fatal(err)
	}
	// kube-proxy logs its proxier a few seconds after it starts under TCG.
	var log string
	for i := 0; i < 30; i++ {
		log, err = kubeproxy.ClientLogs{Client: cs}.PodLogs(ctx, kubeproxy.Namespace, pod.Name, kubeproxy.ContainerName, false)
		if err == nil && kubeproxy.ScanLogs(log).Mode == "ipvs" {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Errorf("kubectl logs through the apiserver: %v", err)
	} else if f := kubeproxy.ScanLogs(log); f.Mode != "ipvs" {
		t.Errorf("kube-proxy log says mode %q, want ipvs:\n%s", f.Mode, log)
	}
	var mode string
	for i := 0; i < 30; i++ {
		if mode, err = kubeproxy.ReadProxyMode(ctx, nodes[0]); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil || mode != "ipvs" {
		t.Errorf("/proxyMode = %q, %v", mode, err)
	}
}
