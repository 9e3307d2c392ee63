package main

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
)

func TestPodLifecycleArgs(t *testing.T) {
	sec := func(n int64) *int64 { return &n }
	netexec := &corev1.Pod{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: sec(40), Containers: []corev1.Container{{
		Args:  []string{"netexec", "--http-port=8080", "--udp-port=8081", "--delay-shutdown=30"},
		Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 8081, Protocol: corev1.ProtocolUDP}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
	}}}}
	if got, want := servedUDPPorts(netexec), []uint16{8081, 53}; !slices.Equal(got, want) {
		t.Errorf("servedUDPPorts = %v, want %v", got, want)
	}
	if got := servedUDPPorts(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{}}}}); len(got) != 0 {
		t.Errorf("servedUDPPorts of a pod declaring none = %v, want none", got)
	}
	if got := shutdownDelay(netexec); got != 30*time.Second {
		t.Errorf("shutdownDelay = %v, want 30s", got)
	}
	if got := shutdownDelay(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "nginx"}}}}); got != 0 {
		t.Errorf("shutdownDelay of nginx = %v, want 0", got)
	}
	if got := gracePeriod(netexec); got != 40*time.Second {
		t.Errorf("gracePeriod from the spec = %v, want 40s", got)
	}
	deleted := netexec.DeepCopy()
	deleted.DeletionGracePeriodSeconds = sec(5)
	if got := gracePeriod(deleted); got != 5*time.Second {
		t.Errorf("gracePeriod from the deletion = %v, want 5s", got)
	}
	if got := gracePeriod(&corev1.Pod{}); got != 30*time.Second {
		t.Errorf("default gracePeriod = %v, want 30s", got)
	}
}

func TestTerminated(t *testing.T) {
	sec := func(n int64) *int64 { return &n }
	netexecPod := func(grace int64) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Args: []string{"netexec", "--delay-shutdown=30"}}}},
			ObjectMeta: metav1.ObjectMeta{DeletionGracePeriodSeconds: sec(grace)}}
	}
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		wantDone bool
		wantExit time.Duration
	}{
		{"serves its shutdown delay", netexecPod(40), false, 30 * time.Second},
		{"cut short by the grace period", netexecPod(5), false, 5 * time.Second},
		{"grace 0 ends it at once", netexecPod(0), true, 0},
		{"nginx stops at once", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionGracePeriodSeconds: sec(30)}}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &agent{queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
			defer a.queue.ShutDown()
			rt := &podRuntime{nx: newNetexec("web", loopbackPod{})}
			start := time.Now()
			if done := a.terminated("ns/web", tc.pod, rt); done != tc.wantDone {
				t.Fatalf("first terminated = %v, want %v", done, tc.wantDone)
			}
			if !rt.nx.terminating.Load() {
				t.Errorf("the pod's servers got no SIGTERM (/readyz still 200)")
			}
			if got := rt.exitAt.Sub(start); got < tc.wantExit-time.Second || got > tc.wantExit+time.Second {
				t.Errorf("exits after %v, want %v", got, tc.wantExit)
			}
			if !tc.wantDone && a.terminated("ns/web", tc.pod, rt) {
				t.Errorf("terminated before its exit time")
			}
		})
	}
}
