package config

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kube-proxy/config/v1alpha1"
)

// Flags are kube-proxy v1.37's command-line flags, with the same names, types and meanings.
// Register them with AddFlags, parse, then call Resolve (or Build). Each flag given
// explicitly sets its KubeProxyConfiguration field (Fields names it); the few flags with
// no field here are refused with a reason (see refusedFlags).
type Flags struct {
	ConfigFile                     string
	Cleanup                        bool
	InitOnly                       bool
	Kubeconfig                     string
	Master                         string
	KubeAPIContentType             string
	KubeAPIQPS                     float32
	KubeAPIBurst                   int32
	HostnameOverride               string
	BindAddress                    string
	BindAddressHardFail            bool
	ClusterCIDR                    string
	ProxyMode                      string
	MasqueradeAll                  bool
	MasqueradeBit                  int32
	IPTablesLocalhostNodePorts     bool
	IPTablesSyncPeriod             time.Duration
	IPTablesMinSyncPeriod          time.Duration
	IPVSScheduler                  string
	IPVSExcludeCIDRs               []string
	IPVSStrictARP                  bool
	IPVSTCPTimeout                 time.Duration
	IPVSTCPFinTimeout              time.Duration
	IPVSUDPTimeout                 time.Duration
	IPVSSyncPeriod                 time.Duration
	IPVSMinSyncPeriod              time.Duration
	HealthzBindAddress             string
	MetricsBindAddress             string
	NodePortAddresses              []string
	FeatureGates                   string
	DetectLocalMode                string
	PodBridgeInterface             string
	PodInterfaceNamePrefix         string
	OOMScoreAdj                    int32
	ConfigSyncPeriod               time.Duration
	Profiling                      bool
	ShowHiddenMetricsForVersion    string
	ConntrackMaxPerCore            int32
	ConntrackMin                   int32
	ConntrackTCPEstablishedTimeout time.Duration
	ConntrackTCPCloseWaitTimeout   time.Duration
	ConntrackTCPBeLiberal          bool
	ConntrackUDPTimeout            time.Duration
	ConntrackUDPStreamTimeout      time.Duration
	// Logging holds the logging flags (-v, --vmodule, --logging-format, ...) as
	// component-base parses them.
	Logging logsapi.LoggingConfiguration

	refused map[string]*string
	fs      *pflag.FlagSet
}

// refusedFlags are the kube-proxy v1.37 flags this proxier does not implement, with why
// and what to do instead. They are registered (so --help lists them and the error names
// them) and fail the start when given.
var refusedFlags = map[string]string{
	"write-config-to": "this proxier does not write configuration files; start from kubeadm's kube-proxy ConfigMap (its config.conf key) or proxy/config/testdata/kubeadm-config.conf",
	"version":         "this proxier is not a kube-proxy release and has no kube-proxy version to report",
	// Hidden and deprecated in kube-proxy v1.37, still accepted there.
	"healthz-port": "deprecated in kube-proxy; set --healthz-bind-address (healthzBindAddress) to IP:port instead",
	"metrics-port": "deprecated in kube-proxy; set --metrics-bind-address (metricsBindAddress) to IP:port instead",
}

// hiddenRefusedFlags are refused flags kube-proxy's --help does not show either.
var hiddenRefusedFlags = []string{"healthz-port", "metrics-port"}

// AddFlags registers the flags on fs; Flags remembers fs to tell which flags were given.
// Help texts are kube-proxy's where the meaning is the same.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.ConfigFile, "config", "", "The path to a KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1). Flags given explicitly override its fields.")
	fs.BoolVar(&f.Cleanup, "cleanup", false, "If true, remove the IPVS virtual servers, kube-ipvs0, ipsets and iptables rules kube-proxy's IPVS mode creates, then exit.")
	fs.BoolVar(&f.InitOnly, "init-only", false, "If true, prepare the kernel (sysctls, conntrack, IPVS timeouts, scheduler check), then exit.")
	fs.StringVar(&f.Kubeconfig, "kubeconfig", "", "Path to a kubeconfig file; empty means the in-cluster configuration.")
	fs.StringVar(&f.Master, "master", "", "The address of the Kubernetes API server (overrides any value in kubeconfig)")
	fs.StringVar(&f.KubeAPIContentType, "kube-api-content-type", "application/vnd.kubernetes.protobuf", "Content type of requests sent to apiserver.")
	fs.Float32Var(&f.KubeAPIQPS, "kube-api-qps", 5, "QPS to use while talking with kubernetes apiserver")
	fs.Int32Var(&f.KubeAPIBurst, "kube-api-burst", 10, "Burst to use while talking with kubernetes apiserver")
	fs.StringVar(&f.HostnameOverride, "hostname-override", "", "If non-empty, the name of the Node this proxier runs on (default: the hostname).")
	fs.StringVar(&f.BindAddress, "bind-address", "", "The node's primary IP; 0.0.0.0 or :: (the default) means the Node object's address.")
	fs.BoolVar(&f.BindAddressHardFail, "bind-address-hard-fail", false, "If true, failing to listen on the health or metrics address stops the proxier; if false it is retried.")
	fs.StringVar(&f.ClusterCIDR, "cluster-cidr", "", "The pods' CIDR range (for dual-stack, an IPv4,IPv6 pair); traffic from outside it to cluster IPs is masqueraded.")
	fs.StringVar(&f.ProxyMode, "proxy-mode", "", "Which proxy mode to use; this proxier only implements 'ipvs'.")
	fs.BoolVar(&f.MasqueradeAll, "masquerade-all", false, "SNAT all traffic sent via Service cluster IPs.")
	fs.Int32Var(&f.MasqueradeBit, "iptables-masquerade-bit", 14, "The bit of the fwmark space that marks packets for SNAT, in [0, 31].")
	fs.BoolVar(&f.IPTablesLocalhostNodePorts, "iptables-localhost-nodeports", true, "iptables mode only; no effect in ipvs mode (a warning when given).")
	fs.DurationVar(&f.IPTablesSyncPeriod, "iptables-sync-period", 30*time.Second, "iptables mode only; ipvs mode uses --ipvs-sync-period (a warning when given).")
	fs.DurationVar(&f.IPTablesMinSyncPeriod, "iptables-min-sync-period", time.Second, "iptables mode only; ipvs mode uses --ipvs-min-sync-period (a warning when given).")
	fs.StringVar(&f.IPVSScheduler, "ipvs-scheduler", "", "The IPVS scheduler (default rr).")
	fs.StringSliceVar(&f.IPVSExcludeCIDRs, "ipvs-exclude-cidrs", nil, "A comma-separated list of CIDRs whose IPVS virtual servers the proxier never deletes when cleaning up.")
	fs.BoolVar(&f.IPVSStrictARP, "ipvs-strict-arp", false, "Enable strict ARP by setting arp_ignore to 1 and arp_announce to 2.")
	fs.DurationVar(&f.IPVSTCPTimeout, "ipvs-tcp-timeout", 0, "The timeout for idle IPVS TCP connections, 0 to leave as-is.")
	fs.DurationVar(&f.IPVSTCPFinTimeout, "ipvs-tcpfin-timeout", 0, "The timeout for IPVS TCP connections after a FIN, 0 to leave as-is.")
	fs.DurationVar(&f.IPVSUDPTimeout, "ipvs-udp-timeout", 0, "The timeout for IPVS UDP packets, 0 to leave as-is.")
	fs.DurationVar(&f.IPVSSyncPeriod, "ipvs-sync-period", 30*time.Second, "The longest time between full syncs. Must be greater than 0.")
	fs.DurationVar(&f.IPVSMinSyncPeriod, "ipvs-min-sync-period", time.Second, "The shortest time between syncs; 0 syncs on every change. (Without --config the default is 1s, with it 0, as in kube-proxy.)")
	fs.StringVar(&f.HealthzBindAddress, "healthz-bind-address", "0.0.0.0:10256", "The IP:port of the health server.")
	fs.StringVar(&f.MetricsBindAddress, "metrics-bind-address", "127.0.0.1:10249", "The IP:port of the metrics server.")
	fs.StringSliceVar(&f.NodePortAddresses, "nodeport-addresses", nil, "CIDRs and keywords (primary, localhost, all) selecting the node addresses NodePorts listen on; default all.")
	fs.StringVar(&f.FeatureGates, "feature-gates", "", "Comma-separated key=true|false pairs; only KubeProxyIPVS, AllowServiceExternalIPs and LoggingBetaOptions matter to this proxier.")
	fs.StringVar(&f.DetectLocalMode, "detect-local-mode", "", "Mode to use to detect local traffic: ClusterCIDR (default), NodeCIDR, BridgeInterface or InterfaceNamePrefix.")
	fs.StringVar(&f.PodBridgeInterface, "pod-bridge-interface", "", "A bridge interface name. When --detect-local-mode is BridgeInterface, traffic from this bridge is local.")
	fs.StringVar(&f.PodInterfaceNamePrefix, "pod-interface-name-prefix", "", "An interface name prefix. When --detect-local-mode is InterfaceNamePrefix, traffic from interfaces with this prefix is local.")
	fs.Int32Var(&f.OOMScoreAdj, "oom-score-adj", -999, "The oom-score-adj value for the proxier process, in [-1000, 1000].")
	fs.DurationVar(&f.ConfigSyncPeriod, "config-sync-period", 15*time.Minute, "How often configuration from the apiserver is refreshed. Must be greater than 0.")
	fs.BoolVar(&f.Profiling, "profiling", false, "If true, serve Go's profiles on /debug/pprof/ of the metrics server.")
	fs.StringVar(&f.ShowHiddenMetricsForVersion, "show-hidden-metrics-for-version", "", "The previous minor version (1.36) for which to show hidden metrics; this proxier has none.")
	fs.Int32Var(&f.ConntrackMaxPerCore, "conntrack-max-per-core", 32768, "Maximum number of NAT connections to track per CPU core (0 to leave the limit as-is and ignore conntrack-min).")
	fs.Int32Var(&f.ConntrackMin, "conntrack-min", 131072, "Minimum number of conntrack entries to allocate, regardless of conntrack-max-per-core (set conntrack-max-per-core=0 to leave the limit as-is).")
	fs.DurationVar(&f.ConntrackTCPEstablishedTimeout, "conntrack-tcp-timeout-established", 24*time.Hour, "Idle timeout for established TCP connections (0 to leave as-is)")
	fs.DurationVar(&f.ConntrackTCPCloseWaitTimeout, "conntrack-tcp-timeout-close-wait", time.Hour, "NAT timeout for TCP connections in the CLOSE_WAIT state")
	fs.BoolVar(&f.ConntrackTCPBeLiberal, "conntrack-tcp-be-liberal", false, "Enable liberal mode for tracking TCP packets by setting nf_conntrack_tcp_be_liberal to 1")
	fs.DurationVar(&f.ConntrackUDPTimeout, "conntrack-udp-timeout", 0, "Idle timeout for UNREPLIED UDP connections (0 to leave as-is)")
	fs.DurationVar(&f.ConntrackUDPStreamTimeout, "conntrack-udp-timeout-stream", 0, "Idle timeout for ASSURED UDP connections (0 to leave as-is)")

	// Logging, as component-base's logsapi.AddFlags registers it for kube-proxy.
	fs.StringVar(&f.Logging.Format, "logging-format", LogFormatText, `Sets the log format. Permitted formats: "json" (log/slog's JSON handler), "text".`)
	fs.DurationVar(&f.Logging.FlushFrequency.Duration.Duration, "log-flush-frequency", 5*time.Second, "Maximum number of seconds between log flushes")
	fs.VarP(logsapi.VerbosityLevelPflag(&f.Logging.Verbosity), "v", "v", "number for the log level verbosity")
	fs.Var(logsapi.VModuleConfigurationPflag(&f.Logging.VModule), "vmodule", "comma-separated list of pattern=N settings for file-filtered logging (only works for text log format)")
	fs.BoolVar(&f.Logging.Options.Text.SplitStream, "log-text-split-stream", false, "Not supported: every log line goes to stderr.")
	fs.Var(&f.Logging.Options.Text.InfoBufferSize, "log-text-info-buffer-size", "Not supported: info lines are not buffered apart.")
	fs.BoolVar(&f.Logging.Options.JSON.SplitStream, "log-json-split-stream", false, "Not supported: every log line goes to stderr.")
	fs.Var(&f.Logging.Options.JSON.InfoBufferSize, "log-json-info-buffer-size", "Not supported: info lines are not buffered apart.")

	f.refused = map[string]*string{}
	for name, why := range refusedFlags {
		v := new(string)
		f.refused[name] = v
		fs.StringVar(v, name, "", "Not supported: "+why+".")
	}
	// kube-proxy's --version takes an optional value; --version alone must parse.
	fs.Lookup("version").NoOptDefVal = "true"
	for _, name := range hiddenRefusedFlags {
		_ = fs.MarkHidden(name)
	}
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
	if f == nil {
		return map[string]string{}, nil
	}
	for _, name := range slices.Sorted(maps.Keys(f.refused)) {
		if f.changed(name) {
			return nil, fmt.Errorf("--%s is not supported: %s", name, refusedFlags[name])
		}
	}
	src := map[string]string{}
	set := func(flag, field string, apply func()) {
		if f.changed(flag) {
			apply()
			src[field] = flag
		}
	}
	dur := func(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
	set("kubeconfig", "clientConnection.kubeconfig", func() { obj.ClientConnection.Kubeconfig = f.Kubeconfig })
	set("kube-api-content-type", "clientConnection.contentType", func() { obj.ClientConnection.ContentType = f.KubeAPIContentType })
	set("kube-api-qps", "clientConnection.qps", func() { obj.ClientConnection.QPS = f.KubeAPIQPS })
	set("kube-api-burst", "clientConnection.burst", func() { obj.ClientConnection.Burst = f.KubeAPIBurst })
	if f.changed("hostname-override") {
		// As kube-proxy: a given but blank override is an error, not "use the hostname".
		if strings.TrimSpace(f.HostnameOverride) == "" {
			return nil, fmt.Errorf("--hostname-override: %q is blank: give a node name or leave the flag out", f.HostnameOverride)
		}
		obj.HostnameOverride = f.HostnameOverride
		src["hostnameOverride"] = "hostname-override"
	}
	set("bind-address", "bindAddress", func() { obj.BindAddress = f.BindAddress })
	set("bind-address-hard-fail", "bindAddressHardFail", func() { obj.BindAddressHardFail = f.BindAddressHardFail })
	set("cluster-cidr", "clusterCIDR", func() { obj.ClusterCIDR = f.ClusterCIDR })
	set("proxy-mode", "mode", func() { obj.Mode = v1alpha1.ProxyMode(f.ProxyMode) })
	set("masquerade-all", "iptables.masqueradeAll", func() { obj.IPTables.MasqueradeAll = f.MasqueradeAll })
	set("iptables-masquerade-bit", "iptables.masqueradeBit", func() { bit := f.MasqueradeBit; obj.IPTables.MasqueradeBit = &bit })
	set("iptables-localhost-nodeports", "iptables.localhostNodePorts", func() { on := f.IPTablesLocalhostNodePorts; obj.IPTables.LocalhostNodePorts = &on })
	set("iptables-sync-period", "iptables.syncPeriod", func() { obj.IPTables.SyncPeriod = dur(f.IPTablesSyncPeriod) })
	set("iptables-min-sync-period", "iptables.minSyncPeriod", func() { obj.IPTables.MinSyncPeriod = dur(f.IPTablesMinSyncPeriod) })
	set("ipvs-scheduler", "ipvs.scheduler", func() { obj.IPVS.Scheduler = f.IPVSScheduler })
	set("ipvs-exclude-cidrs", "ipvs.excludeCIDRs", func() { obj.IPVS.ExcludeCIDRs = f.IPVSExcludeCIDRs })
	set("ipvs-strict-arp", "ipvs.strictARP", func() { obj.IPVS.StrictARP = f.IPVSStrictARP })
	set("ipvs-tcp-timeout", "ipvs.tcpTimeout", func() { obj.IPVS.TCPTimeout = dur(f.IPVSTCPTimeout) })
	set("ipvs-tcpfin-timeout", "ipvs.tcpFinTimeout", func() { obj.IPVS.TCPFinTimeout = dur(f.IPVSTCPFinTimeout) })
	set("ipvs-udp-timeout", "ipvs.udpTimeout", func() { obj.IPVS.UDPTimeout = dur(f.IPVSUDPTimeout) })
	set("ipvs-sync-period", "ipvs.syncPeriod", func() { obj.IPVS.SyncPeriod = dur(f.IPVSSyncPeriod) })
	set("ipvs-min-sync-period", "ipvs.minSyncPeriod", func() { obj.IPVS.MinSyncPeriod = dur(f.IPVSMinSyncPeriod) })
	set("healthz-bind-address", "healthzBindAddress", func() { obj.HealthzBindAddress = f.HealthzBindAddress })
	set("metrics-bind-address", "metricsBindAddress", func() { obj.MetricsBindAddress = f.MetricsBindAddress })
	set("nodeport-addresses", "nodePortAddresses", func() { obj.NodePortAddresses = f.NodePortAddresses })
	set("detect-local-mode", "detectLocalMode", func() { obj.DetectLocalMode = v1alpha1.LocalMode(f.DetectLocalMode) })
	set("pod-bridge-interface", "detectLocal.bridgeInterface", func() { obj.DetectLocal.BridgeInterface = f.PodBridgeInterface })
	set("pod-interface-name-prefix", "detectLocal.interfaceNamePrefix", func() { obj.DetectLocal.InterfaceNamePrefix = f.PodInterfaceNamePrefix })
	set("oom-score-adj", "oomScoreAdj", func() { v := f.OOMScoreAdj; obj.OOMScoreAdj = &v })
	set("config-sync-period", "configSyncPeriod", func() { obj.ConfigSyncPeriod = dur(f.ConfigSyncPeriod) })
	set("profiling", "enableProfiling", func() { obj.EnableProfiling = f.Profiling })
	set("show-hidden-metrics-for-version", "showHiddenMetricsForVersion", func() { obj.ShowHiddenMetricsForVersion = f.ShowHiddenMetricsForVersion })
	set("conntrack-max-per-core", "conntrack.maxPerCore", func() { v := f.ConntrackMaxPerCore; obj.Conntrack.MaxPerCore = &v })
	set("conntrack-min", "conntrack.min", func() { v := f.ConntrackMin; obj.Conntrack.Min = &v })
	set("conntrack-tcp-timeout-established", "conntrack.tcpEstablishedTimeout", func() { d := dur(f.ConntrackTCPEstablishedTimeout); obj.Conntrack.TCPEstablishedTimeout = &d })
	set("conntrack-tcp-timeout-close-wait", "conntrack.tcpCloseWaitTimeout", func() { d := dur(f.ConntrackTCPCloseWaitTimeout); obj.Conntrack.TCPCloseWaitTimeout = &d })
	set("conntrack-tcp-be-liberal", "conntrack.tcpBeLiberal", func() { obj.Conntrack.TCPBeLiberal = f.ConntrackTCPBeLiberal })
	set("conntrack-udp-timeout", "conntrack.udpTimeout", func() { obj.Conntrack.UDPTimeout = dur(f.ConntrackUDPTimeout) })
	set("conntrack-udp-timeout-stream", "conntrack.udpStreamTimeout", func() { obj.Conntrack.UDPStreamTimeout = dur(f.ConntrackUDPStreamTimeout) })

	lg := &obj.Logging
	set("logging-format", "logging.format", func() { lg.Format = f.Logging.Format })
	set("log-flush-frequency", "logging.flushFrequency", func() { lg.FlushFrequency = f.Logging.FlushFrequency })
	set("v", "logging.verbosity", func() { lg.Verbosity = f.Logging.Verbosity })
	// As kube-proxy (copyLogsFromFlags): the flag's patterns come first, so they win.
	set("vmodule", "logging.vmodule", func() { lg.VModule = append(slices.Clone(f.Logging.VModule), lg.VModule...) })
	set("log-text-split-stream", "logging.options.text.splitStream", func() { lg.Options.Text.SplitStream = f.Logging.Options.Text.SplitStream })
	set("log-text-info-buffer-size", "logging.options.text.infoBufferSize", func() { lg.Options.Text.InfoBufferSize = f.Logging.Options.Text.InfoBufferSize })
	set("log-json-split-stream", "logging.options.json.splitStream", func() { lg.Options.JSON.SplitStream = f.Logging.Options.JSON.SplitStream })
	set("log-json-info-buffer-size", "logging.options.json.infoBufferSize", func() { lg.Options.JSON.InfoBufferSize = f.Logging.Options.JSON.InfoBufferSize })

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

// FlagNames lists the flags AddFlags registers that --help shows (all but the hidden
// ones, as in kube-proxy), sorted; for documentation and tests.
func FlagNames() []string {
	fs := pflag.NewFlagSet("names", pflag.ContinueOnError)
	new(Flags).AddFlags(fs)
	var names []string
	fs.VisitAll(func(fl *pflag.Flag) {
		if !fl.Hidden {
			names = append(names, fl.Name)
		}
	})
	sort.Strings(names)
	return names
}
