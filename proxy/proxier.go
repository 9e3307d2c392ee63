package proxy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/desired"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
)

// Options are what a Proxier needs.
type Options struct {
	Config   config.Config
	NodeName string
	Client   kubernetes.Interface
	Kernel   *kernel.Kernel
	// Families are the address families to proxy (4, 6 or both); empty means the primary
	// family of the configuration plus the other one when the node has a global address of
	// it (see DetectFamilies).
	Families []int
	// Metrics and Health; nil means new ones.
	Metrics *Metrics
	Health  *Health
	// ServiceHealthAddresses are where health check node ports listen; empty means as
	// kube-proxy: nodePortAddresses' node addresses, or every address.
	ServiceHealthAddresses []netip.Addr
	// RetryInterval is the first backoff after a failed sync (default 1 s).
	RetryInterval time.Duration
	// APIGate, when Client's transport is wrapped with it, holds the informers' requests
	// while the API server is away, so that they list again as soon as it is back.
	APIGate *APIGate
	Logger  klog.Logger
}

// Proxier watches Services, EndpointSlices and its Node and keeps the kernel programmed.
type Proxier struct {
	cfg         config.Config
	nodeName    string
	client      kubernetes.Interface
	k           *kernel.Kernel
	log         klog.Logger
	metrics     *Metrics
	health      *Health
	reconcilers map[int]*Reconciler
	families    []int
	runner      *runner
	apiGate     *APIGate
	// serviceHealth answers the health check node ports.
	serviceHealth      *ServiceHealthServers
	serviceHealthAddrs []netip.Addr

	mu       sync.Mutex
	services map[types.NamespacedName]*corev1.Service
	// slices indexes EndpointSlices by the Service they belong to, sorted by name (a
	// Service has a few; a map per Service would cost more than its slices' pointers).
	slices      map[types.NamespacedName][]*discoveryv1.EndpointSlice
	node        nodeEnv
	initialized bool
	// dirty names the Services whose object or slices changed since the last sync.
	dirty map[types.NamespacedName]bool
	// started is when the proxier was made. Trigger times from before it are changes an
	// earlier proxier programmed (the informers' first list brings every slice): left out
	// of the latency metric, as kube-proxy's EndpointsChangeTracker leaves them.
	started time.Time
	// triggers are, per family and Service, the last-change-trigger-time annotations of
	// the family's EndpointSlices changed since that family last synced successfully: one
	// network programming latency observation each, as kube-proxy makes them.
	triggers map[int]map[types.NamespacedName][]time.Time
	// servicesPending names the Services changed since a sync last took the changes (the
	// service_changes_pending gauge counts them; endpoint_changes_pending counts slice
	// changes, as kube-proxy's trackers do).
	servicesPending map[types.NamespacedName]bool
	// udpServices are the Services with a UDP port as of the last sync, so that a change
	// that removes the port (or the Service) still asks for a conntrack cleanup.
	udpServices map[types.NamespacedName]bool
	// conntrackPending names the UDP Services changed since the last conntrack cleanup.
	conntrackPending []types.NamespacedName

	// Owned by the sync goroutine.
	syncMu   sync.Mutex
	lastFull time.Time
	needFull bool
	// bgRead is the periodic full sync's kernel read while it runs (resync.go).
	bgRead    *backgroundRead
	nodeAddrs []netip.Addr
	asm       map[int]*assembly
	// healthChecks are the Services that get a health check node port.
	healthChecks map[types.NamespacedName]ServiceHealthCheck
}

// New builds a Proxier; nothing is read or changed until Run.
func New(opts Options) (*Proxier, error) {
	if err := checkKernel(opts.Kernel); err != nil {
		return nil, err
	}
	if opts.Client == nil {
		return nil, errors.New("proxier needs a Kubernetes client")
	}
	if opts.NodeName == "" {
		return nil, errors.New("proxier needs the node name (--hostname-override or the hostname)")
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = klog.Background()
	}
	p := &Proxier{
		cfg:         opts.Config,
		nodeName:    opts.NodeName,
		client:      opts.Client,
		apiGate:     opts.APIGate,
		k:           opts.Kernel,
		log:         log,
		metrics:     opts.Metrics,
		health:      opts.Health,
		reconcilers: map[int]*Reconciler{},
		services:    map[types.NamespacedName]*corev1.Service{},
		slices:      map[types.NamespacedName][]*discoveryv1.EndpointSlice{},
		dirty:       map[types.NamespacedName]bool{},
		started:     time.Now(),
		triggers:    map[int]map[types.NamespacedName][]time.Time{},
		udpServices: map[types.NamespacedName]bool{},
		needFull:    true,
		asm:         map[int]*assembly{},

		servicesPending: map[types.NamespacedName]bool{},

		serviceHealthAddrs: opts.ServiceHealthAddresses,
		healthChecks:       map[types.NamespacedName]ServiceHealthCheck{},
	}
	if p.metrics == nil {
		p.metrics = NewMetrics()
	}
	if p.health == nil {
		p.health = NewHealth(2*opts.Config.IPVS.SyncPeriod, 0, nil)
	}
	p.serviceHealth = NewServiceHealthServers(p.health, log)
	p.families = opts.Families
	if len(p.families) == 0 {
		fams, err := DetectFamilies(opts.Kernel, opts.Config)
		if err != nil {
			return nil, err
		}
		p.families = fams
	}
	for _, fam := range p.families {
		r, err := NewReconciler(opts.Kernel, ReconcilerOptions{Family: fam, ExcludeCIDRs: opts.Config.ExcludeCIDRsFor(fam), Logger: log})
		if err != nil {
			return nil, err
		}
		p.reconcilers[fam] = r
		p.asm[fam] = newAssembly(fam)
		p.triggers[fam] = map[types.NamespacedName][]time.Time{}
	}
	period := opts.Config.IPVS.SyncPeriod
	if period <= 0 {
		period = 30 * time.Second
	}
	p.runner = newRunner(p.syncAndRecord, opts.Config.IPVS.MinSyncPeriod, opts.RetryInterval, period)
	// What is changed by hand on the node is repaired by the next full sync: at most one
	// period after the last one, however many partial syncs came between.
	p.runner.due = func() time.Duration {
		p.syncMu.Lock()
		defer p.syncMu.Unlock()
		if p.lastFull.IsZero() || p.bgRead != nil {
			// No full sync yet (the first comes when asked for), or its kernel read is
			// running: the read's end asks for the sync that finishes it.
			return period
		}
		return period - time.Since(p.lastFull)
	}
	return p, nil
}

// Metrics returns the proxier's metrics.
func (p *Proxier) Metrics() *Metrics { return p.metrics }

// Health returns the proxier's health tracker.
func (p *Proxier) Health() *Health { return p.health }

// sysctlDisableIPv6 is 1 when IPv6 is switched off; it is missing without kernel IPv6.
const sysctlDisableIPv6 = "net/ipv6/conf/all/disable_ipv6"

// DetectFamilies returns the configuration's primary family, plus the other family when
// the kernel has it enabled and that family's iptables answers. This is kube-proxy's rule
// (platformCheckSupported): it does not look at the node's addresses, which a node that
// boots before IPv6 autoconfiguration finishes does not have yet, and a proxier that
// looked would then run single-stack depending on how fast it started.
func DetectFamilies(k *kernel.Kernel, cfg config.Config) ([]int, error) {
	primary := cfg.PrimaryFamily()
	fams := []int{primary}
	other := 10 - primary
	if other == 6 {
		v, err := k.Sysctl.Get(sysctlDisableIPv6)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			klog.InfoS("No kernel support for family", "ipFamily", familyLabel(other))
			return fams, nil
		case err != nil:
			return nil, fmt.Errorf("read %s to decide whether to proxy IPv6: %w", sysctlDisableIPv6, err)
		case strings.TrimSpace(v) == "1":
			klog.InfoS("Kernel support disabled for family", "ipFamily", familyLabel(other))
			return fams, nil
		}
	}
	if _, err := k.IPTables.Save(iptables.Family(other), "nat"); err != nil {
		klog.InfoS("Not proxying the node's other address family: its iptables does not answer", "ipFamily", familyLabel(other), "err", err)
		return fams, nil
	}
	return append(fams, other), nil
}

// nodeAddresses lists the node's addresses NodePorts may use: every address outside
// kube-ipvs0 that is neither loopback nor IPv6 link-local.
func nodeAddresses(readLinks func() ([]dataplane.Link, error)) ([]netip.Addr, error) {
	links, err := readLinks()
	if err != nil {
		return nil, fmt.Errorf("list the node's addresses: %w", err)
	}
	var out []netip.Addr
	for _, l := range links {
		if l.Name == dataplane.KubeIPVSInterface {
			continue
		}
		for _, p := range l.Addrs {
			a := p.Addr()
			if a.IsLoopback() || (a.Is6() && a.IsLinkLocalUnicast()) {
				continue
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// Run starts the informers, waits for them to sync, then syncs until ctx ends.
func (p *Proxier) Run(ctx context.Context) error {
	p.log.Info("Using ipvs Proxier", "families", p.families, "node", p.nodeName)
	notProxied, err := labels.NewRequirement(desired.LabelServiceProxyName, selection.DoesNotExist, nil)
	if err != nil {
		return err
	}
	notHeadless, err := labels.NewRequirement(desired.LabelHeadless, selection.DoesNotExist, nil)
	if err != nil {
		return err
	}
	selector := labels.NewSelector().Add(*notProxied, *notHeadless).String()
	factory := informers.NewSharedInformerFactoryWithOptions(p.client, p.cfg.ConfigSyncPeriod,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }),
		informers.WithTransform(trimForCache))
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(p.client, p.cfg.ConfigSyncPeriod,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.nodeName).String()
		}))

	svcInformer := factory.Core().V1().Services().Informer()
	sliceInformer := factory.Discovery().V1().EndpointSlices().Informer()
	nodeInformer := nodeFactory.Core().V1().Nodes().Informer()
	svcReg, err := svcInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { p.onService(obj, false) },
		UpdateFunc: func(old, obj any) {
			if !resync(old, obj) {
				p.onService(obj, false)
			}
		},
		DeleteFunc: func(obj any) { p.onService(obj, true) },
	})
	if err != nil {
		return err
	}
	sliceReg, err := sliceInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { p.onSlice(nil, obj, false) },
		UpdateFunc: func(old, obj any) {
			if !resync(old, obj) {
				p.onSlice(old, obj, false)
			}
		},
		DeleteFunc: func(obj any) { p.onSlice(nil, obj, true) },
	})
	if err != nil {
		return err
	}
	nodeReg, err := nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { p.onNode(obj, false) },
		UpdateFunc: func(_, obj any) { p.onNode(obj, false) },
		DeleteFunc: func(obj any) { p.onNode(obj, true) },
	})
	if err != nil {
		return err
	}

	synced := make(chan struct{})
	if probe := readyzProbe(p.client); probe != nil {
		reach := newAPIReach(p.log, probe)
		reach.gate = p.apiGate
		p.apiGate.notify(reach.note)
		for _, inf := range []cache.SharedIndexInformer{svcInformer, sliceInformer, nodeInformer} {
			if err := inf.SetWatchErrorHandlerWithContext(reach.watchError); err != nil {
				return err
			}
		}
		go reach.run(ctx, synced)
	}
	factory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	defer factory.Shutdown()
	defer nodeFactory.Shutdown()
	// Wait for the handlers, not only the caches: an informer's cache holds the initial
	// list before its handlers have delivered it, and a first sync then covers part of the
	// Services (seen at 10,000 in the lab). The Node is waited for too (its list is one
	// object, or none): its addresses and pod CIDRs feed every Service.
	if !cache.WaitForCacheSync(ctx.Done(), svcReg.HasSynced, sliceReg.HasSynced, nodeReg.HasSynced) {
		return fmt.Errorf("waiting for the Service, EndpointSlice and Node informers to sync: %w", context.Cause(ctx))
	}
	close(synced)
	p.mu.Lock()
	p.initialized = true
	p.mu.Unlock()
	defer p.serviceHealth.Close()
	p.runner.Run()
	p.runner.Loop(ctx)
	return nil
}

// resync tells an informer's periodic resync (the same object delivered again) from a real
// update, which alone needs the Service recomputed.
func resync(old, obj any) bool {
	o, ok1 := old.(metav1.Object)
	n, ok2 := obj.(metav1.Object)
	return ok1 && ok2 && o.GetResourceVersion() != "" && o.GetResourceVersion() == n.GetResourceVersion()
}

func (p *Proxier) onService(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = t.Obj, true
	}
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	p.mu.Lock()
	if deleted {
		delete(p.services, key)
	} else {
		p.services[key] = svc
	}
	p.dirty[key] = true
	p.servicesPending[key] = true
	p.metrics.ServicesPending.Set(float64(len(p.servicesPending)))
	p.mu.Unlock()
	p.metrics.ServiceChanges.Inc()
	p.queue()
}

// sliceService names the Service a slice belongs to (its kubernetes.io/service-name label).
func sliceService(s *discoveryv1.EndpointSlice) (types.NamespacedName, bool) {
	name := s.Labels[discoveryv1.LabelServiceName]
	return types.NamespacedName{Namespace: s.Namespace, Name: name}, name != ""
}

func (p *Proxier) onSlice(old, obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = t.Obj, true
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.queue()
	defer p.mu.Unlock()
	p.metrics.EndpointChanges.Inc()
	// A slice moved to another Service leaves the old one.
	if o, ok := old.(*discoveryv1.EndpointSlice); ok {
		if oldSvc, ok := sliceService(o); ok {
			if newSvc, _ := sliceService(s); newSvc != oldSvc {
				p.removeSlice(oldSvc, o.Name)
			}
		}
	}
	svc, ok := sliceService(s)
	if !ok {
		p.log.V(2).Info("Ignoring EndpointSlice without the kubernetes.io/service-name label", "endpointSlice", klog.KObj(s))
		return
	}
	p.metrics.EndpointsPending.Inc()
	p.noteTrigger(svc, s, deleted)
	if deleted {
		p.removeSlice(svc, s.Name)
		return
	}
	list := p.slices[svc]
	if i, found := slices.BinarySearchFunc(list, s.Name, compareSliceName); found {
		list[i] = s
	} else {
		p.slices[svc] = slices.Insert(list, i, s)
	}
	p.dirty[svc] = true
}

// noteTrigger keeps a changed slice's endpoints.kubernetes.io/last-change-trigger-time for
// the network programming latency of its family, as kube-proxy's EndpointsChangeTracker
// does: times from before the proxier started are left out, and a deleted slice drops its
// Service's pending times (a deletion's annotation dates from the last update, not from
// the deletion). Called with p.mu held.
func (p *Proxier) noteTrigger(svc types.NamespacedName, s *discoveryv1.EndpointSlice, deleted bool) {
	byService, ok := p.triggers[sliceFamily(s)]
	if !ok {
		return // FQDN, or a family not proxied
	}
	if deleted {
		delete(byService, svc)
		return
	}
	v, ok := s.Annotations[corev1.EndpointsLastChangeTriggerTime]
	if !ok {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.log.Error(err, "Ignoring an unparsable trigger time in the network programming latency",
			"endpointSlice", klog.KObj(s), "annotation", corev1.EndpointsLastChangeTriggerTime, "value", v)
		return
	}
	if t.After(p.started) {
		byService[svc] = append(byService[svc], t)
	}
}

// sliceFamily is the address family of a slice's endpoints; 0 for FQDN ones.
func sliceFamily(s *discoveryv1.EndpointSlice) int {
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4:
		return 4
	case discoveryv1.AddressTypeIPv6:
		return 6
	}
	return 0
}

func (p *Proxier) removeSlice(svc types.NamespacedName, name string) {
	deleteSorted(p.slices, svc, name, compareSliceName)
	p.dirty[svc] = true
}

// compareSliceName orders a Service's EndpointSlices by name.
func compareSliceName(s *discoveryv1.EndpointSlice, name string) int {
	return strings.Compare(s.Name, name)
}

func (p *Proxier) onNode(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = t.Obj, true
	}
	n, ok := obj.(*corev1.Node)
	if !ok || n.Name != p.nodeName {
		return
	}
	if deleted {
		p.health.SetNode(nil)
		return
	}
	p.health.SetNode(n)
	env := nodeEnvFrom(n)
	p.mu.Lock()
	changed := !reflect.DeepEqual(p.node, env)
	p.node = env
	p.mu.Unlock()
	if changed {
		p.queue()
	}
}

// queue asks for a sync once the informers have synced.
func (p *Proxier) queue() {
	p.mu.Lock()
	ready := p.initialized
	p.mu.Unlock()
	if !ready {
		return
	}
	p.health.Queued()
	now := float64(time.Now().UnixNano()) / 1e9
	for _, fam := range p.families {
		p.metrics.LastQueued.WithLabelValues(familyLabel(fam)).Set(now)
	}
	p.runner.Run()
}

// syncAndRecord runs one sync and records its outcome in health and metrics.
func (p *Proxier) syncAndRecord() error {
	err := p.Sync()
	if err != nil {
		p.health.Failed(err)
		p.log.Error(err, "Sync failed; retrying with backoff")
		return err
	}
	p.health.Synced()
	return nil
}

// Sync computes the desired dataplane from the informers' view and reconciles every
// family. Only the Services whose object or EndpointSlices changed are recomputed (every
// one at start and when the node or the configuration changed). A full sync re-reads the
// kernel and makes it hold the whole desired state; otherwise only the kernel objects the
// changed Services touch are compared and changed, so the work follows the change, not
// the cluster. At start and after a failed sync the full sync reads the kernel itself;
// the periodic one, every syncPeriod, has it read in the background while partial syncs
// go on, and the first sync after the read reconciles against it (resync.go).
func (p *Proxier) Sync() error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	start := time.Now()
	period := p.cfg.IPVS.SyncPeriod
	full := p.needFull || period <= 0
	var bg *backgroundRead
	switch {
	case full:
		// After a failure (or at start) the kernel is read now, under syncMu: what the
		// failed calls left is unknown until then.
		p.dropBackgroundRead()
	case p.bgRead != nil:
		if p.bgRead.finished() {
			full, bg, p.bgRead = true, p.bgRead, nil
		}
	case start.Sub(p.lastFull) >= period:
		// The periodic full sync reads the kernel beside the partial syncs; this sync is a
		// partial one, and the one after the read reconciles everything (resync.go).
		p.bgRead = startBackgroundRead(p.k, p.reconcilers, p.runner.Run)
	}
	var snap *kernelSnapshot
	if full {
		// One read of the kernel for every family's reconciler (and the node addresses).
		if bg != nil {
			snap = bg.snap
			defer bg.restoreHeap()
		} else {
			defer boundHeapForFullSync()()
			snap = newKernelSnapshot(p.k)
		}
		for _, r := range p.reconcilers {
			r.snapshot = snap
		}
		defer func() {
			for _, r := range p.reconcilers {
				r.snapshot = nil
			}
		}()
	}
	if full || p.nodeAddrs == nil {
		// Node addresses change rarely; reading every link (kube-ipvs0 holds one address
		// per Service) on each sync would cost more than the change itself.
		readLinks := p.k.Links.Links
		if snap != nil {
			readLinks = snap.Links
		}
		addrs, err := nodeAddresses(readLinks)
		if err != nil {
			p.needFull = true
			p.dropBackgroundRead()
			return err
		}
		p.nodeAddrs = addrs
	}

	p.mu.Lock()
	if !p.initialized {
		p.mu.Unlock()
		p.log.V(2).Info("Not syncing ipvs rules until Services and EndpointSlices have been received from the API server")
		return nil
	}
	envs := map[int]desired.Input{}
	// Services are recomputed when they change (the informers say which) or when the
	// node or the configuration does; a full sync re-reads the kernel and applies the
	// whole desired state, which needs no recomputing to be complete.
	rebuild := false
	for _, fam := range p.families {
		envs[fam] = p.envInput(fam)
		rebuild = rebuild || p.asm[fam].stale(envs[fam])
	}
	p.noteConntrackChanges()
	in, triggers := p.takeChanges(rebuild)
	p.mu.Unlock()

	var read time.Duration // a background read's part of a full sync
	if bg != nil {
		read = bg.elapsed
	}
	var errs []error
	for _, fam := range p.families {
		if err := p.syncFamily(fam, full, rebuild, envs[fam], in, read); err != nil {
			errs = append(errs, err)
			p.requeueTriggers(fam, triggers[fam])
			continue
		}
		p.observeProgramming(fam, triggers[fam])
	}
	// Health checks follow the Services even when the kernel failed them: the answer
	// carries the proxier's health besides.
	p.syncServiceHealth(envs, in)
	if len(errs) > 0 {
		// The next sync reads the kernel itself: a read begun before this one failed
		// cannot tell what the failed calls left.
		p.needFull = true
		p.dropBackgroundRead()
		return errors.Join(errs...)
	}
	if full {
		p.lastFull = start
		if bg != nil {
			p.lastFull = bg.started // drift is seen from when the read began
		}
	}
	p.needFull = false
	p.cleanConntrack()
	p.log.V(3).Info("syncProxyRules complete", "full", full, "elapsed", time.Since(start))
	return nil
}

// lastAppliedAnnotation is kubectl's copy of the applied object: as large as the object
// and never read by a proxier.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// trimForCache drops what the proxier never reads from the Services and EndpointSlices
// its informers keep: managed fields and kubectl's last-applied copy are often most of an
// object's size, and the caches hold every Service and slice of the cluster.
func trimForCache(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a[lastAppliedAnnotation] != "" {
			delete(a, lastAppliedAnnotation)
		}
	}
	return obj, nil
}

// envInput is what desired.Env is built from for a family: node, addresses, configuration.
// Called with p.mu held.
func (p *Proxier) envInput(fam int) desired.Input {
	var addrs []netip.Addr
	for _, a := range p.nodeAddrs {
		if dataplane.IPFamily(a) == fam {
			addrs = append(addrs, a)
		}
	}
	return desired.Input{
		NodeName:      p.nodeName,
		NodeLabels:    p.node.labels,
		NodeIP:        p.node.nodeIP(fam, p.cfg.BindAddress),
		NodePodCIDRs:  p.node.podCIDRs,
		NodeAddresses: addrs,
		Family:        fam,
		Config:        p.cfg,
	}
}

// takeChanges collects, under p.mu, the Services to recompute (every one when all is set)
// and the trigger times of each family, and resets the change tracking.
func (p *Proxier) takeChanges(all bool) (serviceInputs, map[int]map[types.NamespacedName][]time.Time) {
	in := serviceInputs{all: all, services: map[types.NamespacedName]*corev1.Service{}, slices: map[types.NamespacedName][]*discoveryv1.EndpointSlice{}}
	add := func(nn types.NamespacedName) {
		svc := p.services[nn]
		in.services[nn] = svc
		if svc == nil {
			return
		}
		// A copy: the informers' handlers change the index while the sync reads this.
		in.slices[nn] = slices.Clone(p.slices[nn])
	}
	if all {
		for nn := range p.services {
			add(nn)
		}
	} else {
		for nn := range p.dirty {
			add(nn)
		}
	}
	p.dirty = map[types.NamespacedName]bool{}
	clear(p.servicesPending)
	p.metrics.ServicesPending.Set(0)
	p.metrics.EndpointsPending.Set(0)
	triggers := p.triggers
	p.triggers = map[int]map[types.NamespacedName][]time.Time{}
	for fam := range triggers {
		p.triggers[fam] = map[types.NamespacedName][]time.Time{}
	}
	return in, triggers
}

// syncFamily computes and reconciles one family and records its metrics. read is the
// time a full sync's background kernel read took, part of the full sync's duration.
func (p *Proxier) syncFamily(fam int, full, rebuild bool, env desired.Input, in serviceInputs, read time.Duration) error {
	start := time.Now()
	label := familyLabel(fam)
	asm, r := p.asm[fam], p.reconcilers[fam]
	var stats SyncStats
	var err error
	if rebuild {
		result := asm.rebuild(env, in)
		for _, s := range result.Skipped {
			p.log.V(4).Info("Skipped", "ipFamily", label, "what", s.String())
		}
		stats, err = r.Sync(&result.State, full)
	} else if full {
		_, skipped := asm.update(in)
		for _, s := range skipped {
			p.log.V(4).Info("Skipped", "ipFamily", label, "what", s.String())
		}
		result := asm.assembled()
		stats, err = r.Sync(&result.State, true)
	} else {
		delta, skipped := asm.update(in)
		for _, s := range skipped {
			p.log.V(4).Info("Skipped", "ipFamily", label, "what", s.String())
		}
		if delta.Empty() {
			p.metrics.LastSync.WithLabelValues(label).SetToCurrentTime()
			p.metrics.setNoLocalEndpoints(fam, asm.noLocalInternal, asm.noLocalExternal)
			return nil
		}
		stats, err = r.Apply(delta)
	}
	elapsed := (time.Since(start) + read).Seconds()
	p.metrics.SyncDuration.WithLabelValues(label).Observe(elapsed)
	if full {
		p.metrics.FullSyncDuration.WithLabelValues(label).Observe(elapsed)
	} else {
		p.metrics.PartialSyncDuration.WithLabelValues(label).Observe(elapsed)
	}
	p.metrics.setProgrammed(fam, stats.Programmed)
	for _, t := range asm.rules.Tables {
		p.metrics.IPTablesRules.WithLabelValues(t.Name, label).Set(float64(asm.rules.RuleCount(t.Name)))
	}
	if err != nil {
		var se *SyncError
		if errors.As(err, &se) {
			for _, f := range se.Failures {
				if f.Op == "iptables-restore" {
					p.metrics.RestoreFailures.WithLabelValues(label).Inc()
				}
			}
		}
		p.metrics.SyncErrors.WithLabelValues(label).Inc()
		return err
	}
	p.metrics.LastSync.WithLabelValues(label).SetToCurrentTime()
	p.metrics.setNoLocalEndpoints(fam, asm.noLocalInternal, asm.noLocalExternal)
	p.log.V(2).Info("Synced ipvs rules", "ipFamily", label, "full", full, "changes", stats.Changes,
		"virtualServers", stats.Programmed.VirtualServers, "realServers", stats.Programmed.RealServers, "elapsed", time.Since(start))
	return nil
}

// observeProgramming records the network programming latency of each trigger time a
// family's successful sync applied.
func (p *Proxier) observeProgramming(fam int, triggers map[types.NamespacedName][]time.Time) {
	h := p.metrics.NetworkProgramming.WithLabelValues(familyLabel(fam))
	for svc, times := range triggers {
		for _, t := range times {
			latency := time.Since(t)
			h.Observe(latency.Seconds())
			p.log.V(4).Info("Network programming", "service", svc, "ipFamily", familyLabel(fam), "elapsed", latency)
		}
	}
}

// requeueTriggers keeps the trigger times of a family whose sync failed for its next
// sync, ahead of those that came since: the change is programmed only then.
func (p *Proxier) requeueTriggers(fam int, triggers map[types.NamespacedName][]time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for svc, times := range triggers {
		p.triggers[fam][svc] = append(times, p.triggers[fam][svc]...)
	}
}
