// Package config turns a kube-proxy configuration (a KubeProxyConfiguration file, the
// kube-proxy command-line flags, or both) into the validated configuration of this
// project's IPVS proxier. It decodes strictly, defaults as kube-proxy v1.37 does and reports
// every problem with the field (or flag) it came from.
package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// ModeIPVS is the only proxy mode this proxier implements.
const ModeIPVS = "ipvs"

// DefaultScheduler is the IPVS scheduler used when none is configured, as in kube-proxy.
const DefaultScheduler = "rr"

// SchedulerDefaultedMessage is logged (at info) when the scheduler is defaulted. It is
// kube-proxy's message word for word, because users search for it (kubernetes#76717).
const SchedulerDefaultedMessage = "IPVS scheduler not specified, use rr by default"

// Detect-local modes: how the proxier tells traffic from this cluster's pods from the rest.
const (
	DetectLocalClusterCIDR         = "ClusterCIDR"
	DetectLocalNodeCIDR            = "NodeCIDR"
	DetectLocalBridgeInterface     = "BridgeInterface"
	DetectLocalInterfaceNamePrefix = "InterfaceNamePrefix"
)

// NodePortAddresses keywords, as kube-proxy accepts them.
const (
	NodePortAddressesPrimary   = "primary"
	NodePortAddressesLocalhost = "localhost"
	NodePortAddressesAll       = "all"
)

// Config is the proxier's configuration after decoding, defaulting and validation.
type Config struct {
	// Mode is always ModeIPVS in a validated Config.
	Mode string
	// ClientConnection is how to reach the API server.
	ClientConnection ClientConnection
	// HostnameOverride is the node name to use instead of the hostname, lower-cased.
	HostnameOverride string
	// BindAddress is kube-proxy's idea of the node's primary IP; the unspecified address
	// (0.0.0.0, the default, or ::) means "ask the Node object".
	BindAddress netip.Addr
	// HealthzBindAddress and MetricsBindAddress are host:port.
	HealthzBindAddress string
	MetricsBindAddress string
	// ClusterCIDRs are the pod CIDRs (at most one per family).
	ClusterCIDRs []netip.Prefix
	// DetectLocalMode is one of the DetectLocal* constants; BridgeInterface and
	// InterfaceNamePrefix go with the modes of the same name.
	DetectLocalMode     string
	BridgeInterface     string
	InterfaceNamePrefix string
	// MasqueradeAll SNATs all traffic sent to Service cluster IPs.
	MasqueradeAll bool
	// MasqueradeBit is the fwmark bit (0-31) that marks packets for SNAT.
	MasqueradeBit int
	// NodePortAddresses are CIDRs and keywords (primary, localhost, all) selecting the node
	// addresses NodePorts listen on; empty means all of them. See NodePortPrefixes.
	NodePortAddresses []string
	IPVS              IPVS
	// ConfigSyncPeriod is the informers' resync period.
	ConfigSyncPeriod time.Duration
	// FeatureGates are as written; only KubeProxyIPVS changes what this proxier does.
	FeatureGates map[string]bool
	// Cleanup asks the binary to remove everything kube-proxy's IPVS mode programmed and exit.
	Cleanup bool
	// InitOnly (--init-only) asks the binary to prepare the kernel (sysctls, conntrack,
	// IPVS timeouts) and exit, as kube-proxy --init-only does.
	InitOnly bool
	// Conntrack are the netfilter conntrack sysctls to set at start.
	Conntrack Conntrack
	// OOMScoreAdj is written to /proc/self/oom_score_adj at start.
	OOMScoreAdj int
	// Logging is how the binary logs.
	Logging Logging
	// EnableProfiling serves Go's profiles on /debug/pprof/ of the metrics server.
	EnableProfiling bool
	// BindAddressHardFail makes a health or metrics server that cannot listen fatal; when
	// false, the server is retried every 5 seconds, as in kube-proxy.
	BindAddressHardFail bool
	// ShowHiddenMetricsForVersion is validated as kube-proxy does; this proxier has no
	// hidden metrics, so it changes nothing else.
	ShowHiddenMetricsForVersion string
}

// Conntrack is the conntrack section after defaulting: kube-proxy's meaning, with zero
// meaning "leave the kernel's value" for every field.
type Conntrack struct {
	// MaxPerCore and Min size nf_conntrack_max: max(MaxPerCore*CPUs, Min), capped at
	// 1048576; MaxPerCore 0 leaves nf_conntrack_max (and Min) alone.
	MaxPerCore int32
	Min        int32
	// TCPEstablishedTimeout, TCPCloseWaitTimeout, UDPTimeout and UDPStreamTimeout set
	// nf_conntrack_tcp_timeout_established, _tcp_timeout_close_wait, _udp_timeout and
	// _udp_timeout_stream in whole seconds.
	TCPEstablishedTimeout time.Duration
	TCPCloseWaitTimeout   time.Duration
	UDPTimeout            time.Duration
	UDPStreamTimeout      time.Duration
	// TCPBeLiberal sets nf_conntrack_tcp_be_liberal to 1; false leaves it.
	TCPBeLiberal bool
}

// Log formats, as component-base names them.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Logging is the logging section after defaulting and validation.
type Logging struct {
	// Format is LogFormatText (klog's text) or LogFormatJSON (log/slog's JSON handler).
	Format string
	// FlushFrequency is how often buffered text logs are flushed.
	FlushFrequency time.Duration
	// Verbosity is klog's -v; in JSON, V(n) lines are written when n <= Verbosity.
	Verbosity int
	// VModule is klog's -vmodule ("pattern=N,..."), text format only.
	VModule string
}

// ClientConnection is how the proxier talks to the API server.
type ClientConnection struct {
	// Kubeconfig is the path to a kubeconfig file; "" means the in-cluster configuration.
	Kubeconfig string
	// Master (--master) overrides the API server address of the kubeconfig.
	Master             string
	AcceptContentTypes string
	ContentType        string
	QPS                float32
	Burst              int32
}

// IPVS holds the ipvs section of the configuration.
type IPVS struct {
	// Scheduler is the IPVS scheduler of every virtual server ("rr" when not configured).
	Scheduler string
	// ExcludeCIDRs are address ranges whose virtual servers the proxier never deletes when
	// cleaning up. They change nothing else (see proxy/README.md).
	ExcludeCIDRs []netip.Prefix
	// StrictARP sets arp_ignore=1 and arp_announce=2 on all interfaces.
	StrictARP bool
	// TCPTimeout, TCPFinTimeout and UDPTimeout are the IPVS connection timeouts; zero keeps
	// the kernel's value, as `ipvsadm --set` does.
	TCPTimeout    time.Duration
	TCPFinTimeout time.Duration
	UDPTimeout    time.Duration
	// SyncPeriod is the longest time between full syncs; MinSyncPeriod the shortest.
	SyncPeriod    time.Duration
	MinSyncPeriod time.Duration
}

// PrimaryFamily is 6 when BindAddress is an IPv6 address (including ::) and 4 otherwise,
// the way kube-proxy picks its default health and metrics addresses.
func (c Config) PrimaryFamily() int {
	if c.BindAddress.Is6() && !c.BindAddress.Is4In6() {
		return 6
	}
	return 4
}

// ClusterCIDR returns the cluster CIDR of one family (4 or 6).
func (c Config) ClusterCIDR(family int) (netip.Prefix, bool) {
	for _, p := range c.ClusterCIDRs {
		if dataplane.IPFamily(p.Addr()) == family {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// ExcludeCIDRsFor returns the excludeCIDRs of one family, as each single-family proxier
// of kube-proxy keeps only its own.
func (c Config) ExcludeCIDRsFor(family int) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range c.IPVS.ExcludeCIDRs {
		if dataplane.IPFamily(p.Addr()) == family {
			out = append(out, p)
		}
	}
	return out
}

// NodePortPrefixes expands NodePortAddresses for one family the way kube-proxy does:
// "primary" is nodeIP (when valid, of that family and not loopback), "localhost" the
// loopback range, "all" everything; CIDRs of the other family are dropped, and an empty
// result means every address (0.0.0.0/0 or ::/0).
func (c Config) NodePortPrefixes(family int, nodeIP netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	add := func(p netip.Prefix) {
		if dataplane.IPFamily(p.Addr()) == family && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, s := range c.NodePortAddresses {
		switch s {
		case NodePortAddressesPrimary:
			if nodeIP.IsValid() && !nodeIP.IsLoopback() {
				add(netip.PrefixFrom(nodeIP, nodeIP.BitLen()))
			}
		case NodePortAddressesLocalhost:
			add(netip.MustParsePrefix("127.0.0.0/8"))
			add(netip.MustParsePrefix("::1/128"))
		case NodePortAddressesAll:
			add(netip.MustParsePrefix("0.0.0.0/0"))
			add(netip.MustParsePrefix("::/0"))
		default:
			if p, err := netip.ParsePrefix(s); err == nil {
				add(p.Masked())
			}
		}
	}
	if len(out) == 0 {
		if family == 6 {
			return []netip.Prefix{netip.MustParsePrefix("::/0")}
		}
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	}
	// A zero CIDR covers the rest, as in kube-proxy.
	for _, p := range out {
		if p.Bits() == 0 {
			return []netip.Prefix{p}
		}
	}
	return out
}

// String renders the settings worth a log line at startup.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode=%s scheduler=%s masqueradeAll=%t masqueradeBit=%d", c.Mode, c.IPVS.Scheduler, c.MasqueradeAll, c.MasqueradeBit)
	fmt.Fprintf(&b, " clusterCIDRs=%v nodePortAddresses=%v excludeCIDRs=%v strictARP=%t", c.ClusterCIDRs, c.NodePortAddresses, c.IPVS.ExcludeCIDRs, c.IPVS.StrictARP)
	fmt.Fprintf(&b, " syncPeriod=%s minSyncPeriod=%s", c.IPVS.SyncPeriod, c.IPVS.MinSyncPeriod)
	return b.String()
}
