package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// podRuntime is what runs for one Pod: a network namespace with HTTP servers, or (host
// network kube-proxy pods) a child process.
type podRuntime struct {
	uid       types.UID
	key       string
	startedAt metav1.Time
	ip        netip.Addr

	netns *pods.Pod
	nx    *netexec
	// exitAt is when a terminating namespace pod's "process" exits: set at the first
	// sight of its deletion, from the image's shutdown delay and the grace period.
	exitAt time.Time

	proc *process
}

// terminating tells a pod whose deletion the agent has begun.
func (rt *podRuntime) terminating() bool { return !rt.exitAt.IsZero() }

func (rt *podRuntime) stop() {
	if rt.proc != nil {
		rt.proc.stop()
	}
	if rt.nx != nil {
		rt.nx.close()
	}
	if rt.netns != nil {
		if err := rt.netns.Delete(); err != nil {
			slog.Warn("tearing down the pod's namespace", "pod", rt.key, "err", err)
		}
	}
}

// Programs the agent runs as processes on the node for host-network Pods.
const (
	progKubeProxy = "kube-proxy"
	progProxier   = "ipvs-proxier"
	progIPVSDump  = "ipvsdump"
)

// hostProcess names the program of a host-network Pod the agent runs as a process on the
// node, as a container runtime would with host networking: kube-proxy and the reference
// proxier (the kube-proxy DaemonSet's pods and `--cleanup` pods) and ipvsdump (the node
// inspector's DaemonSet, `ipvsdump serve`); "" for any other pod. The first container's
// image decides, as it decides what a runtime runs: upstream kube-proxy's image
// (registry.k8s.io/kube-proxy:v1.37.2) runs kube-proxy, the reference proxier's
// (manifests.ProxierImage, any registry and tag) runs ipvs-proxier, so swapping the
// DaemonSet's image swaps the proxy on a live node. Any other image is known by its
// command's basename (kube-proxy, ipvs-proxier, ipvsdump: the inspector, whatever its
// image's name).
func hostProcess(p *corev1.Pod) string {
	if !p.Spec.HostNetwork || len(p.Spec.Containers) == 0 {
		return ""
	}
	c := p.Spec.Containers[0]
	switch {
	case manifests.IsProxierImage(c.Image):
		return progProxier
	case isKubeProxyImage(c.Image):
		return progKubeProxy
	case len(c.Command) == 0:
		return ""
	}
	switch name := filepath.Base(c.Command[0]); name {
	case progKubeProxy, progProxier, progIPVSDump:
		return name
	}
	return ""
}

// isProxy tells the programs that proxy a node's Services.
func isProxy(prog string) bool { return prog == progKubeProxy || prog == progProxier }

// isKubeProxyImage tells an upstream kube-proxy image: a repository named kube-proxy (or
// the old kube-proxy-<arch>), whatever the registry and tag.
func isKubeProxyImage(image string) bool {
	repo := manifests.ImageRepository(image)
	return repo == progKubeProxy || strings.HasPrefix(repo, progKubeProxy+"-")
}

// binary is the node's build of a program: the image's own path is not on the node.
func (c agentConfig) binary(prog string) string {
	switch prog {
	case progKubeProxy:
		return c.kubeProxy
	case progProxier:
		return c.proxier
	case progIPVSDump:
		return c.ipvsdump
	}
	return ""
}

func (a *agent) start(ctx context.Context, pod *corev1.Pod) (*podRuntime, error) {
	rt := &podRuntime{uid: pod.UID, key: podKey(pod), startedAt: metav1.Now().Rfc3339Copy()}
	var err error
	switch {
	case hostProcess(pod) != "":
		err = a.startProcess(ctx, pod, rt)
	case pod.Spec.HostNetwork:
		err = fmt.Errorf("host-network pod %s runs image %s, command %v: the lab's node agent runs only kube-proxy, the reference proxier (image %s) and ipvsdump on the host network", rt.key, pod.Spec.Containers[0].Image, pod.Spec.Containers[0].Command, manifests.ProxierImage)
	default:
		err = a.startNetns(pod, rt)
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.running[pod.UID] = rt
	a.byName[rt.key] = rt
	a.mu.Unlock()
	return rt, nil
}

func (a *agent) startNetns(pod *corev1.Pod, rt *podRuntime) error {
	a.mu.Lock()
	ip, err := a.ips.allocate()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	p, err := pods.Create(pods.Spec{Name: pod.Name, IPs: []netip.Addr{ip}, HostVeth: pods.HostVethName(string(pod.UID))})
	if err != nil {
		a.mu.Lock()
		a.ips.release(ip)
		a.mu.Unlock()
		return err
	}
	rt.netns, rt.ip = p, ip
	rt.nx = newNetexec(pod.Name, p)
	tcp, udp := servedPorts(pod), servedUDPPorts(pod)
	if err := rt.nx.start(p, tcp, udp); err != nil {
		rt.stop()
		a.mu.Lock()
		a.ips.release(ip)
		a.mu.Unlock()
		return err
	}
	slog.Info("pod started as a network namespace", "pod", rt.key, "ip", ip, "tcp", tcp, "udp", udp)
	return nil
}

var (
	portArg          = regexp.MustCompile(`^--?(?:http-)?port[= ](\d+)$`)
	udpPortArg       = regexp.MustCompile(`^--?udp-port[= ](\d+)$`)
	delayShutdownArg = regexp.MustCompile(`^--?delay-shutdown[= ](\d+)$`)
)

// servedUDPPorts are the UDP ports a pod answers datagrams on: its containers' declared
// UDP ports and netexec's --udp-port.
func servedUDPPorts(pod *corev1.Pod) []uint16 {
	return podPorts(pod, func(p corev1.Protocol) bool { return p == corev1.ProtocolUDP }, udpPortArg)
}

// podPorts are the ports of the pod's containers declared with a protocol proto accepts,
// then those given by arguments matching flag, each once, in that order.
func podPorts(pod *corev1.Pod, proto func(corev1.Protocol) bool, flag *regexp.Regexp) []uint16 {
	seen := map[uint16]bool{}
	var out []uint16
	add := func(p int) {
		if p > 0 && p < 65536 && !seen[uint16(p)] {
			seen[uint16(p)] = true
			out = append(out, uint16(p))
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if proto(p.Protocol) {
				add(int(p.ContainerPort))
			}
		}
		for _, arg := range append(append([]string{}, c.Command...), c.Args...) {
			if m := flag.FindStringSubmatch(arg); m != nil {
				n, _ := strconv.Atoi(m[1])
				add(n)
			}
		}
	}
	return out
}

// shutdownDelay is how long the pod's image keeps serving after SIGTERM: netexec's
// --delay-shutdown; other images (nginx) stop at once.
func shutdownDelay(pod *corev1.Pod) time.Duration {
	var d time.Duration
	for _, c := range pod.Spec.Containers {
		for _, arg := range append(append([]string{}, c.Command...), c.Args...) {
			if m := delayShutdownArg.FindStringSubmatch(arg); m != nil {
				n, _ := strconv.Atoi(m[1])
				d = max(d, time.Duration(n)*time.Second)
			}
		}
	}
	return d
}

// gracePeriod is what the kubelet gives a deleted pod: the deletion's grace period, else
// the spec's, else the default 30 s.
func gracePeriod(pod *corev1.Pod) time.Duration {
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// servedPorts are the TCP ports a pod's HTTP servers listen on: its containers' declared
// ports, and the port of agnhost netexec style arguments (--http-port=8080). A pod that
// declares none (the seed's nginx Pod) gets port 80, where web images listen by default:
// declaring ports is optional in Kubernetes, and an image's own port cannot be known
// without pulling it.
func servedPorts(pod *corev1.Pod) []uint16 {
	out := podPorts(pod, func(p corev1.Protocol) bool { return p == "" || p == corev1.ProtocolTCP }, portArg)
	if len(out) == 0 {
		out = append(out, defaultServedPort)
	}
	return out
}

// defaultServedPort is served by pods that declare no port.
const defaultServedPort = 80

// ipAllocator hands out addresses of the node's podCIDR, skipping the network address and
// the first host (kept for a gateway, as CNI plugins do).
type ipAllocator struct {
	cidr netip.Prefix
	used map[netip.Addr]bool
	next netip.Addr
}

func newIPAllocator(cidr netip.Prefix) *ipAllocator {
	first := cidr.Masked().Addr().Next().Next()
	return &ipAllocator{cidr: cidr, used: map[netip.Addr]bool{}, next: first}
}

func (p *ipAllocator) allocate() (netip.Addr, error) {
	start := p.next
	for {
		ip := p.next
		p.next = ip.Next()
		if !p.cidr.Contains(p.next) || p.next == lastAddr(p.cidr) {
			p.next = p.cidr.Masked().Addr().Next().Next()
		}
		if !p.used[ip] {
			p.used[ip] = true
			return ip, nil
		}
		if p.next == start {
			return netip.Addr{}, fmt.Errorf("podCIDR %s is full (%d pods)", p.cidr, len(p.used))
		}
	}
}

func (p *ipAllocator) release(ip netip.Addr) { delete(p.used, ip) }

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// readyAfter is how long a process runs before the agent reports its container ready. The
// kubelet reports a container without a readiness probe ready once it runs; a kube-proxy
// that refuses its configuration exits within milliseconds on a real node, before that
// status is out, but needs about 2 s under TCG. Without the wait, a kube-proxy about to
// refuse its configuration would show Ready first.
const readyAfter = 5 * time.Second

// process is a Pod's first container run as a child process, restarted like a container
// with its restart policy.
type process struct {
	name, logDir string
	argv         []string
	env          []string
	restart      bool
	onChange     func()
	// probe is the container's httpGet readiness probe URL, "" without one: with one the
	// container is ready while the probe answers 200-399, as the kubelet judges it.
	probe string

	mu        sync.Mutex
	cmd       *exec.Cmd
	running   bool
	startedAt metav1.Time
	// since is when the current run started, for readyAfter.
	since time.Time
	// probedReady is the last verdict of probe for the current run.
	probedReady bool
	restarts    int32
	backoff     bool
	last        *corev1.ContainerStateTerminated
	finished    *corev1.ContainerStateTerminated
	stopping    bool
	done        chan struct{}
}

func (a *agent) startProcess(ctx context.Context, pod *corev1.Pod, rt *podRuntime) error {
	c := pod.Spec.Containers[0]
	env, err := a.containerEnv(pod, c)
	if err != nil {
		return err
	}
	if err := a.writeConfigMapVolumes(ctx, pod, c); err != nil {
		return err
	}
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := cutEnv(kv)
		vars[k] = v
	}
	var argv []string
	for _, s := range append(append([]string{}, c.Command...), c.Args...) {
		argv = append(argv, hostPathArg(expand(s, vars), hostPathMounts(pod, c)))
	}
	if len(argv) == 0 {
		return fmt.Errorf("pod %s: container %s has no command; the lab's node agent runs the command, not the image's entrypoint", rt.key, c.Name)
	}
	// The image's binary (/ipvsdump, /ipvs-proxier, /usr/local/bin/kube-proxy) is not on
	// the node: the agent runs the guest's own build of the program.
	prog := hostProcess(pod)
	bin := a.cfg.binary(prog)
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("pod %s runs %s (image %s): the node has no %s binary: %w", rt.key, prog, c.Image, prog, err)
	}
	argv[0] = bin
	p := &process{
		name:     c.Name,
		logDir:   filepath.Join(a.cfg.stateDir, "logs", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), c.Name),
		argv:     argv,
		env:      append(os.Environ(), env...),
		restart:  pod.Spec.RestartPolicy == corev1.RestartPolicyAlways || pod.Spec.RestartPolicy == "",
		onChange: func() { a.queue.Add(rt.key) },
		done:     make(chan struct{}),
	}
	if get := c.ReadinessProbe; get != nil && get.HTTPGet != nil {
		u, err := probeURL(c, get.HTTPGet, a.cfg.nodeIP)
		if err != nil {
			return fmt.Errorf("pod %s: %w", rt.key, err)
		}
		p.probe = u
	}
	if err := os.MkdirAll(p.logDir, 0o755); err != nil {
		return err
	}
	rt.proc = p
	rt.ip = netip.MustParseAddr(a.cfg.nodeIP)
	go p.loop()
	slog.Info("pod started as a process", "pod", rt.key, "argv", argv)
	return nil
}

// containerEnv resolves the container's env: plain values and the downward API fields a
// kube-proxy DaemonSet uses.
func (a *agent) containerEnv(pod *corev1.Pod, c corev1.Container) ([]string, error) {
	var out []string
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			f := e.ValueFrom.FieldRef
			if f == nil {
				return nil, fmt.Errorf("pod %s env %s: only values and fieldRefs are supported by the lab's node agent", podKey(pod), e.Name)
			}
			switch f.FieldPath {
			case "spec.nodeName":
				v = pod.Spec.NodeName
			case "metadata.name":
				v = pod.Name
			case "metadata.namespace":
				v = pod.Namespace
			case "status.hostIP", "status.podIP":
				v = a.cfg.nodeIP
			default:
				return nil, fmt.Errorf("pod %s env %s: fieldRef %s is not supported by the lab's node agent", podKey(pod), e.Name, f.FieldPath)
			}
		}
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}

// writeConfigMapVolumes writes each ConfigMap volume's keys where the container mounts it,
// as the kubelet does (without the atomic symlink swap: the process starts after it).
func (a *agent) writeConfigMapVolumes(ctx context.Context, pod *corev1.Pod, c corev1.Container) error {
	vols := map[string]*corev1.ConfigMapVolumeSource{}
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil {
			vols[v.Name] = v.ConfigMap
		}
	}
	for _, m := range c.VolumeMounts {
		src := vols[m.Name]
		if src == nil {
			continue
		}
		cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, src.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("pod %s volume %s: ConfigMap %s: %w", podKey(pod), m.Name, src.Name, err)
		}
		if err := os.MkdirAll(m.MountPath, 0o755); err != nil {
			return err
		}
		for k, v := range cm.Data {
			// Write and rename: the nodes of one guest share the filesystem, and another
			// node's kube-proxy may be reading the file right now.
			dst := filepath.Join(m.MountPath, k)
			tmp := fmt.Sprintf("%s.%s.tmp", dst, a.cfg.nodeName)
			if err := os.WriteFile(tmp, []byte(v), 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp, dst); err != nil {
				return err
			}
		}
	}
	return nil
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand replaces $(VAR) with the container's variables, as the kubelet does in commands.
func expand(s string, vars map[string]string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := vars[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

func (p *process) logPath(n int32) string { return filepath.Join(p.logDir, fmt.Sprintf("%d.log", n)) }

// loop runs the command, and again after each exit while the restart policy says so, with
// the kubelet's back-off (10 s doubling, here capped at 20 s: a lab waits less).
func (p *process) loop() {
	defer close(p.done)
	delay := 2 * time.Second
	for {
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return
		}
		log, err := os.Create(p.logPath(p.restarts))
		if err != nil {
			p.finished = &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error()}
			p.mu.Unlock()
			p.onChange()
			return
		}
		cmd := exec.Command(p.argv[0], p.argv[1:]...)
		cmd.Env, cmd.Stdout, cmd.Stderr = p.env, log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		start := metav1.Now().Rfc3339Copy()
		err = cmd.Start()
		if err == nil {
			p.cmd, p.running, p.backoff, p.startedAt, p.since, p.probedReady = cmd, true, false, start, time.Now(), false
			if p.probe != "" {
				go p.probeLoop(cmd)
			} else {
				time.AfterFunc(readyAfter, p.onChange)
			}
		}
		p.mu.Unlock()
		p.onChange()
		code, reason := 128, "StartError"
		msg := ""
		if err == nil {
			err = cmd.Wait()
			code, reason = 0, "Completed"
		}
		log.Close()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code, reason = ee.ExitCode(), "Error"
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		case err != nil:
			msg = err.Error()
		}
		term := &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason, Message: msg,
			StartedAt: start, FinishedAt: metav1.Now().Rfc3339Copy()}
		p.mu.Lock()
		p.running, p.cmd = false, nil
		if p.stopping {
			p.mu.Unlock()
			return
		}
		if !p.restart {
			p.finished = term
			p.mu.Unlock()
			p.onChange()
			return
		}
		p.last, p.backoff = term, true
		p.restarts++
		p.mu.Unlock()
		slog.Warn("container exited; restarting after back-off", "container", p.name, "exitCode", code, "backoff", delay)
		p.onChange()
		time.Sleep(delay)
		delay = min(2*delay, 20*time.Second)
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after 10 s, as a runtime would.
func (p *process) stop() {
	p.mu.Lock()
	p.stopping = true
	cmd := p.cmd
	p.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
}

// containerStatus reports the process as the kubelet reports a container.
func (p *process) containerStatus(c corev1.Container, uid types.UID) (corev1.ContainerStatus, corev1.PodPhase) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "", RestartCount: p.restarts,
		ContainerID: fmt.Sprintf("ipvs-nodeagent://%s/%s", uid, c.Name)}
	if p.last != nil {
		cs.LastTerminationState.Terminated = p.last
	}
	phase := corev1.PodRunning
	switch {
	case p.finished != nil:
		cs.State.Terminated = p.finished
		phase = corev1.PodSucceeded
		if p.finished.ExitCode != 0 {
			phase = corev1.PodFailed
		}
	case p.running:
		t := true
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: p.startedAt}
		cs.Ready, cs.Started = time.Since(p.since) >= readyAfter, &t
		if p.probe != "" {
			cs.Ready = p.probedReady
		}
	case p.backoff:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off restarting the failed container"}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		phase = corev1.PodPending
	}
	return cs, phase
}

// reportStatus publishes the Pod's status when it differs from what the API holds.
func (a *agent) reportStatus(ctx context.Context, pod *corev1.Pod, rt *podRuntime) error {
	st := pod.Status.DeepCopy()
	st.HostIP = a.cfg.nodeIP
	st.HostIPs = []corev1.HostIP{{IP: a.cfg.nodeIP}}
	st.PodIP = rt.ip.String()
	st.PodIPs = []corev1.PodIP{{IP: rt.ip.String()}}
	st.StartTime = &rt.startedAt
	st.ContainerStatuses = nil
	ready := true
	phase := corev1.PodRunning
	for i, c := range pod.Spec.Containers {
		var cs corev1.ContainerStatus
		if rt.proc != nil && i == 0 {
			cs, phase = rt.proc.containerStatus(c, pod.UID)
		} else {
			t := true
			// A terminating image answers its readiness probe with 503 (netexec does), so
			// the kubelet reports it unready; without a probe it stays ready until it exits.
			probedReady := !(rt.terminating() && c.ReadinessProbe != nil)
			cs = corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: probedReady, Started: &t,
				ContainerID: fmt.Sprintf("ipvs-nodeagent://%s/%s", pod.UID, c.Name),
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: rt.startedAt}}}
		}
		ready = ready && cs.Ready
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	st.Phase = phase
	cond := func(t corev1.PodConditionType, ok bool) {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		for i, c := range st.Conditions {
			if c.Type == t {
				if c.Status != s {
					st.Conditions[i].Status, st.Conditions[i].LastTransitionTime = s, metav1.Now().Rfc3339Copy()
				}
				return
			}
		}
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: s, LastTransitionTime: metav1.Now().Rfc3339Copy()})
	}
	cond(corev1.PodScheduled, true)
	cond(corev1.PodInitialized, true)
	cond(corev1.ContainersReady, ready && phase == corev1.PodRunning)
	cond(corev1.PodReady, ready && phase == corev1.PodRunning)
	if apiequality.Semantic.DeepEqual(st, &pod.Status) {
		return nil
	}
	next := pod.DeepCopy()
	next.Status = *st
	_, err := a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err == nil {
		slog.Info("pod status", "pod", rt.key, "phase", phase, "ready", ready && phase == corev1.PodRunning, "ip", rt.ip)
	}
	if ready && phase == corev1.PodRunning && isProxy(hostProcess(pod)) {
		a.mu.Lock()
		a.firstKubeProxyReady = true
		a.mu.Unlock()
	}
	return err
}

// reportFailed marks a Pod the agent cannot run as Failed, with the reason, so a test
// waiting for it fails with the agent's words instead of a timeout.
func (a *agent) reportFailed(ctx context.Context, pod *corev1.Pod, cause error) {
	slog.Error("cannot run pod", "pod", podKey(pod), "err", cause)
	next := pod.DeepCopy()
	next.Status.Phase = corev1.PodFailed
	next.Status.Reason = "NodeAgentCannotRun"
	next.Status.Message = cause.Error()
	if _, err := a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		slog.Warn("reporting the pod failed", "pod", podKey(pod), "err", err)
	}
}

// hostPathMounts maps each of c's mount paths of a hostPath volume to the host path.
func hostPathMounts(pod *corev1.Pod, c corev1.Container) map[string]string {
	hostPaths := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	out := map[string]string{}
	for _, m := range c.VolumeMounts {
		if hp, ok := hostPaths[m.Name]; ok {
			out[filepath.Clean(m.MountPath)] = filepath.Clean(hp)
		}
	}
	return out
}

// hostPathArg rewrites a path under a hostPath mount in arg (the whole argument, or the
// value of --flag=value) to the path on the node. The agent runs the container's command
// as a plain process with no mount namespace of its own: it sees the node's filesystem,
// where a hostPath is at its own path, not at the container's mount path. So the inspector's
// --host-root=/host becomes --host-root=/; a path the program finds on its own (not in its
// arguments) under a mount path would not be mapped.
func hostPathArg(arg string, mounts map[string]string) string {
	prefix, val := "", arg
	if strings.HasPrefix(arg, "-") {
		i := strings.IndexByte(arg, '=')
		if i < 0 {
			return arg
		}
		prefix, val = arg[:i+1], arg[i+1:]
	}
	if !strings.HasPrefix(val, "/") {
		return arg
	}
	for mount, host := range mounts {
		if rest, ok := strings.CutPrefix(filepath.Clean(val), mount); ok && (rest == "" || strings.HasPrefix(rest, "/") || mount == "/") {
			return prefix + filepath.Join(host, rest)
		}
	}
	return arg
}

// probeURL is an httpGet probe's URL on a host-network container: the node's address
// unless the probe names a host, the port by number or by the container port's name.
func probeURL(c corev1.Container, get *corev1.HTTPGetAction, nodeIP string) (string, error) {
	port := get.Port.IntValue()
	if get.Port.Type == intstr.String {
		port = 0
		for _, cp := range c.Ports {
			if cp.Name == get.Port.StrVal {
				port = int(cp.ContainerPort)
			}
		}
	}
	if port <= 0 || port > 65535 {
		return "", fmt.Errorf("container %s: readiness probe port %q: expected a port number or the name of one of its ports", c.Name, get.Port.String())
	}
	host := get.Host
	if host == "" {
		host = nodeIP
	}
	scheme := strings.ToLower(string(get.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := get.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path), nil
}

// probeInterval is how often a readiness probe runs: the kubelet's default period is 10 s;
// a lab waiting on the pod gains from a shorter one, and the probe is cheap.
const probeInterval = time.Second

// probeLoop runs the readiness probe while cmd is the process's current run, and reports a
// change of verdict.
func (p *process) probeLoop(cmd *exec.Cmd) {
	client := &http.Client{Timeout: time.Second,
		// A probe does not follow the node's proxy settings, nor verify certificates (the kubelet does neither).
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	for {
		ok := false
		if resp, err := client.Get(p.probe); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ok = resp.StatusCode >= 200 && resp.StatusCode < 400
		}
		p.mu.Lock()
		if p.cmd != cmd || p.stopping {
			p.mu.Unlock()
			return
		}
		changed := p.probedReady != ok
		p.probedReady = ok
		p.mu.Unlock()
		if changed {
			p.onChange()
		}
		time.Sleep(probeInterval)
	}
}
