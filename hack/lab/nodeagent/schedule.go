package main

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// No scheduler runs in the lab: the first node's agent binds unscheduled pods. It keeps
// the scheduler's hard rules the suites rely on (nodeSelector, required node affinity:
// DaemonSet pods name their node through it; Ready, schedulable nodes only) and spreads the
// rest to the node running the fewest pods, ties to the first name, which is close enough
// to the default scheduler's spreading for the suites' few pods.

// pickNode returns the node a pod goes to, or an error saying why none fits.
func pickNode(pod *corev1.Pod, nodes []*corev1.Node, pods []*corev1.Pod) (string, error) {
	load := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil &&
			p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			load[p.Spec.NodeName]++
		}
	}
	var fit []*corev1.Node
	for _, n := range nodes {
		if nodeReady(n) && !n.Spec.Unschedulable && nodeMatches(pod, n) {
			fit = append(fit, n)
		}
	}
	if len(fit) == 0 {
		return "", fmt.Errorf("none of the %d nodes is Ready, schedulable and matches the pod's nodeSelector and node affinity", len(nodes))
	}
	slices.SortFunc(fit, func(a, b *corev1.Node) int {
		if d := load[a.Name] - load[b.Name]; d != 0 {
			return d
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return fit[0].Name, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeMatches applies the pod's nodeSelector and required node affinity terms (ORed,
// their requirements ANDed), matchFields on metadata.name included.
func nodeMatches(pod *corev1.Pod, n *corev1.Node) bool {
	for k, v := range pod.Spec.NodeSelector {
		if n.Labels[k] != v {
			return false
		}
	}
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, t := range terms {
		if termMatches(t, n) {
			return true
		}
	}
	return false
}

func termMatches(t corev1.NodeSelectorTerm, n *corev1.Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false // an empty term matches nothing, as in the scheduler
	}
	for _, r := range t.MatchExpressions {
		v, ok := n.Labels[r.Key]
		if !requirementMatches(r, v, ok) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		if r.Key != "metadata.name" || !requirementMatches(r, n.Name, true) {
			return false
		}
	}
	return true
}

func requirementMatches(r corev1.NodeSelectorRequirement, v string, present bool) bool {
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return present && slices.Contains(r.Values, v)
	case corev1.NodeSelectorOpNotIn:
		return !present || !slices.Contains(r.Values, v)
	case corev1.NodeSelectorOpExists:
		return present
	case corev1.NodeSelectorOpDoesNotExist:
		return !present
	}
	return false // Gt and Lt: no suite uses them; refuse rather than guess
}
