// Package e2e is what the Ginkgo suites share: the run's configuration (flags, each with an
// IPVS_E2E_* environment variable), the cluster's life cycle through whichever
// cluster.Provider was chosen, clients, reading a node's dataplane, traffic from nodes and
// from the host, per-node artifacts on failure, and the terminal summary. The suites only
// see a Provider; which one runs is a flag.
package e2e

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
)

// How kube-proxy reaches ipvs mode: the seed's two methods.
const (
	// SwitchAtCreation starts the cluster in ipvs mode (method 1).
	SwitchAtCreation = "creation"
	// SwitchByConfigMap starts it in iptables mode and edits the ConfigMap (method 2).
	SwitchByConfigMap = "configmap"
)

// Config is one run's settings.
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
}

// flags binds the configuration to flags of fs, each defaulting to its environment
// variable; the suites bind them to the test binary's flags.
func (c *Config) flags(fs *flag.FlagSet, suite string) {
	fs.StringVar(&c.Provider, "e2e.provider", env("IPVS_E2E_PROVIDER", "kind"), "cluster provider (IPVS_E2E_PROVIDER); registered: "+fmt.Sprint(cluster.Names()))
	fs.StringVar(&c.ClusterName, "e2e.cluster", env("IPVS_E2E_CLUSTER", cluster.DefaultName+"-"+suite), "cluster name (IPVS_E2E_CLUSTER)")
	fs.StringVar(&c.KubernetesVersion, "e2e.k8s-version", env("IPVS_E2E_K8S_VERSION", ""), "Kubernetes version, e.g. 1.36 (IPVS_E2E_K8S_VERSION); empty: the provider's default")
	fs.StringVar(&c.NodeImage, "e2e.node-image", env("IPVS_E2E_NODE_IMAGE", ""), "node image, overrides the version's (IPVS_E2E_NODE_IMAGE)")
	fs.StringVar(&c.Switch, "e2e.switch", env("IPVS_E2E_SWITCH", SwitchAtCreation), "how kube-proxy gets to ipvs: creation (method 1) or configmap (method 2) (IPVS_E2E_SWITCH)")
	fs.StringVar(&c.Scheduler, "e2e.scheduler", env("IPVS_E2E_SCHEDULER", ""), "kube-proxy ipvs.scheduler at creation, e.g. wrr (IPVS_E2E_SCHEDULER); empty: rr, as in the seed")
	fs.BoolVar(&c.Reuse, "e2e.reuse", envBool("IPVS_E2E_REUSE"), "reuse an existing cluster of that name (IPVS_E2E_REUSE)")
	fs.BoolVar(&c.KeepOnFailure, "e2e.keep-on-failure", envBool("IPVS_E2E_KEEP_ON_FAILURE"), "keep the cluster when specs fail (IPVS_E2E_KEEP_ON_FAILURE)")
	fs.BoolVar(&c.DeleteOnInterrupt, "e2e.delete-on-interrupt", envBoolDefault("IPVS_E2E_DELETE_ON_INTERRUPT", true), "delete the cluster on Ctrl-C (IPVS_E2E_DELETE_ON_INTERRUPT)")
	fs.BoolVar(&c.KeepLeftovers, "e2e.keep-leftovers", envBool("IPVS_E2E_KEEP_LEFTOVERS"), "after a ConfigMap switch, report the iptables-mode chains but do not clean them (IPVS_E2E_KEEP_LEFTOVERS)")
	fs.StringVar(&c.IPVSDump, "e2e.ipvsdump", env("IPVS_E2E_IPVSDUMP", defaultIPVSDump()), "static ipvsdump binary to copy into the nodes (IPVS_E2E_IPVSDUMP)")
	fs.StringVar(&c.Artifacts, "e2e.artifacts", env("IPVS_E2E_ARTIFACTS", defaultArtifacts()), "artifacts directory (IPVS_E2E_ARTIFACTS)")
	fs.DurationVar(&c.Timeout, "e2e.timeout", envDuration("IPVS_E2E_TIMEOUT", 3*time.Minute), "bound of each wait (IPVS_E2E_TIMEOUT)")
}

// validate checks the settings before anything is created.
func (c Config) validate() error {
	var errs []error
	if c.Switch != SwitchAtCreation && c.Switch != SwitchByConfigMap {
		errs = append(errs, fmt.Errorf("switch %q: expected %q (method 1) or %q (method 2)", c.Switch, SwitchAtCreation, SwitchByConfigMap))
	}
	if c.Artifacts == "" {
		errs = append(errs, errors.New("artifacts directory: expected a path"))
	}
	return errors.Join(errs...)
}

// ExpectedScheduler is the scheduler the virtual servers must show.
func (c Config) ExpectedScheduler() string {
	if c.Scheduler == "" {
		return "rr"
	}
	return c.Scheduler
}

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
	}
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func envBool(key string) bool { return envBoolDefault(key, false) }

func envBoolDefault(key string, def bool) bool {
	v, err := strconv.ParseBool(os.Getenv(key))
	if err != nil {
		return def
	}
	return v
}

func envDuration(key string, def time.Duration) time.Duration {
	d, err := time.ParseDuration(os.Getenv(key))
	if err != nil {
		return def
	}
	return d
}

func defaultIPVSDump() string  { return cluster.CheckoutPath("bin", "ipvsdump") }
func defaultArtifacts() string { return cluster.CheckoutPath("artifacts") }
