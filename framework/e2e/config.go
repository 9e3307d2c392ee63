// Package e2e is what the Ginkgo suites share: the run's configuration (flags, each with an
// IPVS_E2E_* environment variable, all checked before anything starts), the cluster's life cycle through whichever
// cluster.Provider was chosen, clients, reading a node's dataplane, traffic from nodes and
// from the host, per-node artifacts on failure, and the terminal summary. The suites only
// see a Provider; which one runs is a flag.
package e2e

import (
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
)

// How kube-proxy reaches ipvs mode: the seed's two methods.
const (
	// SwitchAtCreation starts the cluster in ipvs mode (method 1).
	SwitchAtCreation = "creation"
	// SwitchByConfigMap starts it in iptables mode and edits the ConfigMap (method 2).
	SwitchByConfigMap = "configmap"
)

// Config is one run's settings, as Settings.Config reads and checks them (settings.go).
type Config struct {
	Provider          string
	ClusterName       string
	KubernetesVersion string
	NodeImage         string
	Switch            string
	// Scheduler is kube-proxy's ipvs.scheduler at creation; empty keeps the seed's default (rr).
	Scheduler         string
	Reuse             bool
	KeepOnFailure     bool
	DeleteOnInterrupt bool
	// KeepLeftovers skips cleaning the chains a ConfigMap switch leaves (they are reported).
	KeepLeftovers bool
	// IPVSDump is the host path of the static ipvsdump binary copied into every node.
	IPVSDump string
	// Artifacts is the directory for JUnit XML, per-node artifacts and provider logs.
	Artifacts string
	Timeout   time.Duration

	// A cluster the project did not create (provider existing).
	Kubeconfig, Context string
	// AllowDisruptive lets specs labelled disruptive edit kube-proxy there.
	AllowDisruptive bool
	InspectorImage  string
	NodePortAddress string
}

// ExpectedScheduler is the scheduler the virtual servers must show.
func (c Config) ExpectedScheduler() string { return kubeproxy.Scheduler(c.Scheduler) }

// clusterOptions are the provider options the configuration asks for.
func (c Config) clusterOptions() cluster.Options {
	mode := cluster.ModeIPVS
	if c.Switch == SwitchByConfigMap {
		mode = cluster.ModeIPTables
	}
	return cluster.Options{
		Name:              c.ClusterName,
		KubernetesVersion: c.KubernetesVersion,
		NodeImage:         c.NodeImage,
		ProxyMode:         mode,
		IPVS:              cluster.IPVSConfig{Scheduler: c.Scheduler},
		HostNodePorts:     []int32{30089},
		Reuse:             c.Reuse,
		KeepOnFailure:     c.KeepOnFailure,
		DeleteOnInterrupt: c.DeleteOnInterrupt,
		Kubeconfig:        c.Kubeconfig,
		Context:           c.Context,
		AllowDisruptive:   c.AllowDisruptive,
		InspectorImage:    c.InspectorImage,
		NodePortAddress:   c.NodePortAddress,
	}
}
