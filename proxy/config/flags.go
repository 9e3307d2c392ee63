package config

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-proxy/config/v1alpha1"
)

// Flags are kube-proxy's command-line flags that this proxier understands, with the same
// names and meanings. Register them with AddFlags, parse, then call Resolve (or Build).
type Flags struct {
	ConfigFile         string
	Cleanup            bool
	Kubeconfig         string
	HostnameOverride   string
	BindAddress        string
	ClusterCIDR        string
	ProxyMode          string
	MasqueradeAll      bool
	MasqueradeBit      int32
	IPVSScheduler      string
	IPVSExcludeCIDRs   []string
	IPVSStrictARP      bool
	IPVSTCPTimeout     time.Duration
	IPVSTCPFinTimeout  time.Duration
	IPVSUDPTimeout     time.Duration
	IPVSSyncPeriod     time.Duration
	IPVSMinSyncPeriod  time.Duration
	HealthzBindAddress string
	MetricsBindAddress string
	NodePortAddresses  []string
	FeatureGates       string

	fs *pflag.FlagSet
}

// AddFlags registers the flags on fs; Flags remembers fs to tell which flags were given.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.ConfigFile, "config", "", "The path to a KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1). Flags given explicitly override its fields.")
	fs.BoolVar(&f.Cleanup, "cleanup", false, "If true, remove the IPVS virtual servers, kube-ipvs0, ipsets and iptables rules kube-proxy's IPVS mode creates, then exit.")
	fs.StringVar(&f.Kubeconfig, "kubeconfig", "", "Path to a kubeconfig file; empty means the in-cluster configuration.")
	fs.StringVar(&f.HostnameOverride, "hostname-override", "", "If non-empty, the name of the Node this proxier runs on (default: the hostname).")
	fs.StringVar(&f.BindAddress, "bind-address", "", "The node's primary IP; 0.0.0.0 or :: (the default) means the Node object's address.")
	fs.StringVar(&f.ClusterCIDR, "cluster-cidr", "", "The pods' CIDR range (for dual-stack, an IPv4,IPv6 pair); traffic from outside it to cluster IPs is masqueraded.")
	fs.StringVar(&f.ProxyMode, "proxy-mode", "", "Which proxy mode to use; this proxier only implements 'ipvs'.")
	fs.BoolVar(&f.MasqueradeAll, "masquerade-all", false, "SNAT all traffic sent via Service cluster IPs.")
	fs.Int32Var(&f.MasqueradeBit, "iptables-masquerade-bit", 14, "The bit of the fwmark space that marks packets for SNAT, in [0, 31].")
	fs.StringVar(&f.IPVSScheduler, "ipvs-scheduler", "", "The IPVS scheduler (default rr).")
	fs.StringSliceVar(&f.IPVSExcludeCIDRs, "ipvs-exclude-cidrs", nil, "A comma-separated list of CIDRs whose IPVS virtual servers the proxier never deletes when cleaning up.")
	fs.BoolVar(&f.IPVSStrictARP, "ipvs-strict-arp", false, "Enable strict ARP by setting arp_ignore to 1 and arp_announce to 2.")
	fs.DurationVar(&f.IPVSTCPTimeout, "ipvs-tcp-timeout", 0, "The timeout for idle IPVS TCP connections, 0 to leave as-is.")
	fs.DurationVar(&f.IPVSTCPFinTimeout, "ipvs-tcpfin-timeout", 0, "The timeout for IPVS TCP connections after a FIN, 0 to leave as-is.")
	fs.DurationVar(&f.IPVSUDPTimeout, "ipvs-udp-timeout", 0, "The timeout for IPVS UDP packets, 0 to leave as-is.")
	fs.DurationVar(&f.IPVSSyncPeriod, "ipvs-sync-period", 30*time.Second, "The longest time between full syncs. Must be greater than 0.")
	fs.DurationVar(&f.IPVSMinSyncPeriod, "ipvs-min-sync-period", 0, "The shortest time between syncs; 0 syncs on every change.")
	fs.StringVar(&f.HealthzBindAddress, "healthz-bind-address", "", "The IP:port of the health server (default 0.0.0.0:10256).")
	fs.StringVar(&f.MetricsBindAddress, "metrics-bind-address", "", "The IP:port of the metrics server (default 127.0.0.1:10249).")
	fs.StringSliceVar(&f.NodePortAddresses, "nodeport-addresses", nil, "CIDRs and keywords (primary, localhost, all) selecting the node addresses NodePorts listen on; default all.")
	fs.StringVar(&f.FeatureGates, "feature-gates", "", "Comma-separated key=true|false pairs; only KubeProxyIPVS matters to this proxier.")
}

// Resolve reads --config (if given) and builds the configuration with the flags on top.
func (f *Flags) Resolve(logger *slog.Logger) (Config, error) {
	var file []byte
	if f.ConfigFile != "" {
		data, err := os.ReadFile(f.ConfigFile)
		if err != nil {
			return Config{}, fmt.Errorf("reading --config: %w", err)
		}
		if data == nil {
			data = []byte{}
		}
		file = data
	}
	cfg, err := Build(file, f, logger)
	if err != nil && f.ConfigFile != "" {
		return Config{}, fmt.Errorf("%s: %w", f.ConfigFile, err)
	}
	return cfg, err
}

func (f *Flags) changed(name string) bool {
	return f != nil && f.fs != nil && f.fs.Changed(name)
}

// overlay writes every flag the user gave onto obj and returns, for messages, which field
// each flag set.
func (f *Flags) overlay(obj *v1alpha1.KubeProxyConfiguration) (map[string]string, error) {
	src := map[string]string{}
	set := func(flag, field string, apply func()) {
		if f.changed(flag) {
			apply()
			src[field] = flag
		}
	}
	set("kubeconfig", "clientConnection.kubeconfig", func() { obj.ClientConnection.Kubeconfig = f.Kubeconfig })
	if f.changed("hostname-override") {
		// As kube-proxy: a given but blank override is an error, not "use the hostname".
		if strings.TrimSpace(f.HostnameOverride) == "" {
			return nil, fmt.Errorf("--hostname-override: %q is blank: give a node name or leave the flag out", f.HostnameOverride)
		}
		obj.HostnameOverride = f.HostnameOverride
		src["hostnameOverride"] = "hostname-override"
	}
	set("bind-address", "bindAddress", func() { obj.BindAddress = f.BindAddress })
	set("cluster-cidr", "clusterCIDR", func() { obj.ClusterCIDR = f.ClusterCIDR })
	set("proxy-mode", "mode", func() { obj.Mode = v1alpha1.ProxyMode(f.ProxyMode) })
	set("masquerade-all", "iptables.masqueradeAll", func() { obj.IPTables.MasqueradeAll = f.MasqueradeAll })
	set("iptables-masquerade-bit", "iptables.masqueradeBit", func() { bit := f.MasqueradeBit; obj.IPTables.MasqueradeBit = &bit })
	set("ipvs-scheduler", "ipvs.scheduler", func() { obj.IPVS.Scheduler = f.IPVSScheduler })
	set("ipvs-exclude-cidrs", "ipvs.excludeCIDRs", func() { obj.IPVS.ExcludeCIDRs = f.IPVSExcludeCIDRs })
	set("ipvs-strict-arp", "ipvs.strictARP", func() { obj.IPVS.StrictARP = f.IPVSStrictARP })
	set("ipvs-tcp-timeout", "ipvs.tcpTimeout", func() { obj.IPVS.TCPTimeout = metav1.Duration{Duration: f.IPVSTCPTimeout} })
	set("ipvs-tcpfin-timeout", "ipvs.tcpFinTimeout", func() { obj.IPVS.TCPFinTimeout = metav1.Duration{Duration: f.IPVSTCPFinTimeout} })
	set("ipvs-udp-timeout", "ipvs.udpTimeout", func() { obj.IPVS.UDPTimeout = metav1.Duration{Duration: f.IPVSUDPTimeout} })
	set("ipvs-sync-period", "ipvs.syncPeriod", func() { obj.IPVS.SyncPeriod = metav1.Duration{Duration: f.IPVSSyncPeriod} })
	set("ipvs-min-sync-period", "ipvs.minSyncPeriod", func() { obj.IPVS.MinSyncPeriod = metav1.Duration{Duration: f.IPVSMinSyncPeriod} })
	set("healthz-bind-address", "healthzBindAddress", func() { obj.HealthzBindAddress = f.HealthzBindAddress })
	set("metrics-bind-address", "metricsBindAddress", func() { obj.MetricsBindAddress = f.MetricsBindAddress })
	set("nodeport-addresses", "nodePortAddresses", func() { obj.NodePortAddresses = f.NodePortAddresses })
	if f.changed("feature-gates") {
		gates, err := parseFeatureGates(f.FeatureGates)
		if err != nil {
			return nil, err
		}
		if obj.FeatureGates == nil {
			obj.FeatureGates = map[string]bool{}
		}
		for name, on := range gates {
			obj.FeatureGates[name] = on
			src["featureGates."+name] = "feature-gates"
		}
	}
	return src, nil
}

// parseFeatureGates reads "A=true,B=false".
func parseFeatureGates(s string) (map[string]bool, error) {
	gates := map[string]bool{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, val, ok := strings.Cut(pair, "=")
		on, err := strconv.ParseBool(strings.TrimSpace(val))
		if !ok || err != nil || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--feature-gates: %q: expected Name=true or Name=false", pair)
		}
		gates[strings.TrimSpace(name)] = on
	}
	return gates, nil
}

// FlagNames lists the flags AddFlags registers, sorted; for documentation and tests.
func FlagNames() []string {
	fs := pflag.NewFlagSet("names", pflag.ContinueOnError)
	new(Flags).AddFlags(fs)
	var names []string
	fs.VisitAll(func(fl *pflag.Flag) { names = append(names, fl.Name) })
	sort.Strings(names)
	return names
}
