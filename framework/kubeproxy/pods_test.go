package kubeproxy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCrashing(t *testing.T) {
	status := func(cs corev1.ContainerStatus) corev1.Pod {
		return corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{cs}}}
	}
	failed := &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"running", status(corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}), ""},
		{"pulling", status(corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}), ""},
		{"crash loop", status(corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}), "CrashLoopBackOff"},
		{"exited now", status(corev1.ContainerStatus{State: corev1.ContainerState{Terminated: failed}}), "exited 1 (Error)"},
		{"one restart is a hiccup", status(corev1.ContainerStatus{RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: failed},
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}), ""},
		{"two restarts are a pattern", status(corev1.ContainerStatus{RestartCount: 2, LastTerminationState: corev1.ContainerState{Terminated: failed},
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}), "exited 1 (Error), restarted 2 times"},
	} {
		if got := crashing(tc.pod); got != tc.want {
			t.Errorf("%s: crashing = %q, want %q", tc.name, got, tc.want)
		}
	}
}
