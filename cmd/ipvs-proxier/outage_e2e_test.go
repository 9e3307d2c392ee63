//go:build e2e

package main

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/controlplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
)

// TestCatchesUpAfterAnAPIServerOutage runs the proxier (on a fake kernel) against a real
// control plane on 127.0.0.1, stops the API server for outage and starts it again: a
// Service created then must be programmed within a few seconds, not after client-go's
// reflector backoff (up to a minute after such an outage). It needs the upstream release
// in CACHE_DIR (`make lab-e2e-ci` builds it).
func TestCatchesUpAfterAnAPIServerOutage(t *testing.T) {
	const outage = 45 * time.Second
	bins, err := upstream.Lookup(context.Background(), upstream.Options{Version: "v1.37.2",
		Components: []string{upstream.Etcd, upstream.KubeAPIServer, upstream.KubeControllerManager}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{Binaries: controlplane.UpstreamBinaries(bins), RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop()
	cs, err := cp.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	k := fakeKernel()
	e := testEnv(k, nil)
	e.newClient = newClient
	args := []string{"--config", writeConfig(t, "mode: ipvs\n"), "--kubeconfig", cp.AdminKubeconfig,
		"--healthz-bind-address", freeAddr(t), "--metrics-bind-address", freeAddr(t)}
	runCtx, stop := context.WithCancel(ctx)
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(runCtx, args, &stderr, e) }()
	defer func() { stop(); <-done }()

	programmed := func(name string, within time.Duration) time.Duration {
		t.Helper()
		svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			vs, _ := k.IPVS.Services()
			for _, s := range vs {
				if s.Address.String() == svc.Spec.ClusterIP && s.Port == 80 {
					return time.Since(start)
				}
			}
			if time.Since(start) > within {
				t.Fatalf("Service %s (%s) not programmed %s after its creation", name, svc.Spec.ClusterIP, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("before the outage: programmed in %s", programmed("before", 30*time.Second).Round(10*time.Millisecond))
	if err := cp.Restart(ctx, controlplane.KubeAPIServer, outage); err != nil {
		t.Fatal(err)
	}
	d := programmed("after", 10*time.Second)
	t.Logf("after a %s outage: programmed in %s", outage, d.Round(10*time.Millisecond))
}
