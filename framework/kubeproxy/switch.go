package kubeproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// NodeMode is what one node's kube-proxy says about its mode.
type NodeMode struct {
	Node string
	Pod  string
	// ProxyMode is the answer of /proxyMode on the node.
	ProxyMode string
	// Log is what the pod's log says.
	Log Findings
}

// VerifyMode confirms on every node that kube-proxy runs in mode want, through its log
// ("Using ipvs Proxier") and through /proxyMode on the node itself. A pod that just became
// Ready may not serve /proxyMode yet, so the check is retried until the timeout; the error
// then lists every node that still disagrees.
func VerifyMode(ctx context.Context, c Cluster, want string) ([]NodeMode, error) {
	var out []NodeMode
	var problems []string
	err := wait.PollUntilContextTimeout(ctx, c.poll(), c.timeout(), true, func(ctx context.Context) (bool, error) {
		o, p := verifyModeOnce(ctx, c, want)
		if len(p) > 0 && ctx.Err() != nil && problems != nil {
			// The deadline cut this round's reads short: the last whole round says more.
			return false, nil
		}
		out, problems = o, p
		return len(problems) == 0, nil
	})
	if len(problems) > 0 {
		return out, fmt.Errorf("kube-proxy is not in %s mode everywhere:\n  %s", want, strings.Join(problems, "\n  "))
	}
	if err != nil {
		return out, err
	}
	return out, nil
}

func verifyModeOnce(ctx context.Context, c Cluster, want string) ([]NodeMode, []string) {
	var out []NodeMode
	var problems []string
	for _, n := range c.Nodes {
		nm := NodeMode{Node: n.Name()}
		pod, err := PodOnNode(ctx, c, n.Name())
		if err != nil {
			problems = append(problems, err.Error())
			out = append(out, nm)
			continue
		}
		nm.Pod = pod.Name
		log, err := c.logs().PodLogs(ctx, Namespace, pod.Name, ContainerName, false)
		if err != nil {
			problems = append(problems, err.Error())
		}
		nm.Log = ScanLogs(log)
		nm.ProxyMode, err = ReadProxyMode(ctx, n)
		if err != nil {
			problems = append(problems, err.Error())
		} else if nm.ProxyMode != want {
			problems = append(problems, fmt.Sprintf("node %s: /proxyMode says %q, want %q", n.Name(), nm.ProxyMode, want))
		}
		if err == nil && nm.Log.Mode != want {
			problems = append(problems, fmt.Sprintf("node %s: pod %s's log says %s, want %q",
				n.Name(), pod.Name, orNothing(nm.Log.Mode, "proxier %q"), usingLine(want)))
		}
		out = append(out, nm)
	}
	return out, problems
}

func usingLine(mode string) string { return "Using " + mode + " Proxier" }

func orNothing(v, format string) string {
	if v == "" {
		return "no proxier"
	}
	return fmt.Sprintf(format, v)
}

// nodeLeftovers lists the iptables-mode leftovers of each node.
func nodeLeftovers(ctx context.Context, c Cluster) (map[string][]Leftover, error) {
	out := map[string][]Leftover{}
	var errs []error
	for _, n := range c.Nodes {
		st, err := node.ReadState(ctx, n, c.Read)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if l := FindLeftovers(st.IPTables); len(l) > 0 {
			out[n.Name()] = l
		}
	}
	return out, errors.Join(errs...)
}

// SwitchOptions tune SwitchToIPVS.
type SwitchOptions struct {
	// KeepLeftovers reports iptables-mode leftovers without cleaning them.
	KeepLeftovers bool
}

// SwitchReport tells what a switch did, for the run's report.
type SwitchReport struct {
	PreviousMode  string
	ConfigChanged bool
	// Pods are the kube-proxy pods after the switch.
	Pods []string
	// Nodes confirm the mode per node.
	Nodes []NodeMode
	// Leftovers found right after the switch, per node.
	Leftovers map[string][]Leftover
	// Cleaned names the nodes cleaned with `kube-proxy --cleanup`.
	Cleaned []string
	Took    time.Duration
}

// String renders the report for a terminal.
func (r SwitchReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kube-proxy switched to ipvs by ConfigMap (mode was %s; ConfigMap changed: %v) in %s\n",
		quoteEmpty(r.PreviousMode), r.ConfigChanged, r.Took.Round(time.Second))
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, "  node %s: pod %s, /proxyMode %s, log %q", n.Node, n.Pod, n.ProxyMode, usingLine(n.Log.Mode))
		if n.Log.SchedulerDefaulted {
			fmt.Fprintf(&b, ", %q", MsgSchedulerDefaulted)
		}
		b.WriteString("\n")
	}
	if len(r.Leftovers) == 0 {
		b.WriteString("  no iptables-mode leftovers\n")
		return b.String()
	}
	for _, name := range slices.Sorted(maps.Keys(r.Leftovers)) {
		ls := r.Leftovers[name]
		var chains []string
		for _, l := range ls {
			chains = append(chains, l.Table+"/"+l.Chain)
		}
		fmt.Fprintf(&b, "  node %s: %d iptables-mode chains left by the switch: %s\n", name, len(ls), strings.Join(chains, " "))
	}
	if len(r.Cleaned) > 0 {
		fmt.Fprintf(&b, "  cleaned with `kube-proxy --cleanup` on %s, then kube-proxy restarted to re-program ipvs\n", strings.Join(r.Cleaned, ", "))
	} else {
		b.WriteString("  leftovers kept (not cleaned): rule counts include them\n")
	}
	return b.String()
}

// SwitchToIPVS is the seed's method 2 on a running cluster: set `mode: "ipvs"` in the
// kube-proxy ConfigMap (one line, every other byte kept), delete the kube-proxy pods, wait
// for the DaemonSet's new pods, and confirm ipvs mode on every node. A switch from iptables
// leaves the iptables proxier's chains behind (KUBE-SVC-*, KUBE-SEP-*, ...): they are found
// and, unless opts say otherwise, removed the supported way (cleanupLeftovers), so that the
// rule budget the suites assert afterwards measures ipvs mode alone.
func SwitchToIPVS(ctx context.Context, c Cluster, opts SwitchOptions) (*SwitchReport, error) {
	start := time.Now()
	r := &SwitchReport{}
	var err error
	r.PreviousMode, r.ConfigChanged, err = setConfig(ctx, c, "mode", "ipvs")
	if err != nil {
		return r, err
	}
	pods, err := RestartPods(ctx, c)
	if err != nil {
		return r, err
	}
	r.Pods = podNames(pods)
	if r.Nodes, err = VerifyMode(ctx, c, "ipvs"); err != nil {
		return r, err
	}
	if r.Leftovers, err = nodeLeftovers(ctx, c); err != nil {
		return r, err
	}
	if len(r.Leftovers) > 0 && !opts.KeepLeftovers {
		names := slices.Sorted(maps.Keys(r.Leftovers))
		if pods, err = cleanupWithKubeProxyStopped(ctx, c, names); err != nil {
			return r, err
		}
		r.Cleaned = names
		r.Pods = podNames(pods)
		if r.Nodes, err = VerifyMode(ctx, c, "ipvs"); err != nil {
			return r, err
		}
		still, err := nodeLeftovers(ctx, c)
		if err != nil {
			return r, err
		}
		if len(still) > 0 {
			return r, fmt.Errorf("iptables-mode chains remain after `kube-proxy --cleanup`: %v", still)
		}
	}
	r.Took = time.Since(start)
	slog.Info("switched kube-proxy to ipvs", "was", quoteEmpty(r.PreviousMode), "leftoverNodes", len(r.Leftovers), "cleaned", len(r.Cleaned), "took", r.Took.Round(time.Second))
	return r, nil
}

func podNames(pods []corev1.Pod) []string {
	out := make([]string, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

// pausedLabel is the node label the kube-proxy DaemonSet's nodeSelector requires while
// cleanupWithKubeProxyStopped runs; no node has it, so the DaemonSet runs no pod.
const pausedLabel = "ipvs-e2e.io/kube-proxy-paused"

// cleanupWithKubeProxyStopped runs cleanupLeftovers on the named nodes while no kube-proxy
// runs anywhere, then lets the DaemonSet start fresh pods (which re-program ipvs) and
// returns them. A running proxier re-creates its jumps and chains (KUBE-PROXY-FIREWALL,
// KUBE-MARK-MASQ) while --cleanup deletes them, and --cleanup then fails with "CHAIN_DEL
// failed (Device or resource busy)": seen every time in the lab, where a sync takes
// seconds. The DaemonSet is paused with a nodeSelector no node matches, the way one stops
// a DaemonSet without deleting it, and resumed whatever the cleanup's outcome.
func cleanupWithKubeProxyStopped(ctx context.Context, c Cluster, nodes []string) ([]corev1.Pod, error) {
	_, gone, err := podsToReplace(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := patchPaused(ctx, c, true); err != nil {
		return nil, err
	}
	err = waitNoPods(ctx, c)
	if err == nil {
		err = cleanupLeftovers(ctx, c, nodes)
	}
	// Resume even when the context is done: a paused DaemonSet leaves the cluster without
	// kube-proxy.
	if rerr := patchPaused(context.WithoutCancel(ctx), c, false); rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	if err != nil {
		return nil, err
	}
	return WaitForPods(ctx, c, gone)
}

func patchPaused(ctx context.Context, c Cluster, paused bool) error {
	value := "null"
	if paused {
		value = `"true"`
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"nodeSelector":{%q:%s}}}}}`, pausedLabel, value)
	if _, err := c.Client.AppsV1().DaemonSets(Namespace).Patch(ctx, DaemonSetName, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("set %s=%v in DaemonSet %s/%s's nodeSelector: %w", pausedLabel, paused, Namespace, DaemonSetName, err)
	}
	return nil
}

func waitNoPods(ctx context.Context, c Cluster) error {
	var left []string
	err := wait.PollUntilContextTimeout(ctx, c.poll(), c.timeout(), true, func(ctx context.Context) (bool, error) {
		pods, err := Pods(ctx, c)
		if err != nil {
			return false, err
		}
		left = podNames(pods)
		return len(pods) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("kube-proxy pods %v still there after pausing the DaemonSet (nodeSelector %s): %w", left, pausedLabel, err)
	}
	slog.Info("kube-proxy stopped on every node for the cleanup")
	return nil
}

// cleanupPodLabel marks the one-off cleanup pods.
const cleanupPodLabel = "ipvs-e2e.io/kube-proxy-cleanup"

// cleanupLeftovers runs `kube-proxy --cleanup` on each named node in a one-off pod: the
// DaemonSet's own kube-proxy image and binary, host network, privileged, with /lib/modules
// and the xtables lock mounted like the DaemonSet's pods. This is the cleanup kube-proxy
// supports. A one-off pod, not `kubectl exec` into the running kube-proxy, because the
// running proxier would race the cleanup and re-sync in the middle of it (so the DaemonSet
// must not run either: cleanupWithKubeProxyStopped); the pod's exit code and log are also
// a clean record. --cleanup removes every mode's rules (iptables,
// ipvs, nftables), so the caller restarts kube-proxy afterwards to re-program ipvs.
func cleanupLeftovers(ctx context.Context, c Cluster, nodes []string) error {
	ds, err := c.Client.AppsV1().DaemonSets(Namespace).Get(ctx, DaemonSetName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get DaemonSet %s/%s for its kube-proxy image: %w", Namespace, DaemonSetName, err)
	}
	var image, binary string
	for _, ct := range ds.Spec.Template.Spec.Containers {
		if ct.Name == ContainerName {
			image = ct.Image
			binary = "kube-proxy"
			if len(ct.Command) > 0 {
				binary = ct.Command[0]
			}
		}
	}
	if image == "" {
		return fmt.Errorf("DaemonSet %s/%s has no %q container", Namespace, DaemonSetName, ContainerName)
	}
	for _, name := range nodes {
		err := cleanupNode(ctx, c, name, image, binary)
		var busy *busyChainError
		if errors.As(err, &busy) {
			// kube-proxy --cleanup tears iptables mode down before ipvs mode, and ipvs
			// mode's jumps (INPUT, FORWARD, OUTPUT -> KUBE-PROXY-FIREWALL) keep a chain
			// busy in the first part; the second part removes them, so a second run finds
			// nothing in the way (v1.37.2 in the lab, every time).
			slog.Info("kube-proxy --cleanup found a chain still in use; running it once more", "node", name, "first", busy.line)
			err = cleanupNode(ctx, c, name, image, binary)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// busyChainError is a cleanup that failed only because a chain was still referenced.
type busyChainError struct {
	err  error
	line string
}

func (e *busyChainError) Error() string { return e.err.Error() }
func (e *busyChainError) Unwrap() error { return e.err }

// busyText is what iptables-nft and iptables-legacy say when a chain to delete is in use.
var busyText = []string{"Device or resource busy", "Directory not empty", "Too many links"}

func busyLine(log string) string {
	for _, line := range strings.Split(log, "\n") {
		for _, t := range busyText {
			if strings.Contains(line, t) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}

func cleanupNode(ctx context.Context, c Cluster, nodeName, image, binary string) error {
	pods := c.Client.CoreV1().Pods(Namespace)
	pod, err := pods.Create(ctx, cleanupPod(nodeName, image, binary), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create kube-proxy cleanup pod on node %s: %w", nodeName, err)
	}
	slog.Info("running kube-proxy --cleanup", "node", nodeName, "pod", pod.Name)
	defer func() {
		zero := int64(0)
		// The pod has run; its removal must not depend on the caller's context.
		_ = pods.Delete(context.WithoutCancel(ctx), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}()
	var phase corev1.PodPhase
	err = wait.PollUntilContextTimeout(ctx, c.poll(), c.timeout(), true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase = p.Status.Phase
		return phase == corev1.PodSucceeded || phase == corev1.PodFailed, nil
	})
	log, _ := c.logs().PodLogs(ctx, Namespace, pod.Name, "cleanup", false)
	if err != nil {
		return fmt.Errorf("kube-proxy --cleanup on node %s did not finish (phase %s): %w\n%s", nodeName, phase, err, tail(log, 10))
	}
	if phase == corev1.PodFailed {
		err := fmt.Errorf("kube-proxy --cleanup failed on node %s; its log ends:\n%s", nodeName, tail(log, 10))
		if line := busyLine(log); line != "" {
			return &busyChainError{err: err, line: line}
		}
		return err
	}
	return nil
}

// cleanupPod is the one-off pod that runs `kube-proxy --cleanup` on a node.
func cleanupPod(nodeName, image, binary string) *corev1.Pod {
	privileged := true
	fileOrCreate := corev1.HostPathFileOrCreate
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "kube-proxy-cleanup-",
			Namespace:    Namespace,
			Labels:       map[string]string{cleanupPodLabel: "true"},
		},
		Spec: corev1.PodSpec{
			NodeName:          nodeName,
			HostNetwork:       true,
			RestartPolicy:     corev1.RestartPolicyNever,
			PriorityClassName: "system-node-critical",
			Tolerations:       []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            "cleanup",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{binary, "--cleanup", "--v=2"},
				SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "lib-modules", MountPath: "/lib/modules", ReadOnly: true},
					{Name: "xtables-lock", MountPath: "/run/xtables.lock"},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "lib-modules", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/lib/modules"}}},
				{Name: "xtables-lock", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/xtables.lock", Type: &fileOrCreate}}},
			},
		},
	}
}
