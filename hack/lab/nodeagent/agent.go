package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"

	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// agentConfig is the agent's command line.
type agentConfig struct {
	kubeconfig string
	nodeName   string
	nodeIP     string
	// listen is the agent's TLS address in the guest; the host reaches it through a forward.
	listen           string
	tlsCert, tlsKey  string
	tokenFile        string
	kubeletAddress   string
	kubeletPort      int
	stateDir         string
	kubeProxyVersion string
	// schedule makes this agent bind unscheduled pods (the first node's does).
	schedule bool
	// workers is how many further nodes this agent starts in network namespaces of the
	// guest (nodes.go), on the node network of uplink (its address moves to a bridge).
	workers       int
	uplink        string
	nodeGateway   string
	nodePrefixLen int
	// proxyListen serves the host's forward proxy (fwdproxy.go) for peer proxyPeer; empty: none.
	proxyListen string
	proxyPeer   string
	// ipvsdump is the binary host-network pods whose command is ipvsdump run (the node
	// inspector's DaemonSet).
	ipvsdump string
	// kubeProxy and proxier are the node's upstream kube-proxy and reference proxier,
	// run for the kube-proxy DaemonSet's pods by their image (hostProcess).
	kubeProxy, proxier string
}

func (c *agentConfig) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.kubeconfig, "kubeconfig", "/etc/kubernetes/agent.kubeconfig", "kubeconfig of a user allowed to register Nodes, bind Pods and update their status")
	fs.StringVar(&c.nodeName, "node-name", "lab-node", "the Node this agent stands for")
	fs.StringVar(&c.nodeIP, "node-ip", "10.0.2.15", "the node's InternalIP")
	fs.StringVar(&c.listen, "listen", "0.0.0.0:10250", "TLS address of the log, exec and file endpoints")
	fs.StringVar(&c.tlsCert, "tls-cert", "/etc/ipvs-nodeagent/tls.crt", "serving certificate")
	fs.StringVar(&c.tlsKey, "tls-key", "/etc/ipvs-nodeagent/tls.key", "serving key")
	fs.StringVar(&c.tokenFile, "token-file", "/etc/ipvs-nodeagent/token", "bearer token the exec and file endpoints require")
	fs.StringVar(&c.kubeletAddress, "kubelet-address", "", "address published as the node's Hostname address, where the apiserver reaches /containerLogs (the host side of a port forward); empty: none")
	fs.IntVar(&c.kubeletPort, "kubelet-port", 10250, "port published as the node's kubelet endpoint")
	fs.StringVar(&c.stateDir, "state-dir", "/var/lib/ipvs-nodeagent", "container logs")
	fs.StringVar(&c.kubeProxyVersion, "kube-proxy-version", "", "published as the node's kubeProxyVersion")
	fs.BoolVar(&c.schedule, "schedule", true, "bind unscheduled pods to a fitting node (one agent per cluster does)")
	fs.IntVar(&c.workers, "workers", 0, "further nodes to run in network namespaces of this machine, named <node-name>2, <node-name>3, ... with the next addresses after --node-ip")
	fs.StringVar(&c.uplink, "uplink", "eth0", "interface holding --node-ip, bridged to the further nodes (with --workers)")
	fs.StringVar(&c.nodeGateway, "node-gateway", "10.0.2.2", "default gateway of the node network (with --workers)")
	fs.IntVar(&c.nodePrefixLen, "node-prefix-len", 24, "prefix length of the node network (with --workers)")
	fs.StringVar(&c.proxyListen, "proxy-listen", "", "address of an HTTP forward proxy for the host's kube-apiserver (pods/proxy into the guest); empty: none")
	fs.StringVar(&c.proxyPeer, "proxy-peer", "10.0.2.2", "the only client address the forward proxy serves: QEMU's gateway, where host forwards come from")
	fs.StringVar(&c.ipvsdump, "ipvsdump", "/usr/local/bin/ipvsdump", "binary run for host-network pods whose command is ipvsdump")
	fs.StringVar(&c.kubeProxy, "kube-proxy", "/usr/local/bin/kube-proxy", "upstream kube-proxy, run for host-network pods of a kube-proxy image (or command)")
	fs.StringVar(&c.proxier, "ipvs-proxier", "/usr/local/bin/ipvs-proxier", "the reference proxier, run for host-network pods of its image "+manifests.ProxierRepository+" (or command ipvs-proxier)")
}

// agent is the running node agent.
type agent struct {
	cfg     agentConfig
	client  kubernetes.Interface
	podCIDR netip.Prefix

	mu sync.Mutex
	// running holds what runs for each Pod, by UID.
	running map[types.UID]*podRuntime
	// byName finds the newest runtime of namespace/name, for the log endpoint.
	byName map[string]*podRuntime
	ips    *ipAllocator
	queue  workqueue.TypedRateLimitingInterface[string]
	lister cache.Store
	nodes  cache.Store
	// workers are the further nodes this agent started, by name.
	workers map[string]*worker
	// assumed remembers where bind placed pods until the informer shows it, so pods
	// created together spread (the scheduler's assume cache).
	assumed map[types.UID]string

	// firstKubeProxyReady is set once this node's kube-proxy has been Ready; until then, or
	// until holdWorkersUntil, bind holds the further nodes' kube-proxy pods (conntrackGate).
	firstKubeProxyReady bool
	holdWorkersUntil    time.Time

	proxyOnce      sync.Once
	proxyTransport http.RoundTripper
	proxyErr       error
}

func run(ctx context.Context, cfg agentConfig) error {
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", cfg.kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	a := &agent{
		cfg:     cfg,
		client:  client,
		running: map[types.UID]*podRuntime{},
		byName:  map[string]*podRuntime{},
		queue:   workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		workers: map[string]*worker{},
		assumed: map[types.UID]string{},
	}
	if err := os.MkdirAll(filepath.Join(cfg.stateDir, "logs"), 0o755); err != nil {
		return err
	}
	// Commands run through the exec endpoint find what the provider installs in
	// /usr/local/bin (ipvsdump, curl) as on a kind node; the lab's /init leaves it out.
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:"+os.Getenv("PATH"))
	linkCurl()

	// The node network comes first: moving the address to the bridge would cut the
	// connections the agent opens next.
	if err := a.startWorkers(ctx); err != nil {
		a.stopWorkers()
		return err
	}
	defer a.stopWorkers()

	srvErr := make(chan error, 2)
	go func() { srvErr <- a.serve(ctx) }()
	if cfg.proxyListen != "" {
		peer, err := netip.ParseAddr(cfg.proxyPeer)
		if err != nil {
			return fmt.Errorf("--proxy-peer %q: expected an IP address: %w", cfg.proxyPeer, err)
		}
		// Listening before the node registers: a port the guest cannot bind fails the agent
		// at once, not the first pods/proxy request.
		l, err := net.Listen("tcp", cfg.proxyListen)
		if err != nil {
			return fmt.Errorf("forward proxy: %w", err)
		}
		go func() { srvErr <- serveForwardProxy(ctx, l, peer) }()
	}

	if err := a.registerNode(ctx); err != nil {
		return err
	}
	slog.Info("node registered", "node", cfg.nodeName, "podCIDR", a.podCIDR, "internalIP", cfg.nodeIP)
	a.ips = newIPAllocator(a.podCIDR)

	factory := informers.NewSharedInformerFactory(client, 0)
	nodeInf := factory.Core().V1().Nodes().Informer()
	a.nodes = nodeInf.GetStore()
	a.routeNodes(nodeInf)
	inf := factory.Core().V1().Pods().Informer()
	a.lister = inf.GetStore()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(key)
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue,
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced, nodeInf.HasSynced) {
		return errors.New("pod informer did not sync")
	}
	go a.heartbeat(ctx)
	go func() {
		<-ctx.Done()
		a.queue.ShutDown()
	}()
	for a.processNext(ctx) {
	}
	a.stopAll()
	select {
	case err := <-srvErr:
		if err != nil && ctx.Err() == nil {
			return err
		}
	default:
	}
	return nil
}

// registerNode creates the Node (or adopts it), waits for the controller manager to give
// it a podCIDR and publishes its status.
func (a *agent) registerNode(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.nodeName, Labels: map[string]string{
		"kubernetes.io/hostname": a.cfg.nodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": runtime.GOARCH,
	}}}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := nodes.Create(ctx, n, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return true, nil
		}
		slog.Warn("registering the node; retrying", "err", err)
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("register node %s: the apiserver did not accept it within 2m: %w", a.cfg.nodeName, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := nodes.Get(ctx, a.cfg.nodeName, metav1.GetOptions{})
		if err != nil || cur.Spec.PodCIDR == "" {
			return false, nil
		}
		p, err := netip.ParsePrefix(cur.Spec.PodCIDR)
		if err != nil {
			return false, fmt.Errorf("node %s podCIDR %q: %w", a.cfg.nodeName, cur.Spec.PodCIDR, err)
		}
		a.podCIDR = p
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("node %s got no podCIDR within 2m (is kube-controller-manager running with --allocate-node-cidrs?): %w", a.cfg.nodeName, err)
	}
	return a.updateNodeStatus(ctx)
}

func (a *agent) updateNodeStatus(ctx context.Context) error {
	return retryConflict(ctx, func() error {
		n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		addrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.cfg.nodeIP}}
		if a.cfg.kubeletAddress != "" {
			// The apiserver prefers Hostname addresses when it dials a kubelet: this one is
			// the host side of the forward to the agent, so `kubectl logs` works.
			addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeHostName, Address: a.cfg.kubeletAddress})
		}
		n.Status.Addresses = addrs
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(a.cfg.kubeletPort)
		n.Status.Capacity = corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		}
		n.Status.Allocatable = n.Status.Capacity
		n.Status.NodeInfo.OperatingSystem, n.Status.NodeInfo.Architecture = "linux", runtime.GOARCH
		n.Status.NodeInfo.KubeletVersion = "ipvs-nodeagent"
		n.Status.NodeInfo.KubeProxyVersion = a.cfg.kubeProxyVersion
		ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "NodeAgentReady",
			Message: "ipvs-nodeagent stands in for the kubelet", LastHeartbeatTime: now, LastTransitionTime: now}
		found := false
		for i, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					ready.LastTransitionTime = c.LastTransitionTime
				}
				n.Status.Conditions[i], found = ready, true
			}
		}
		if !found {
			n.Status.Conditions = append(n.Status.Conditions, ready)
		}
		_, err = a.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// heartbeat refreshes the Ready condition now and then, so a person reading the Node sees
// a live agent (the node lifecycle controller does not run in the lab).
func (a *agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.updateNodeStatus(ctx); err != nil && ctx.Err() == nil {
				slog.Warn("node status heartbeat failed", "err", err)
			}
		}
	}
}

func (a *agent) processNext(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	if err := a.syncPod(ctx, key); err != nil {
		if ctx.Err() == nil {
			slog.Warn("pod sync failed; retrying", "pod", key, "err", err)
		}
		a.queue.AddRateLimited(key)
		return true
	}
	a.queue.Forget(key)
	return true
}

// syncPod brings what runs for one Pod in line with its object.
func (a *agent) syncPod(ctx context.Context, key string) error {
	obj, exists, err := a.lister.GetByKey(key)
	if err != nil {
		return err
	}
	if !exists {
		a.forgetName(key)
		return nil
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" {
		return a.bind(ctx, pod)
	}
	if pod.Spec.NodeName != a.cfg.nodeName {
		return nil
	}
	rt := a.runtimeFor(pod.UID)
	if pod.DeletionTimestamp != nil {
		if rt != nil && rt.netns != nil && !a.terminated(key, pod, rt) {
			// Still in its grace period: it keeps serving, the API shows it terminating.
			return a.reportStatus(ctx, pod, rt)
		}
		if rt != nil {
			rt.stop()
			a.release(rt)
		}
		zero := int64(0)
		err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
		slog.Info("pod deleted", "pod", key)
		return nil
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	if rt == nil {
		if rt, err = a.start(ctx, pod); err != nil {
			a.reportFailed(ctx, pod, err)
			return nil
		}
	}
	return a.reportStatus(ctx, pod, rt)
}

// terminated plays SIGTERM and the grace period for a namespace pod: at the first sight of
// the deletion the pod's servers turn unready (netexec's /readyz) and keep serving for the
// image's shutdown delay, cut short by the grace period; then its "process" has exited and
// the kubelet's part is to remove the Pod and tear the namespace down.
func (a *agent) terminated(key string, pod *corev1.Pod, rt *podRuntime) bool {
	a.mu.Lock()
	if !rt.terminating() {
		delay := min(shutdownDelay(pod), gracePeriod(pod))
		rt.exitAt = time.Now().Add(delay)
		rt.nx.terminate()
		a.mu.Unlock()
		slog.Info("pod terminating", "pod", key, "servesFor", delay)
		if delay > 0 {
			time.AfterFunc(delay, func() { a.queue.Add(key) })
			return false
		}
		return true
	}
	exitAt := rt.exitAt
	a.mu.Unlock()
	return !time.Now().Before(exitAt)
}

// bind plays the scheduler for a Pod nobody placed (schedule.go).
func (a *agent) bind(ctx context.Context, pod *corev1.Pod) error {
	if !a.cfg.schedule || (pod.Spec.SchedulerName != "" && pod.Spec.SchedulerName != corev1.DefaultSchedulerName) {
		return nil
	}
	var nodes []*corev1.Node
	for _, o := range a.nodes.List() {
		nodes = append(nodes, o.(*corev1.Node))
	}
	var all []*corev1.Pod
	for _, o := range a.lister.List() {
		p := o.(*corev1.Pod)
		if to, ok := a.assumed[p.UID]; ok && p.Spec.NodeName == "" {
			p = p.DeepCopy()
			p.Spec.NodeName = to
		} else if ok {
			delete(a.assumed, p.UID)
		}
		all = append(all, p)
	}
	target, err := pickNode(pod, nodes, all)
	if err != nil {
		return fmt.Errorf("schedule pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if a.conntrackGate(pod, target) {
		a.queue.AddAfter(podKey(pod), time.Second)
		return nil
	}
	err = a.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: target},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("bind pod %s/%s to %s: %w", pod.Namespace, pod.Name, target, err)
	}
	a.assumed[pod.UID] = target
	slog.Info("pod bound", "pod", pod.Namespace+"/"+pod.Name, "node", target)
	return nil
}

// conntrackGate tells bind to hold a kube-proxy pod for a further node until the first
// node's kube-proxy has been Ready (at most 30 s). The nodes share the guest's kernel, and
// nf_conntrack_max is the kernel's one value, writable from the first node's (the initial)
// network namespace only: kube-proxy writes it at start unless it holds the value already,
// so a further node's kube-proxy that starts first fails with "permission denied", where
// on a machine of its own it would have set it. Started after the first node's, it finds
// the value set and goes on. Later restarts find it set too.
func (a *agent) conntrackGate(pod *corev1.Pod, target string) bool {
	if target == a.cfg.nodeName || !isProxy(hostProcess(pod)) {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.firstKubeProxyReady {
		return false
	}
	if a.holdWorkersUntil.IsZero() {
		a.holdWorkersUntil = time.Now().Add(30 * time.Second)
		slog.Info("holding a further node's kube-proxy pod until the first node's is Ready (nf_conntrack_max is the guest's one value)", "pod", podKey(pod), "node", target)
	}
	return time.Now().Before(a.holdWorkersUntil)
}

func (a *agent) runtimeFor(uid types.UID) *podRuntime {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.running[uid]
}

func (a *agent) release(rt *podRuntime) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.running, rt.uid)
	if rt.ip.IsValid() && rt.netns != nil {
		a.ips.release(rt.ip)
	}
}

// forgetName drops the log lookup of a Pod object that is gone.
func (a *agent) forgetName(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if rt := a.byName[key]; rt != nil {
		if _, live := a.running[rt.uid]; !live {
			delete(a.byName, key)
		}
	}
}

func (a *agent) stopAll() {
	a.mu.Lock()
	rts := make([]*podRuntime, 0, len(a.running))
	for _, rt := range a.running {
		rts = append(rts, rt)
	}
	a.mu.Unlock()
	for _, rt := range rts {
		rt.stop()
	}
}

func retryConflict(ctx context.Context, fn func() error) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = fn(); err == nil || !apierrors.IsConflict(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
