package main

import (
	"bytes"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func labNode(name string, ready bool) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}},
	}
}

func podOn(node string) *corev1.Pod { return &corev1.Pod{Spec: corev1.PodSpec{NodeName: node}} }

// daemonSetPod is a pod as the DaemonSet controller makes it: its node in required affinity.
func daemonSetPod(node string) *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}}},
	}}
}

func TestPickNode(t *testing.T) {
	two := []*corev1.Node{labNode("lab-node", true), labNode("lab-node2", true)}
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		nodes   []*corev1.Node
		running []*corev1.Pod
		want    string
		wantErr string
	}{
		{"one node", &corev1.Pod{}, two[:1], nil, "lab-node", ""},
		{"tie goes to the first name", &corev1.Pod{}, two, nil, "lab-node", ""},
		{"spreads to the emptier node", &corev1.Pod{}, two, []*corev1.Pod{podOn("lab-node")}, "lab-node2", ""},
		{"terminated pods do not count", &corev1.Pod{}, two,
			[]*corev1.Pod{{Spec: corev1.PodSpec{NodeName: "lab-node"}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}}, "lab-node", ""},
		{"DaemonSet pod to its node", daemonSetPod("lab-node2"), two, []*corev1.Pod{podOn("lab-node2")}, "lab-node2", ""},
		{"nodeSelector by hostname", &corev1.Pod{Spec: corev1.PodSpec{NodeSelector: map[string]string{"kubernetes.io/hostname": "lab-node2"}}}, two, nil, "lab-node2", ""},
		{"not Ready is skipped", &corev1.Pod{}, []*corev1.Node{labNode("lab-node", false), labNode("lab-node2", true)}, nil, "lab-node2", ""},
		{"DaemonSet pod of a node not Ready", daemonSetPod("lab-node2"), []*corev1.Node{labNode("lab-node", true), labNode("lab-node2", false)}, nil, "", "none of the 2 nodes"},
		{"no nodes", &corev1.Pod{}, nil, nil, "", "none of the 0 nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickNode(tc.pod, tc.nodes, tc.running)
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if got != tc.want {
				t.Errorf("pickNode = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestRequirementMatches(t *testing.T) {
	r := func(op corev1.NodeSelectorOperator, vals ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: "k", Operator: op, Values: vals}
	}
	for _, tc := range []struct {
		req     corev1.NodeSelectorRequirement
		v       string
		present bool
		want    bool
	}{
		{r(corev1.NodeSelectorOpIn, "a", "b"), "b", true, true},
		{r(corev1.NodeSelectorOpIn, "a"), "", false, false},
		{r(corev1.NodeSelectorOpNotIn, "a"), "", false, true},
		{r(corev1.NodeSelectorOpNotIn, "a"), "a", true, false},
		{r(corev1.NodeSelectorOpExists), "", true, true},
		{r(corev1.NodeSelectorOpDoesNotExist), "", true, false},
		{r(corev1.NodeSelectorOpGt, "1"), "2", true, false},
	} {
		if got := requirementMatches(tc.req, tc.v, tc.present); got != tc.want {
			t.Errorf("%s %v against %q (present %v) = %v, want %v", tc.req.Operator, tc.req.Values, tc.v, tc.present, got, tc.want)
		}
	}
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	w := &prefixWriter{prefix: "[lab-node2] ", w: &out}
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\nthree"))
	if got, want := out.String(), "[lab-node2] one\n[lab-node2] two\n"; got != want {
		t.Errorf("prefixed = %q, want %q (an unfinished line waits)", got, want)
	}
}

func TestWorkerName(t *testing.T) {
	if got := workerName("lab-node", 1); got != "lab-node2" {
		t.Errorf("workerName = %q, want lab-node2 (kind numbers workers from 2)", got)
	}
}

func TestConntrackGate(t *testing.T) {
	kubeProxy := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Command: []string{"/usr/local/bin/kube-proxy"}}}}}
	web := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "nginx"}}}}
	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		target string
		ready  bool
		held   time.Duration // how long ago the hold began; 0: not begun
		want   bool
	}{
		{"kube-proxy on the first node", kubeProxy, "lab-node", false, 0, false},
		{"another pod on a further node", web, "lab-node2", false, 0, false},
		{"kube-proxy on a further node, first not Ready", kubeProxy, "lab-node2", false, 0, true},
		{"kube-proxy on a further node, first Ready", kubeProxy, "lab-node2", true, 0, false},
		{"kube-proxy on a further node, held 31 s", kubeProxy, "lab-node2", false, 31 * time.Second, false},
	} {
		a := &agent{cfg: agentConfig{nodeName: "lab-node"}, firstKubeProxyReady: tc.ready}
		if tc.held > 0 {
			a.holdWorkersUntil = time.Now().Add(30*time.Second - tc.held)
		}
		if got := a.conntrackGate(tc.pod, tc.target); got != tc.want {
			t.Errorf("%s: conntrackGate = %v; expected %v", tc.name, got, tc.want)
		}
	}
}
