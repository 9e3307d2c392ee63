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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	checkPodsProxy(ctx, t, cs, pod.Name)
}

// checkPodsProxy reads a pod's answer and kube-proxy's /healthz through the apiserver's
// pods/proxy, which reaches the guest through the first node's forward proxy.
func checkPodsProxy(ctx context.Context, t *testing.T, cs kubernetes.Interface, kubeProxyPod string) {
	t.Helper()
	web := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "proxied", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
			Args: []string{"netexec", "--http-port=8080"}}}}}
	if _, err := cs.CoreV1().Pods(web.Namespace).Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ns, pod, port, path, want string
	}{
		{"a netns pod", web.Namespace, web.Name, "8080", "hostname", web.Name},
		// kube-proxy's healthz listens on 0.0.0.0:10256 (its metrics on 127.0.0.1 only).
		{"a host-network pod (the node's address)", kubeproxy.Namespace, kubeProxyPod, "10256", "healthz", `"lastUpdated"`},
	} {
		var got []byte
		var err error
		for i := 0; i < 60; i++ {
			got, err = cs.CoreV1().Pods(tc.ns).ProxyGet("http", tc.pod, tc.port, tc.path, nil).DoRaw(ctx)
			if err == nil && strings.Contains(string(got), tc.want) {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil || !strings.Contains(string(got), tc.want) {
			t.Errorf("%s: pods/%s:%s/proxy/%s = %q, %v; expected %q", tc.name, tc.pod, tc.port, tc.path, got, err, tc.want)
		}
	}
}
