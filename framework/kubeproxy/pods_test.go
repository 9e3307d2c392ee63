package kubeproxy

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestFailing(t *testing.T) {
	const fatalLog = `I1205 10:00:00.000000       1 server.go:100] "Starting kube-proxy"
E1205 10:00:00.100000       1 proxier.go:200] "Could not sync" err="transient"
F1205 10:00:00.200000       1 run.go:72] "command failed" err="ipvs.scheduler \"bogus\": unknown scheduler"
`
	pod := func(name, node string, cs corev1.ContainerStatus) *corev1.Pod {
		cs.Name = ContainerName
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: map[string]string{"k8s-app": "kube-proxy"}},
			Spec:       corev1.PodSpec{NodeName: node},
			Status:     corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{cs}},
		}
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	exited := &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}
	for _, tc := range []struct {
		name string
		pods []*corev1.Pod
		log  string
		want []string // substrings of the error; none: no error
	}{
		{name: "no pod yet"},
		{name: "running", pods: []*corev1.Pod{pod("kube-proxy-a", "lab-node", corev1.ContainerStatus{State: running})}, log: fatalLog},
		{name: "crash loop on another node", pods: []*corev1.Pod{pod("kube-proxy-b", "lab-node2", corev1.ContainerStatus{RestartCount: 12,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}})}, log: fatalLog},
		{name: "crash loop", pods: []*corev1.Pod{pod("kube-proxy-a", "lab-node", corev1.ContainerStatus{RestartCount: 12,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}, LastTerminationState: corev1.ContainerState{Terminated: exited}})},
			log:  fatalLog,
			want: []string{"kube-proxy pod kube-proxy-a on node lab-node", "CrashLoopBackOff, restarted 12 times", `its last fatal line: command failed: ipvs.scheduler "bogus": unknown scheduler`}},
		{name: "exited", pods: []*corev1.Pod{pod("kube-proxy-a", "lab-node", corev1.ContainerStatus{State: corev1.ContainerState{Terminated: exited}})},
			log: "plain text\n", want: []string{"exited 1 (Error), not restarted", "its log ends:\nplain text"}},
		{name: "the reference proxier's exit line", pods: []*corev1.Pod{pod("kube-proxy-a", "lab-node", corev1.ContainerStatus{RestartCount: 1,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}})},
			log: `W1206 02:43:40.153216     115 load.go:90] "ipvs.scheduler: \"bogus\" is not one of the schedulers Linux ships"` + "\n" +
				`ipvs-proxier: IPVS scheduler "bogus": the kernel refused a test virtual server TCP 198.51.100.0:20000 with it` + "\n",
			want: []string{"(CrashLoopBackOff, restarted once): its last fatal line: ipvs-proxier: IPVS scheduler \"bogus\": the kernel refused"}},
		{name: "one restart after a fatal line", pods: []*corev1.Pod{pod("kube-proxy-a", "lab-node", corev1.ContainerStatus{RestartCount: 1,
			State: running, LastTerminationState: corev1.ContainerState{Terminated: exited}})},
			log: fatalLog, want: []string{"exited on a fatal error, restarted once", "unknown scheduler"}},
		{name: "one restart without a fatal line", pods: []*corev1.Pod{pod("kube-proxy-a", "lab-node", corev1.ContainerStatus{RestartCount: 1,
			State: running, LastTerminationState: corev1.ContainerState{Terminated: exited}})},
			log: "E1205 10:00:00.100000       1 proxier.go:200] \"Could not sync\" err=\"transient\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewSimpleClientset()
			for _, p := range tc.pods {
				if _, err := client.CoreV1().Pods(Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			err := Failing(context.Background(), Cluster{Client: client, Logs: &fakeLogs{always: tc.log}}, "lab-node")
			checkErrorSays(t, "Failing", err, tc.want...)
		})
	}
}
