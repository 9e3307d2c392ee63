package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
)

// The seed's cluster, as its `kubectl get pods -o wide` and `kubectl get svc` show it: the
// store hands these out first, so the lab prints the tutorial's addresses.
const (
	SeedNode      = "node1"
	SeedPodCIDR   = "10.244.3.0/24"
	SeedPodIP     = "10.244.3.214"
	SeedClusterIP = "10.106.71.137"
	// SeedServiceCIDR is kubeadm's default --service-cluster-ip-range, which holds the
	// seed's ClusterIP.
	SeedServiceCIDR = "10.96.0.0/12"
	SeedClusterCIDR = "10.244.0.0/16"
)

// PodRuntime starts a Pod's network namespace and servers once the store has given the Pod
// its IP: what the kubelet and the CNI plugin do on a node.
type PodRuntime interface {
	Start(pod *corev1.Pod, ip netip.Addr) error
}

// Store stands in for the API server and the controllers a one-node cluster runs: it
// defaults and allocates what the API server would (ClusterIPs, NodePorts), schedules Pods
// on its node and starts them (PodRuntime), and keeps one EndpointSlice per Service, as the
// EndpointSlice controller does. Objects live in a kubernetes.Interface (client-go's fake
// clientset in the lab), which the proxier watches like any API server.
type Store struct {
	client  kubernetes.Interface
	node    string
	nodeIP  netip.Addr
	runtime PodRuntime
	now     func() time.Time

	mu         sync.Mutex
	clusterIPs *ipAllocator
	podIPs     *ipAllocator
	nextPort   int32
}

// NewStore returns a store whose Pods run on node (nodeIP) with addresses from podCIDR
// (SeedPodIP first) and whose Services get ClusterIPs from serviceCIDR (SeedClusterIP
// first).
func NewStore(client kubernetes.Interface, node string, nodeIP netip.Addr, podCIDR, serviceCIDR netip.Prefix, rt PodRuntime) (*Store, error) {
	pods, err := newIPAllocator(podCIDR, netip.MustParseAddr(SeedPodIP))
	if err != nil {
		return nil, err
	}
	svcs, err := newIPAllocator(serviceCIDR, netip.MustParseAddr(SeedClusterIP))
	if err != nil {
		return nil, err
	}
	return &Store{
		client: client, node: node, nodeIP: nodeIP, runtime: rt, now: time.Now,
		clusterIPs: svcs, podIPs: pods, nextPort: 30000,
	}, nil
}

// NodeObject is the store's Node: what kubeadm and the kubelet register.
func NodeObject(name string, ip netip.Addr, podCIDR netip.Prefix) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR.String(), PodCIDRs: []string{podCIDR.String()}},
		Status: corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}, {Type: corev1.NodeHostName, Address: name}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

// Apply does what `kubectl apply -f` of the YAML does against an API server, for Pods and
// Services, and returns kubectl's lines ("pod/nginx-test created").
func (s *Store) Apply(ctx context.Context, data []byte) ([]string, error) {
	objs, err := decodeObjects(data)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, obj := range objs {
		var line string
		switch o := obj.(type) {
		case *corev1.Pod:
			line, err = s.applyPod(ctx, o)
		case *corev1.Service:
			line, err = s.applyService(ctx, o)
		default:
			err = fmt.Errorf("the lab's object store takes Pods and Services; got a %T", obj)
		}
		if err != nil {
			return out, err
		}
		out = append(out, line)
	}
	if err := s.syncSlices(ctx); err != nil {
		return out, err
	}
	return out, nil
}

// decodeObjects reads every document of a YAML (or JSON) stream as a typed object.
func decodeObjects(data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", i+1, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decoding document %d: %w", i+1, err)
		}
		objs = append(objs, obj)
	}
	if len(objs) == 0 {
		return nil, errors.New("no objects passed to apply")
	}
	return objs, nil
}

// stripComments drops whole-line comments, so a document holding only comments counts as
// empty, as kubectl counts it.
func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			b.Write(line)
		}
	}
	return b.Bytes()
}

func namespaceOf(m *metav1.ObjectMeta) {
	if m.Namespace == "" {
		m.Namespace = metav1.NamespaceDefault
	}
}

func (s *Store) applyService(ctx context.Context, in *corev1.Service) (string, error) {
	svc := in.DeepCopy()
	namespaceOf(&svc.ObjectMeta)
	name := "service/" + svc.Name
	api := s.client.CoreV1().Services(svc.Namespace)
	old, err := api.Get(ctx, svc.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		old = nil
	case err != nil:
		return "", err
	}
	if old != nil {
		// Allocated fields stay what they were, as with a real apply of this manifest.
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
		}
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].NodePort == 0 {
				for _, op := range old.Spec.Ports {
					if op.Port == svc.Spec.Ports[i].Port && op.Protocol == defaultProtocol(svc.Spec.Ports[i].Protocol) {
						svc.Spec.Ports[i].NodePort = op.NodePort
					}
				}
			}
		}
	}
	if err := s.defaultService(ctx, svc, old); err != nil {
		return "", fmt.Errorf("the Service %q is invalid: %w", svc.Name, err)
	}
	if old == nil {
		svc.CreationTimestamp = metav1.NewTime(s.now())
		svc.UID = types.UID(fmt.Sprintf("lab-%x", hash(svc.Namespace+"/"+svc.Name)))
		if _, err := api.Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return "", err
		}
		return name + " created", nil
	}
	if reflect.DeepEqual(old.Spec, svc.Spec) && reflect.DeepEqual(old.Labels, svc.Labels) {
		return name + " unchanged", nil
	}
	svc.ObjectMeta.CreationTimestamp, svc.UID, svc.ResourceVersion = old.CreationTimestamp, old.UID, old.ResourceVersion
	if _, err := api.Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		return "", err
	}
	return name + " configured", nil
}

func defaultProtocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// defaultService fills in what the API server defaults and allocates.
func (s *Store) defaultService(ctx context.Context, svc, old *corev1.Service) error {
	sp := &svc.Spec
	if sp.Type == "" {
		sp.Type = corev1.ServiceTypeClusterIP
	}
	if sp.Type == corev1.ServiceTypeExternalName {
		return errors.New("the lab's store does not take ExternalName Services")
	}
	if sp.SessionAffinity == "" {
		sp.SessionAffinity = corev1.ServiceAffinityNone
	}
	if sp.InternalTrafficPolicy == nil {
		sp.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
	}
	external := sp.Type == corev1.ServiceTypeNodePort || sp.Type == corev1.ServiceTypeLoadBalancer
	if external && sp.ExternalTrafficPolicy == "" {
		sp.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if len(sp.Ports) == 0 {
		return errors.New("spec.ports: Required value")
	}
	used, err := s.usedNodePorts(ctx, svc)
	if err != nil {
		return err
	}
	for i := range sp.Ports {
		p := &sp.Ports[i]
		p.Protocol = defaultProtocol(p.Protocol)
		if p.TargetPort == (intstr.IntOrString{}) {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
		if !external {
			if p.NodePort != 0 {
				return fmt.Errorf("spec.ports[%d].nodePort: Forbidden: may not be used when `type` is '%s'", i, sp.Type)
			}
			continue
		}
		key := fmt.Sprintf("%s/%d", p.Protocol, p.NodePort)
		switch {
		case p.NodePort == 0:
			p.NodePort = s.allocateNodePort(used, p.Protocol)
		case p.NodePort < 30000 || p.NodePort > 32767:
			return fmt.Errorf("spec.ports[%d].nodePort: Invalid value: %d: provided port is not in the valid range. The range of valid ports is 30000-32767", i, p.NodePort)
		case used[key]:
			return fmt.Errorf("spec.ports[%d].nodePort: Invalid value: %d: provided port is already allocated", i, p.NodePort)
		}
		used[fmt.Sprintf("%s/%d", p.Protocol, p.NodePort)] = true
	}
	if sp.ClusterIP == corev1.ClusterIPNone {
		sp.ClusterIPs = []string{corev1.ClusterIPNone}
	} else if sp.ClusterIP == "" {
		ip, err := s.clusterIPs.allocate()
		if err != nil {
			return fmt.Errorf("spec.clusterIP: %w", err)
		}
		sp.ClusterIP, sp.ClusterIPs = ip.String(), []string{ip.String()}
	} else if old == nil {
		ip, err := netip.ParseAddr(sp.ClusterIP)
		if err != nil {
			return fmt.Errorf("spec.clusterIP: Invalid value: %q: must be a valid IP address", sp.ClusterIP)
		}
		if err := s.clusterIPs.claim(ip); err != nil {
			return fmt.Errorf("spec.clusterIP: %w", err)
		}
		sp.ClusterIPs = []string{ip.String()}
	}
	if len(sp.IPFamilies) == 0 {
		sp.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	if sp.IPFamilyPolicy == nil {
		sp.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
	}
	return nil
}

// usedNodePorts lists the NodePorts of every other Service as "PROTO/port".
func (s *Store) usedNodePorts(ctx context.Context, except *corev1.Service) (map[string]bool, error) {
	list, err := s.client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, o := range list.Items {
		if o.Namespace == except.Namespace && o.Name == except.Name {
			continue
		}
		for _, p := range o.Spec.Ports {
			if p.NodePort != 0 {
				used[fmt.Sprintf("%s/%d", p.Protocol, p.NodePort)] = true
			}
		}
	}
	return used, nil
}

func (s *Store) allocateNodePort(used map[string]bool, proto corev1.Protocol) int32 {
	for range 32768 - 30000 {
		p := s.nextPort
		s.nextPort++
		if s.nextPort > 32767 {
			s.nextPort = 30000
		}
		if !used[fmt.Sprintf("%s/%d", proto, p)] {
			return p
		}
	}
	return 0
}

func (s *Store) applyPod(ctx context.Context, in *corev1.Pod) (string, error) {
	pod := in.DeepCopy()
	namespaceOf(&pod.ObjectMeta)
	name := "pod/" + pod.Name
	api := s.client.CoreV1().Pods(pod.Namespace)
	old, err := api.Get(ctx, pod.Name, metav1.GetOptions{})
	switch {
	case err == nil:
		if reflect.DeepEqual(containerImages(old), containerImages(pod)) && reflect.DeepEqual(old.Labels, pod.Labels) {
			return name + " unchanged", nil
		}
		return "", fmt.Errorf("the Pod %q is invalid: spec: Forbidden: the lab's store does not update Pods; delete and re-create it", pod.Name)
	case !apierrors.IsNotFound(err):
		return "", err
	}
	if len(pod.Spec.Containers) == 0 {
		return "", fmt.Errorf("the Pod %q is invalid: spec.containers: Required value", pod.Name)
	}
	ip, err := s.podIPs.allocate()
	if err != nil {
		return "", fmt.Errorf("pod %s: no address left in the node's pod CIDR: %w", pod.Name, err)
	}
	// The scheduler's part: this store has one node.
	pod.Spec.NodeName = s.node
	now := metav1.NewTime(s.now())
	pod.CreationTimestamp = now
	pod.UID = types.UID(fmt.Sprintf("lab-%x", hash(pod.Namespace+"/"+pod.Name)))
	// The kubelet's part: start it, then report it running and ready.
	if err := s.runtime.Start(pod, ip); err != nil {
		s.podIPs.release(ip)
		return "", fmt.Errorf("starting pod %s: %w", pod.Name, err)
	}
	pod.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    s.nodeIP.String(),
		HostIPs:   []corev1.HostIP{{IP: s.nodeIP.String()}},
		PodIP:     ip.String(),
		PodIPs:    []corev1.PodIP{{IP: ip.String()}},
		StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		},
	}
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if _, err := api.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	return name + " created", nil
}

func containerImages(p *corev1.Pod) []string {
	var out []string
	for _, c := range p.Spec.Containers {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}

// syncSlices is the EndpointSlice controller's work: one IPv4 slice per Service with a
// selector, holding the ready Pods it selects.
func (s *Store) syncSlices(ctx context.Context) error {
	svcs, err := s.client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	pods, err := s.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		want := SliceFor(svc, pods.Items, s.now())
		api := s.client.DiscoveryV1().EndpointSlices(svc.Namespace)
		old, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err := api.Create(ctx, want, metav1.CreateOptions{}); err != nil {
				return err
			}
		case err != nil:
			return err
		case !reflect.DeepEqual(old.Endpoints, want.Endpoints) || !reflect.DeepEqual(old.Ports, want.Ports):
			want.ResourceVersion = old.ResourceVersion
			if _, err := api.Update(ctx, want, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// SliceFor computes the EndpointSlice of a Service over the Pods: the running, ready Pods of
// its namespace that its selector matches, ordered by address, with each port's target
// resolved (a named targetPort through the container ports of the first selected Pod).
func SliceFor(svc *corev1.Service, pods []corev1.Pod, now time.Time) *discoveryv1.EndpointSlice {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var picked []corev1.Pod
	for _, p := range pods {
		if p.Namespace == svc.Namespace && sel.Matches(labels.Set(p.Labels)) && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			picked = append(picked, p)
		}
	}
	slices.SortFunc(picked, func(a, b corev1.Pod) int {
		return netip.MustParseAddr(a.Status.PodIP).Compare(netip.MustParseAddr(b.Status.PodIP))
	})
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: svc.Namespace,
			Name:      svc.Name + "-" + suffix(svc.Namespace+"/"+svc.Name),
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
			},
			Annotations:     map[string]string{corev1.EndpointsLastChangeTriggerTime: now.UTC().Format(time.RFC3339Nano)},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID, Controller: ptr.To(true)}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, sp := range svc.Spec.Ports {
		port := sp.TargetPort.IntVal
		if sp.TargetPort.Type == intstr.String {
			port = 0
			if len(picked) > 0 {
				port = namedPort(&picked[0], sp.TargetPort.StrVal, sp.Protocol)
			}
		}
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Protocol: ptr.To(sp.Protocol), Port: ptr.To(port)})
	}
	for _, p := range picked {
		ready := podReady(&p)
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
			NodeName:   ptr.To(p.Spec.NodeName),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		})
	}
	return es
}

func namedPort(p *corev1.Pod, name string, proto corev1.Protocol) int32 {
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == name && defaultProtocol(cp.Protocol) == proto {
				return cp.ContainerPort
			}
		}
	}
	return 0
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// suffix is a stable five-letter name suffix in the alphabet of the API server's
// generateName.
func suffix(s string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	h := hash(s)
	var b strings.Builder
	for range 5 {
		b.WriteByte(alphabet[h%uint64(len(alphabet))])
		h /= uint64(len(alphabet))
	}
	return b.String()
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// ipAllocator hands out the addresses of a prefix: the free preferred ones first (the
// seed's), then the prefix's addresses in order, skipping the network and broadcast
// addresses and taken ones.
type ipAllocator struct {
	prefix    netip.Prefix
	preferred []netip.Addr
	next      netip.Addr
	taken     map[netip.Addr]bool
}

func newIPAllocator(p netip.Prefix, preferred ...netip.Addr) (*ipAllocator, error) {
	p = p.Masked()
	for _, a := range preferred {
		if !p.Contains(a) {
			return nil, fmt.Errorf("address %s is outside %s", a, p)
		}
	}
	return &ipAllocator{prefix: p, preferred: preferred, next: p.Addr().Next(), taken: map[netip.Addr]bool{}}, nil
}

func (a *ipAllocator) allocate() (netip.Addr, error) {
	// Preferred addresses stay preferred while free, also after a release.
	for _, ip := range a.preferred {
		if !a.taken[ip] {
			a.taken[ip] = true
			return ip, nil
		}
	}
	// From where the last allocation stopped to the end, then from the start: released
	// addresses are reused once the range has been gone through.
	first := a.prefix.Addr().Next()
	for _, from := range []netip.Addr{a.next, first} {
		for ip := from; a.prefix.Contains(ip); ip = ip.Next() {
			if !a.taken[ip] && ip.Next().IsValid() && a.prefix.Contains(ip.Next()) { // not the broadcast address
				a.taken[ip] = true
				a.next = ip.Next()
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("range %s is full", a.prefix)
}

func (a *ipAllocator) claim(ip netip.Addr) error {
	if !a.prefix.Contains(ip) {
		return fmt.Errorf("Invalid value: %q: provided IP is not in the valid range %s", ip, a.prefix)
	}
	if a.taken[ip] {
		return fmt.Errorf("Invalid value: %q: provided IP is already allocated", ip)
	}
	a.taken[ip] = true
	return nil
}

func (a *ipAllocator) release(ip netip.Addr) { delete(a.taken, ip) }
