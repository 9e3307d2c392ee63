package labe2e

import (
	"context"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
)

// nodeObject is node1 as the API server holds it: the node address, the pod CIDR.
func nodeObject() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{corev1.LabelHostname: nodeName}},
		Spec:       corev1.NodeSpec{PodCIDR: podCIDR, PodCIDRs: []string{podCIDR}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: nodeIP},
			{Type: corev1.NodeHostName, Address: nodeName},
		}},
	}
}

// service is a ClusterIP Service of one TCP port selecting app=<name>, with the cluster IP
// and what the API server fills in; edits adjust it after those are set.
func service(name, clusterIP string, port, targetPort int32, edits ...func(*corev1.Service)) *corev1.Service {
	defaulted := func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = clusterIP, []string{clusterIP}
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		s.Spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	return fixtures.Service(name, namespace, name, corev1.ServiceTypeClusterIP,
		[]corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(targetPort)}},
		append([]func(*corev1.Service){defaulted}, edits...)...)
}

// withNodePort makes the Service a NodePort one on port np.
func withNodePort(np int32) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		s.Spec.Ports[0].NodePort = np
	}
}

// withClientIPAffinity sets sessionAffinity: ClientIP with the timeout in seconds.
func withClientIPAffinity(timeout int32) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(timeout)}}
	}
}

// endpointState is how the EndpointSlice controller reports a pod: ready, or terminating
// and still serving (a pod past its deletion that has not stopped yet).
type endpointState int

const (
	ready endpointState = iota
	terminating
)

type endpoint struct {
	pod   *pods.Pod
	state endpointState
}

// endpointSlice is the slice the EndpointSlice controller writes for a Service whose pods
// run on node1, with the trigger-time annotation it sets.
func endpointSlice(svc, suffix string, port int32, eps ...endpoint) *discoveryv1.EndpointSlice {
	var endpoints []discoveryv1.Endpoint
	for _, e := range eps {
		isReady := e.state == ready
		ep := fixtures.Endpoint(e.pod.IP(4).String(), nodeName, isReady)
		// A pod that is not ready here is terminating: it still serves until it exits.
		ep.Conditions.Serving, ep.Conditions.Terminating = ptr.To(true), ptr.To(!isReady)
		ep.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: namespace, Name: e.pod.Name()}
		endpoints = append(endpoints, ep)
	}
	s := fixtures.EndpointSlice(namespace, svc+"-"+suffix, svc, fixtures.SlicePort("http", corev1.ProtocolTCP, port), endpoints...)
	s.Labels[discoveryv1.LabelManagedBy] = "endpointslice-controller.k8s.io"
	s.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: time.Now().UTC().Format(time.RFC3339Nano)}
	return s
}

// create puts Services and EndpointSlices into the API.
func (n *node) create(objs ...any) {
	n.t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			_, err = n.client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *discoveryv1.EndpointSlice:
			_, err = n.client.DiscoveryV1().EndpointSlices(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			n.t.Fatalf("create: unexpected object %T", o)
		}
		if err != nil {
			n.t.Fatal(err)
		}
	}
}

// updateSlice replaces an EndpointSlice, as the controller does when a pod's state changes.
func (n *node) updateSlice(s *discoveryv1.EndpointSlice) {
	n.t.Helper()
	if _, err := n.client.DiscoveryV1().EndpointSlices(s.Namespace).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		n.t.Fatal(err)
	}
}

// hostPort is ip:port for URLs and dialing.
func hostPort(ip string, port uint16) string {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), port).String()
}
