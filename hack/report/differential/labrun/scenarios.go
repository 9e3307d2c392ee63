// Package labrun runs the differential report's scenarios on a lab cluster
// (framework/cluster/lab) and captures the node's dataplane after each step: one cluster
// per proxy, the scenarios one after the other, each in its own namespace, in steps:
// create, change (when the scenario has one), delete. After the delete step the node must
// be the baseline again. Workloads are applied with the suites' own code
// (fixtures.Backend, the seed's decoder options); Services come from manifests/diff with
// their ClusterIPs and NodePorts pinned. Diff is a whole differential run: the proxies'
// captures written to a directory, then the report from them.
package labrun

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/e2e-framework/klient/decoder"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"

	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
	diffmanifests "github.com/ipvs-e2e/ipvs-e2e/manifests/diff"
)

// Scenario is one workload, applied into its own namespace in Steps.
type Scenario struct {
	Name        string
	Description string
	// Backends are the suites' agnhost Deployments (fixtures.Backend) it runs.
	Backends []Backend
	// Apply creates the scenario's other objects in namespace ns; nil for none.
	Apply func(ctx context.Context, r *resources.Resources, ns string) error
	// Change, when set, is the scenario's change step.
	Change *Change
}

// Change edits a created scenario: what a user does to a running Service.
type Change struct {
	Description string
	Apply       func(ctx context.Context, r *resources.Resources, ns string) error
}

// Backend is one fixtures.Backend Deployment.
type Backend struct {
	Name     string
	Replicas int32
}

// Baseline is the scenario without objects: the cluster's own kubernetes Service. Its
// state is also what every scenario's cleanup must return the node to.
const Baseline = "baseline"

// SeedClusterIP pins the seed Service's ClusterIP, which the seed's manifest leaves to the
// API server.
const SeedClusterIP = "10.96.100.10"

// Scenarios lists the scenarios in the order they run.
func Scenarios() []Scenario {
	web := func(n int32) []Backend { return []Backend{{Name: "web", Replicas: n}} }
	return []Scenario{
		{Name: Baseline, Description: "no objects: the kubernetes Service only"},
		{Name: "seed", Description: "the seed's manifests/service-ipvs.yml: nginx Pod + NodePort 30089 (ClusterIP pinned to " + SeedClusterIP + ")",
			Apply: applySeed,
			Change: &Change{Description: "sessionAffinity ClientIP on the seed's Service", Apply: editService(fixtures.SeedServiceName, func(s *corev1.Service) {
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			})}},
		{Name: "clusterip-multiport", Description: "ClusterIP with TCP 80, TCP 8080 and UDP 5353, 2 backends", Backends: web(2), Apply: applyFile("clusterip-multiport.yaml")},
		{Name: "nodeport", Description: "NodePorts 30080 (externalTrafficPolicy Cluster) and 30081 (Local), 2 backends", Backends: web(2), Apply: applyFile("nodeport.yaml"),
			Change: &Change{Description: "web scaled from 2 to 3 backends", Apply: scale("web", 3)}},
		{Name: "externalips", Description: "ClusterIP with externalIP 203.0.113.10, 2 backends", Backends: web(2), Apply: applyFile("externalips.yaml")},
		{Name: "affinity", Description: "session affinity ClientIP, timeout 600 s, 3 backends", Backends: web(3), Apply: applyFile("affinity.yaml"),
			Change: &Change{Description: "sessionAffinity back to None", Apply: editService("sticky", func(s *corev1.Service) {
				s.Spec.SessionAffinity, s.Spec.SessionAffinityConfig = corev1.ServiceAffinityNone, nil
			})}},
		{Name: "udp", Description: "UDP NodePort 30053, 2 backends", Backends: web(2), Apply: applyFile("udp.yaml"),
			Change: &Change{Description: "the Service's port moves from 5353 to 5354 (nodePort 30053 kept)", Apply: editService("dns-like", func(s *corev1.Service) {
				s.Spec.Ports[0].Port = 5354
			})}},
		{Name: "loadbalancer", Description: "LoadBalancers with source ranges, node outside (203.0.113.20) and inside (203.0.113.21, eTP Local), 2 backends",
			Backends: web(2), Apply: applyFile("loadbalancer.yaml")},
		{Name: "headless", Description: "a headless Service and a ClusterIP Service without endpoints, 1 backend", Backends: web(1), Apply: applyFile("headless.yaml")},
	}
}

// Names lists the scenarios' names.
func Names(ss []Scenario) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

// Select returns the named scenarios in their run order; no names selects all.
func Select(all []Scenario, names []string) ([]Scenario, error) {
	if len(names) == 0 {
		return all, nil
	}
	for _, n := range names {
		if !slices.Contains(Names(all), n) {
			return nil, fmt.Errorf("scenario %q: expected one of %v", n, Names(all))
		}
	}
	var out []Scenario
	for _, s := range all {
		if slices.Contains(names, s.Name) {
			out = append(out, s)
		}
	}
	return out, nil
}

// applySeed is the seed's `kubectl apply -f service-ipvs.yml` through the suites' decoder
// options, with the ClusterIP pinned.
func applySeed(ctx context.Context, r *resources.Resources, ns string) error {
	opts := append(fixtures.SeedOptions(ns, ""), PinClusterIP(fixtures.SeedServiceName, SeedClusterIP))
	if err := decoder.DecodeEachFile(ctx, manifests.FS, manifests.ServiceIPVS, decoder.CreateHandler(r), opts...); err != nil {
		return fmt.Errorf("apply %s in namespace %s: %w", manifests.ServiceIPVS, ns, err)
	}
	return nil
}

func applyFile(name string) func(context.Context, *resources.Resources, string) error {
	return func(ctx context.Context, r *resources.Resources, ns string) error {
		if err := decoder.DecodeEachFile(ctx, diffmanifests.FS, name, decoder.CreateHandler(r), decoder.MutateNamespace(ns)); err != nil {
			return fmt.Errorf("apply manifests/diff/%s in namespace %s: %w", name, ns, err)
		}
		return nil
	}
}

// editService reads the named Service, edits it and writes it back, again when the write
// loses to another.
func editService(name string, edit func(*corev1.Service)) func(context.Context, *resources.Resources, string) error {
	return func(ctx context.Context, r *resources.Resources, ns string) error {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var s corev1.Service
			if err := r.Get(ctx, name, ns, &s); err != nil {
				return err
			}
			edit(&s)
			return r.Update(ctx, &s)
		})
		if err != nil {
			return fmt.Errorf("edit service %s/%s: %w", ns, name, err)
		}
		return nil
	}
}

// scale sets the replicas of the named Deployment.
func scale(name string, replicas int32) func(context.Context, *resources.Resources, string) error {
	return func(ctx context.Context, r *resources.Resources, ns string) error {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var d appsv1.Deployment
			if err := r.Get(ctx, name, ns, &d); err != nil {
				return err
			}
			d.Spec.Replicas = &replicas
			return r.Update(ctx, &d)
		})
		if err != nil {
			return fmt.Errorf("scale deployment %s/%s to %d: %w", ns, name, replicas, err)
		}
		return nil
	}
}

// PinClusterIP is a decoder mutation that sets the ClusterIP of the named Service.
func PinClusterIP(service, ip string) decoder.DecodeOption {
	return decoder.MutateOption(func(obj k8s.Object) error {
		if s, ok := obj.(*corev1.Service); ok && s.Name == service {
			s.Spec.ClusterIP = ip
			s.Spec.ClusterIPs = []string{ip}
		}
		return nil
	})
}
