package existing

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
)

// Need is one thing the suites do in the cluster: a verb on a resource, in a namespace
// (empty: every namespace, or a cluster-scoped resource), and why.
type Need struct {
	Verb, Group, Resource, Subresource, Namespace string
	Why                                           string
}

func (n Need) String() string {
	r := n.Resource
	if n.Group != "" {
		r += "." + n.Group
	}
	if n.Subresource != "" {
		r += "/" + n.Subresource
	}
	where := "in every namespace"
	if n.Namespace != "" {
		where = "in " + n.Namespace
	}
	return fmt.Sprintf("%s %s %s (%s)", n.Verb, r, where, n.Why)
}

// Needs lists what a run does; disruptive adds what the ConfigMap switch and the
// disruptive specs do to kube-proxy.
func Needs(disruptive bool) []Need {
	ks := kubeproxy.Namespace
	needs := []Need{
		{Verb: "list", Resource: "nodes", Why: "the nodes to check"},
		{Verb: "create", Resource: "namespaces", Why: "a namespace per suite and one for the node inspector"},
		{Verb: "delete", Resource: "namespaces", Why: "removing them at the end"},
		{Verb: "create", Resource: "pods", Why: "the tutorial's nginx Pod"},
		{Verb: "list", Resource: "pods", Why: "waiting for pods"},
		{Verb: "create", Resource: "services", Why: "the tutorial's NodePort Service"},
		{Verb: "list", Group: "discovery.k8s.io", Resource: "endpointslices", Why: "waiting for endpoints"},
		{Verb: "create", Group: "apps", Resource: "daemonsets", Why: "the node inspector"},
		{Verb: "get", Resource: "pods", Subresource: "proxy", Why: "reading a node's state through its inspector"},
		{Verb: "create", Resource: "pods", Subresource: "proxy", Why: "running the inspector's read-only commands"},
		{Verb: "get", Group: "apps", Resource: "daemonsets", Namespace: ks, Why: "which kube-proxy runs"},
		{Verb: "get", Resource: "configmaps", Namespace: ks, Why: "kube-proxy's configuration"},
		{Verb: "list", Resource: "pods", Namespace: ks, Why: "kube-proxy's pods"},
		{Verb: "get", Resource: "pods", Subresource: "log", Namespace: ks, Why: "kube-proxy's mode and deprecation in its log"},
		{Verb: "list", Resource: "events", Namespace: ks, Why: "the IPVSDeprecation event"},
	}
	if disruptive {
		needs = append(needs,
			Need{Verb: "update", Resource: "configmaps", Namespace: ks, Why: "the ConfigMap switch and its restore (-allow-disruptive)"},
			Need{Verb: "delete", Resource: "pods", Namespace: ks, Why: "restarting kube-proxy (-allow-disruptive)"},
			Need{Verb: "create", Resource: "pods", Namespace: ks, Why: "kube-proxy --cleanup on each node after the switch (-allow-disruptive)"},
			Need{Verb: "patch", Group: "apps", Resource: "daemonsets", Namespace: ks, Why: "pausing kube-proxy during the cleanup (-allow-disruptive)"},
		)
	}
	return needs
}

// CheckAccess asks the API server, for each need, whether the user may (one
// SelfSubjectAccessReview each), and lists every one denied.
func CheckAccess(ctx context.Context, c kubernetes.Interface, needs []Need) error {
	var denied []string
	for _, n := range needs {
		r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: n.Verb, Group: n.Group, Resource: n.Resource, Subresource: n.Subresource, Namespace: n.Namespace,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("asking whether the user may %s: %w", n, err)
		}
		if !r.Status.Allowed {
			why := ""
			if r.Status.Reason != "" {
				why = ": " + r.Status.Reason
			}
			denied = append(denied, n.String()+why)
		}
	}
	if len(denied) > 0 {
		return fmt.Errorf("the user may not do %d of the %d things the suites do:\n  %s\nask the cluster's admin for them, or use a context with more rights (-context)", len(denied), len(needs), strings.Join(denied, "\n  "))
	}
	return nil
}
