package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/kube-proxy/config/v1alpha1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// FeatureGateKubeProxyIPVS is kube-proxy v1.37's gate for ipvs mode (deprecated, default
// true); set to false, kube-proxy refuses mode ipvs and so does this proxier.
const FeatureGateKubeProxyIPVS = "KubeProxyIPVS"

// removedFeatureGates are gates users still carry in old manifests, with what became of them.
var removedFeatureGates = map[string]string{
	"SupportIPVSProxyMode": "IPVS mode needs no feature gate since Kubernetes v1.11",
}

// kernelSchedulers are the IPVS schedulers Linux ships (net/netfilter/ipvs/ip_vs_*.c).
var kernelSchedulers = []string{"dh", "fo", "lblc", "lblcr", "lc", "mh", "nq", "ovf", "rr", "sed", "sh", "twos", "wlc", "wrr"}

// validator converts a defaulted KubeProxyConfiguration into a Config, collecting every
// problem instead of stopping at the first.
type validator struct {
	// src maps a field path to the flag that set it, to name both in messages.
	src      map[string]string
	errs     []error
	warnings []string
}

// field names a field for a message: its path in the file, and the flag if one set it.
func (v *validator) field(path string) string {
	base, _, _ := strings.Cut(path, "[")
	if flag, ok := v.src[base]; ok {
		return path + " (--" + flag + ")"
	}
	return path
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", v.field(path), fmt.Sprintf(format, args...)))
}

func (v *validator) convert(obj *v1alpha1.KubeProxyConfiguration) Config {
	cfg := Config{
		Mode:                string(obj.Mode),
		HostnameOverride:    strings.ToLower(strings.TrimSpace(obj.HostnameOverride)),
		DetectLocalMode:     string(obj.DetectLocalMode),
		BridgeInterface:     obj.DetectLocal.BridgeInterface,
		InterfaceNamePrefix: obj.DetectLocal.InterfaceNamePrefix,
		MasqueradeAll:       obj.IPTables.MasqueradeAll,
		NodePortAddresses:   obj.NodePortAddresses,
		ConfigSyncPeriod:    obj.ConfigSyncPeriod.Duration,
		FeatureGates:        obj.FeatureGates,
		ClientConnection: ClientConnection{
			Kubeconfig:  obj.ClientConnection.Kubeconfig,
			ContentType: obj.ClientConnection.ContentType,
			QPS:         obj.ClientConnection.QPS,
			Burst:       obj.ClientConnection.Burst,
		},
		Raw: *obj,
	}
	v.mode(obj)
	v.featureGates(obj.FeatureGates)

	if a, err := parseAddr(obj.BindAddress); err != nil {
		v.errorf("bindAddress", "%q is not an IP address", obj.BindAddress)
	} else {
		cfg.BindAddress = a
	}
	cfg.HealthzBindAddress = v.hostPort("healthzBindAddress", obj.HealthzBindAddress)
	cfg.MetricsBindAddress = v.hostPort("metricsBindAddress", obj.MetricsBindAddress)
	if obj.ClientConnection.Burst < 0 {
		v.errorf("clientConnection.burst", "%d must be >= 0", obj.ClientConnection.Burst)
	}
	if obj.ConfigSyncPeriod.Duration <= 0 {
		v.errorf("configSyncPeriod", "%q must be greater than 0", obj.ConfigSyncPeriod.Duration)
	}

	if bit := *obj.IPTables.MasqueradeBit; bit < 0 || bit > 31 {
		v.errorf("iptables.masqueradeBit", "%d is outside [0, 31]", bit)
	} else {
		cfg.MasqueradeBit = int(bit)
	}
	if obj.OOMScoreAdj != nil && (*obj.OOMScoreAdj < -1000 || *obj.OOMScoreAdj > 1000) {
		v.errorf("oomScoreAdj", "%d is outside [-1000, 1000]", *obj.OOMScoreAdj)
	}

	cfg.ClusterCIDRs = v.clusterCIDRs(obj.ClusterCIDR)
	v.detectLocal(obj, len(cfg.ClusterCIDRs))
	v.nodePortAddresses(obj.NodePortAddresses)
	cfg.IPVS = v.ipvs(obj.IPVS)
	return cfg
}

func (v *validator) mode(obj *v1alpha1.KubeProxyConfiguration) {
	switch m := string(obj.Mode); m {
	case ModeIPVS:
	case "":
		v.errorf("mode", "\"\": kube-proxy reads an empty mode as iptables, and this proxier only implements ipvs; set mode: ipvs in the configuration or pass --proxy-mode=ipvs")
	case "iptables", "nftables":
		v.errorf("mode", "%q: this proxier only implements ipvs; use upstream kube-proxy for iptables or nftables", m)
	default:
		v.errorf("mode", "%q: not a kube-proxy mode on Linux (iptables, ipvs, nftables), and this proxier only implements ipvs", m)
	}
}

func (v *validator) featureGates(gates map[string]bool) {
	names := make([]string, 0, len(gates))
	for name := range gates {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case name == FeatureGateKubeProxyIPVS:
			if !gates[name] {
				v.errorf("featureGates."+name, "false disables ipvs mode in kube-proxy v1.37 (mode must then be iptables, nftables or blank); remove the gate or set it to true")
			}
		case removedFeatureGates[name] != "":
			v.warnings = append(v.warnings, fmt.Sprintf("featureGates.%s: this feature gate no longer exists (%s); ignoring it (kube-proxy v1.37 would refuse it as unrecognized)", name, removedFeatureGates[name]))
		default:
			v.warnings = append(v.warnings, fmt.Sprintf("featureGates.%s: not used by this proxier; ignoring it", name))
		}
	}
}

func (v *validator) hostPort(path, s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.errorf(path, "%q is not IP:port (e.g. \"0.0.0.0:10256\" or \"[::]:10256\")", s)
		return ""
	}
	if _, err := parseAddr(host); err != nil {
		v.errorf(path, "%q: %q is not an IP address", s, host)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		v.errorf(path, "%q: port %q is not in 1-65535", s, port)
	}
	return s
}

func (v *validator) clusterCIDRs(s string) []netip.Prefix {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		v.errorf("clusterCIDR", "%q: expected one CIDR or a dual-stack pair (IPv4,IPv6)", s)
		return nil
	}
	var out []netip.Prefix
	for i, part := range parts {
		p, err := parseCIDR(part)
		if err != nil {
			path := "clusterCIDR"
			if len(parts) > 1 {
				path = fmt.Sprintf("clusterCIDR[%d]", i)
			}
			v.errorf(path, "%q is not a CIDR (e.g. \"10.244.0.0/16\")", part)
			continue
		}
		out = append(out, p)
	}
	if len(out) == 2 && dataplane.IPFamily(out[0].Addr()) == dataplane.IPFamily(out[1].Addr()) {
		v.errorf("clusterCIDR", "%q: two CIDRs must be one IPv4 and one IPv6", s)
		return nil
	}
	return out
}

func (v *validator) detectLocal(obj *v1alpha1.KubeProxyConfiguration, clusterCIDRs int) {
	switch m := string(obj.DetectLocalMode); m {
	case DetectLocalClusterCIDR, DetectLocalNodeCIDR:
	case DetectLocalBridgeInterface:
		if obj.DetectLocal.BridgeInterface == "" {
			v.errorf("detectLocal.bridgeInterface", "must not be empty with detectLocalMode BridgeInterface")
		}
	case DetectLocalInterfaceNamePrefix:
		if obj.DetectLocal.InterfaceNamePrefix == "" {
			v.errorf("detectLocal.interfaceNamePrefix", "must not be empty with detectLocalMode InterfaceNamePrefix")
		}
	default:
		v.errorf("detectLocalMode", "%q: expected ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix", m)
	}
}

func (v *validator) nodePortAddresses(addrs []string) {
	seen := map[string]bool{}
	for i, s := range addrs {
		path := fmt.Sprintf("nodePortAddresses[%d]", i)
		switch s {
		case NodePortAddressesPrimary, NodePortAddressesLocalhost, NodePortAddressesAll:
			if seen[s] {
				v.errorf(path, "%q is given twice", s)
			}
			seen[s] = true
			continue
		}
		if _, err := parseCIDR(s); err != nil {
			v.errorf(path, "%q is not a CIDR or one of the keywords primary, localhost, all", s)
		}
	}
}

func (v *validator) ipvs(in v1alpha1.KubeProxyIPVSConfiguration) IPVS {
	out := IPVS{
		Scheduler:     in.Scheduler,
		StrictARP:     in.StrictARP,
		TCPTimeout:    in.TCPTimeout.Duration,
		TCPFinTimeout: in.TCPFinTimeout.Duration,
		UDPTimeout:    in.UDPTimeout.Duration,
		SyncPeriod:    in.SyncPeriod.Duration,
		MinSyncPeriod: in.MinSyncPeriod.Duration,
	}
	if out.Scheduler == "" {
		out.Scheduler = DefaultScheduler
	} else if strings.ContainsAny(out.Scheduler, " \t\n/") {
		v.errorf("ipvs.scheduler", "%q is not a scheduler name (e.g. rr, wrr, lc, sh, mh)", out.Scheduler)
	} else if !slices.Contains(kernelSchedulers, out.Scheduler) {
		v.warnings = append(v.warnings, fmt.Sprintf("%s: %q is not one of the schedulers Linux ships (%s); the kernel will refuse it unless a module provides it", v.field("ipvs.scheduler"), out.Scheduler, strings.Join(kernelSchedulers, ", ")))
	}
	for i, s := range in.ExcludeCIDRs {
		p, err := parseCIDR(s)
		if err != nil {
			v.errorf(fmt.Sprintf("ipvs.excludeCIDRs[%d]", i), "%q is not a CIDR", s)
			continue
		}
		out.ExcludeCIDRs = append(out.ExcludeCIDRs, p)
	}
	for _, d := range []struct {
		path string
		val  time.Duration
	}{
		{"ipvs.tcpTimeout", out.TCPTimeout},
		{"ipvs.tcpFinTimeout", out.TCPFinTimeout},
		{"ipvs.udpTimeout", out.UDPTimeout},
		{"ipvs.minSyncPeriod", out.MinSyncPeriod},
	} {
		if d.val < 0 {
			v.errorf(d.path, "%q must be >= 0", d.val)
		}
	}
	if out.SyncPeriod <= 0 {
		v.errorf("ipvs.syncPeriod", "%q must be greater than 0", out.SyncPeriod)
	} else if out.MinSyncPeriod > out.SyncPeriod {
		v.errorf("ipvs.minSyncPeriod", "%q must not exceed ipvs.syncPeriod (%s)", out.MinSyncPeriod, out.SyncPeriod)
	}
	return out
}

// parseAddr parses an IP address, rejecting zones.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zone not allowed in %q", s)
	}
	return a.Unmap(), nil
}

// parseCIDR parses a CIDR and clears host bits (kube-proxy accepts "10.0.0.1/8").
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}
