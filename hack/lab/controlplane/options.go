package controlplane

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/upstream"
)

// Loopback is the only address any component listens on.
var Loopback = netip.MustParseAddr("127.0.0.1")

// DefaultAdvertiseAddress is the host's loopback as a QEMU guest on user networking sees it.
var DefaultAdvertiseAddress = netip.MustParseAddr("10.0.2.2")

// Defaults of the cluster's address ranges (kubeadm's and kind's).
var (
	DefaultServiceCIDR = netip.MustParsePrefix("10.96.0.0/16")
	DefaultClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")
)

// DefaultControllers are the controller manager's --controllers: all of them but the node
// lifecycle controller. With no kubelet posting node status it would mark every Node
// NotReady after 40 s and then every Pod on it not ready, emptying the EndpointSlices the
// lab's kube-proxy is tested against. (kube-controller-manager has run no cloud
// controllers since 1.31, so none needs turning off for the lack of a cloud.)
var DefaultControllers = []string{"*", "-node-lifecycle-controller"}

// Binaries are the programs the control plane runs (hack/lab/upstream builds them).
type Binaries struct {
	Etcd, KubeAPIServer, KubeControllerManager string
	// EtcdRelease says Etcd is etcd's own release binary (hack/lab/upstream downloads it),
	// which takes etcd's flags, rather than the lab's etcd program built from source, which
	// takes a few of its own (upstream.Paths.EtcdIsRelease tells).
	EtcdRelease bool
}

// UpstreamBinaries are the control plane's binaries of a release in hack/lab/upstream's cache.
func UpstreamBinaries(p upstream.Paths) Binaries {
	return Binaries{
		Etcd: p.Binary(upstream.Etcd), KubeAPIServer: p.Binary(upstream.KubeAPIServer),
		KubeControllerManager: p.Binary(upstream.KubeControllerManager), EtcdRelease: p.EtcdIsRelease(),
	}
}

// Ports the components listen on, all on 127.0.0.1.
type Ports struct {
	EtcdClient, EtcdPeer, APIServer, ControllerManager int
}

// DefaultPorts are the components' usual ports.
var DefaultPorts = Ports{EtcdClient: 2379, EtcdPeer: 2380, APIServer: 6443, ControllerManager: 10257}

func (p Ports) list() []int { return []int{p.EtcdClient, p.EtcdPeer, p.APIServer, p.ControllerManager} }

// Options configure Start. Only Binaries is required.
type Options struct {
	Binaries Binaries
	// RunDir holds the PKI, kubeconfigs, logs, etcd's data and the state file. Default: a new
	// temporary folder, reported by ControlPlane.RunDir and kept after Stop for its logs.
	// etcd's data is discarded at Start and at Stop.
	RunDir string
	// AdvertiseAddress is the apiserver's --advertise-address, the endpoint of the
	// `kubernetes` Service and the server of the kube-proxy kubeconfig. Default 10.0.2.2.
	AdvertiseAddress netip.Addr
	// ServiceCIDR and ClusterCIDR default to 10.96.0.0/16 and 10.244.0.0/16.
	ServiceCIDR, ClusterCIDR netip.Prefix
	// Ports default to DefaultPorts.
	Ports Ports
	// Controllers is kube-controller-manager's --controllers; default DefaultControllers.
	Controllers []string
	// Detached leaves the components running when this process exits and ignores ctx after
	// Start returns; stop them with Stop, or from another process with StopRecorded.
	Detached bool
	// StopGrace is how long a component gets between SIGTERM and SIGKILL. Default 10s.
	StopGrace time.Duration
	// ReadyTimeout bounds each component's wait for readiness. Default 2m: on a loaded
	// 2-core host the apiserver has needed 20 s.
	ReadyTimeout time.Duration
	// APIServerEnv is added to kube-apiserver's environment ("KEY=value"): the lab cluster
	// sets HTTP_PROXY, HTTPS_PROXY and NO_PROXY there, which the apiserver's pods/proxy and
	// services/proxy transport honours, to reach the guest's pod and node addresses.
	APIServerEnv []string
	// Verbosity is the --v of the apiserver and the controller manager. Default 1.
	Verbosity int
	// Logger receives progress lines; default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	for name, path := range map[string]string{
		"etcd": o.Binaries.Etcd, "kube-apiserver": o.Binaries.KubeAPIServer, "kube-controller-manager": o.Binaries.KubeControllerManager,
	} {
		if path == "" {
			return o, fmt.Errorf("no %s binary given: build it with hack/lab/upstream (`make upstream-build`)", name)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return o, fmt.Errorf("%s binary: %w (build it with `make upstream-build`)", name, err)
		}
		if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			return o, fmt.Errorf("%s binary %s is not an executable file", name, path)
		}
	}
	if !o.AdvertiseAddress.IsValid() {
		o.AdvertiseAddress = DefaultAdvertiseAddress
	}
	if !o.ServiceCIDR.IsValid() {
		o.ServiceCIDR = DefaultServiceCIDR
	}
	if !o.ClusterCIDR.IsValid() {
		o.ClusterCIDR = DefaultClusterCIDR
	}
	if o.Ports == (Ports{}) {
		o.Ports = DefaultPorts
	}
	if len(o.Controllers) == 0 {
		o.Controllers = DefaultControllers
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	if o.Verbosity == 0 {
		o.Verbosity = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
