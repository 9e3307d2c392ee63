package config

import (
	"fmt"
	"math"
	"mime"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	componentbaseconfigv1alpha1 "k8s.io/component-base/config/v1alpha1"
	logsapi "k8s.io/component-base/logs/api/v1"
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

// usedFeatureGates are the gates besides KubeProxyIPVS that change what this proxier does.
var usedFeatureGates = []string{FeatureGateAllowServiceExternalIPs, FeatureGateLoggingBetaOptions}

// Feature gates this proxier reads.
const (
	// FeatureGateAllowServiceExternalIPs false stops externalIPs from being proxied.
	FeatureGateAllowServiceExternalIPs = "AllowServiceExternalIPs"
	// FeatureGateLoggingBetaOptions false refuses logging.format json, as component-base does.
	FeatureGateLoggingBetaOptions = "LoggingBetaOptions"
)

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
			Kubeconfig:         obj.ClientConnection.Kubeconfig,
			AcceptContentTypes: obj.ClientConnection.AcceptContentTypes,
			ContentType:        obj.ClientConnection.ContentType,
			QPS:                obj.ClientConnection.QPS,
			Burst:              obj.ClientConnection.Burst,
		},
		OOMScoreAdj:                 int(*obj.OOMScoreAdj),
		EnableProfiling:             obj.EnableProfiling,
		BindAddressHardFail:         obj.BindAddressHardFail,
		ShowHiddenMetricsForVersion: obj.ShowHiddenMetricsForVersion,
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
	v.clientConnection(obj.ClientConnection)
	v.showHiddenMetrics(obj.ShowHiddenMetricsForVersion)
	if obj.ConfigSyncPeriod.Duration <= 0 {
		v.errorf("configSyncPeriod", "%q must be greater than 0", obj.ConfigSyncPeriod.Duration)
	}

	if bit := *obj.IPTables.MasqueradeBit; bit < 0 || bit > 31 {
		v.errorf("iptables.masqueradeBit", "%d is outside [0, 31]", bit)
	} else {
		cfg.MasqueradeBit = int(bit)
	}
	if adj := *obj.OOMScoreAdj; adj < -1000 || adj > 1000 {
		v.errorf("oomScoreAdj", "%d is outside [-1000, 1000]", adj)
	}
	cfg.Conntrack = v.conntrack(obj.Conntrack)
	cfg.Logging = v.logging(obj.Logging, obj.FeatureGates)
	v.unusedInIPVSMode(obj)

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
		case slices.Contains(usedFeatureGates, name):
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

// The content types client-go can send to the API server.
var requestContentTypes = []string{"application/vnd.kubernetes.protobuf", "application/json"}

// ShowHiddenMetricsVersion is the one value showHiddenMetricsForVersion may take besides
// "": the minor version before the kube-proxy release whose behaviour this proxier follows.
const ShowHiddenMetricsVersion = "1.36"

func (v *validator) clientConnection(c componentbaseconfigv1alpha1.ClientConnectionConfiguration) {
	if c.Burst < 0 {
		v.errorf("clientConnection.burst", "%d must be >= 0", c.Burst)
	}
	if !slices.Contains(requestContentTypes, c.ContentType) {
		v.errorf("clientConnection.contentType", "%q: expected %s", c.ContentType, strings.Join(requestContentTypes, " or "))
	}
	if c.AcceptContentTypes != "" {
		for _, t := range strings.Split(c.AcceptContentTypes, ",") {
			if _, _, err := mime.ParseMediaType(strings.TrimSpace(t)); err != nil {
				v.errorf("clientConnection.acceptContentTypes", "%q: %q is not a media type (expected a comma-separated list such as \"application/vnd.kubernetes.protobuf,application/json\")", c.AcceptContentTypes, t)
			}
		}
	}
}

func (v *validator) showHiddenMetrics(s string) {
	if s != "" && s != ShowHiddenMetricsVersion {
		v.errorf("showHiddenMetricsForVersion", "%q: expected %q (the previous minor version) or nothing, as kube-proxy v1.37 allows", s, ShowHiddenMetricsVersion)
	}
}

// conntrack checks the defaulted conntrack section. Timeouts are written in whole seconds,
// so a positive value under a second (kube-proxy would write 0) is refused.
func (v *validator) conntrack(in v1alpha1.KubeProxyConntrackConfiguration) Conntrack {
	out := Conntrack{
		MaxPerCore:   *in.MaxPerCore,
		Min:          *in.Min,
		TCPBeLiberal: in.TCPBeLiberal,
	}
	if out.MaxPerCore < 0 {
		v.errorf("conntrack.maxPerCore", "%d must be >= 0 (0 leaves nf_conntrack_max as it is)", out.MaxPerCore)
	}
	if out.Min < 0 {
		v.errorf("conntrack.min", "%d must be >= 0", out.Min)
	}
	for _, d := range []struct {
		path string
		val  metav1.Duration
		to   *time.Duration
	}{
		{"conntrack.tcpEstablishedTimeout", *in.TCPEstablishedTimeout, &out.TCPEstablishedTimeout},
		{"conntrack.tcpCloseWaitTimeout", *in.TCPCloseWaitTimeout, &out.TCPCloseWaitTimeout},
		{"conntrack.udpTimeout", in.UDPTimeout, &out.UDPTimeout},
		{"conntrack.udpStreamTimeout", in.UDPStreamTimeout, &out.UDPStreamTimeout},
	} {
		switch val := d.val.Duration; {
		case val < 0:
			v.errorf(d.path, "%q must be >= 0 (0 leaves the kernel's value)", val)
		case val > 0 && val < time.Second:
			v.errorf(d.path, "%q is under a second: the sysctl takes whole seconds; give 0 to leave it or at least 1s", val)
		case val/time.Second > math.MaxInt32:
			v.errorf(d.path, "%q is too long for the sysctl (at most %ds)", val, math.MaxInt32)
		default:
			*d.to = val
		}
	}
	return out
}

// logging checks the defaulted logging section the way component-base's logsapi.Validate
// does, and refuses what this proxier cannot do.
func (v *validator) logging(in logsapi.LoggingConfiguration, gates map[string]bool) Logging {
	out := Logging{Format: in.Format, FlushFrequency: in.FlushFrequency.Duration.Duration}
	switch in.Format {
	case LogFormatText:
	case LogFormatJSON:
		if on, set := gates[FeatureGateLoggingBetaOptions]; set && !on {
			v.errorf("logging.format", "%q is disabled by featureGates.%s: false, as in kube-proxy; remove the gate or use text", in.Format, FeatureGateLoggingBetaOptions)
		}
	default:
		v.errorf("logging.format", "%q: expected text or json", in.Format)
	}
	if out.FlushFrequency <= 0 {
		v.errorf("logging.flushFrequency", "%q must be greater than 0", out.FlushFrequency)
	}
	if in.Verbosity > math.MaxInt32 {
		v.errorf("logging.verbosity", "%d must be <= %d", in.Verbosity, math.MaxInt32)
	} else {
		out.Verbosity = int(in.Verbosity)
	}
	if len(in.VModule) > 0 && in.Format != LogFormatText {
		v.errorf("logging.vmodule", "only works with logging.format text (found %q), as in kube-proxy", in.Format)
	}
	for i, item := range in.VModule {
		path := fmt.Sprintf("logging.vmodule[%d]", i)
		if item.FilePattern == "" || strings.ContainsAny(item.FilePattern, "=,") {
			v.errorf(path+".filePattern", "%q: expected a non-empty file pattern without '=' or ','", item.FilePattern)
		}
		if item.Verbosity > math.MaxInt32 {
			v.errorf(path+".verbosity", "%d must be <= %d", item.Verbosity, math.MaxInt32)
		}
	}
	vmodule := in.VModule
	out.VModule = logsapi.VModuleConfigurationPflag(&vmodule).String()

	for _, o := range []struct {
		path string
		opts logsapi.OutputRoutingOptions
	}{{"logging.options.text", in.Options.Text.OutputRoutingOptions}, {"logging.options.json", in.Options.JSON.OutputRoutingOptions}} {
		if o.opts.SplitStream {
			v.errorf(o.path+".splitStream", "true is not supported: this proxier writes every log line to stderr; remove it")
		}
		if o.opts.InfoBufferSize.Value() != 0 {
			v.errorf(o.path+".infoBufferSize", "%q is not supported: info lines are not buffered apart; remove it or give 0", o.opts.InfoBufferSize.String())
		}
	}
	return out
}

// PortRangeWarning is kube-proxy's deprecation notice for --proxy-port-range (portRange).
const PortRangeWarning = "This flag has no effect and will be removed in a future release."

// unusedInIPVSMode warns about fields kube-proxy v1.37 in ipvs mode on Linux ignores too,
// when they hold something other than kube-proxy's default: the user may expect an effect.
func (v *validator) unusedInIPVSMode(obj *v1alpha1.KubeProxyConfiguration) {
	warn := func(path string, val any, why string) {
		v.warnings = append(v.warnings, fmt.Sprintf("%s: %v has no effect in ipvs mode (%s); ignoring it", v.field(path), val, why))
	}
	otherDuration := func(d metav1.Duration, def time.Duration) bool { return d.Duration != 0 && d.Duration != def }
	if p := obj.IPTables.LocalhostNodePorts; p != nil {
		warn("iptables.localhostNodePorts", *p, "NodePorts are never served on localhost in ipvs mode")
	}
	if otherDuration(obj.IPTables.SyncPeriod, 30*time.Second) {
		warn("iptables.syncPeriod", obj.IPTables.SyncPeriod.Duration, "ipvs mode uses ipvs.syncPeriod")
	}
	if otherDuration(obj.IPTables.MinSyncPeriod, time.Second) {
		warn("iptables.minSyncPeriod", obj.IPTables.MinSyncPeriod.Duration, "ipvs mode uses ipvs.minSyncPeriod")
	}
	nft := obj.NFTables
	if nft.MasqueradeBit != nil && *nft.MasqueradeBit != 14 {
		warn("nftables.masqueradeBit", *nft.MasqueradeBit, "ipvs mode uses iptables.masqueradeBit")
	}
	if nft.MasqueradeAll {
		warn("nftables.masqueradeAll", true, "ipvs mode uses iptables.masqueradeAll")
	}
	if otherDuration(nft.SyncPeriod, 30*time.Second) {
		warn("nftables.syncPeriod", nft.SyncPeriod.Duration, "ipvs mode uses ipvs.syncPeriod")
	}
	if otherDuration(nft.MinSyncPeriod, time.Second) {
		warn("nftables.minSyncPeriod", nft.MinSyncPeriod.Duration, "ipvs mode uses ipvs.minSyncPeriod")
	}
	const windows = "it is for kube-proxy on Windows"
	wk := obj.Winkernel
	for _, f := range []struct {
		path string
		set  bool
		val  any
	}{
		{"winkernel.networkName", wk.NetworkName != "", wk.NetworkName},
		{"winkernel.sourceVip", wk.SourceVip != "", wk.SourceVip},
		{"winkernel.enableDSR", wk.EnableDSR, wk.EnableDSR},
		{"winkernel.rootHnsEndpointName", wk.RootHnsEndpointName != "", wk.RootHnsEndpointName},
		{"winkernel.forwardHealthCheckVip", wk.ForwardHealthCheckVip, wk.ForwardHealthCheckVip},
		{"windowsRunAsService", obj.WindowsRunAsService, obj.WindowsRunAsService},
	} {
		if f.set {
			warn(f.path, f.val, windows)
		}
	}
	if obj.PortRange != "" {
		// kube-proxy v1.37 drops the field without a word; these are the words its
		// --proxy-port-range flag, which set the field, was deprecated with.
		v.warnings = append(v.warnings, fmt.Sprintf("%s: %q: %s (it configured the userspace proxier, removed in Kubernetes v1.26); ignoring it", v.field("portRange"), obj.PortRange, PortRangeWarning))
	}
}
