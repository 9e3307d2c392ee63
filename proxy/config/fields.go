package config

import (
	"fmt"
	"strings"
)

// Handling is what the proxier does with a KubeProxyConfiguration field.
type Handling string

const (
	// Honoured: the field is used with kube-proxy v1.37's meaning.
	Honoured Handling = "honoured"
	// Refused: a value other than the default is an error naming the field.
	Refused Handling = "refused"
	// Ignored: kube-proxy v1.37 in ipvs mode on Linux ignores the field too; a value other
	// than the default is accepted with a warning naming the field.
	Ignored Handling = "ignored"
)

// Field says what the proxier does with one leaf field of KubeProxyConfiguration.
type Field struct {
	// Path is the field's path in the file: JSON names joined by dots, "[]" for the items
	// of a list, ".*" for the values of a map.
	Path     string
	Handling Handling
	// Flag is the kube-proxy flag that sets the field, without dashes; "" when none does.
	Flag string
	// What is what the proxier does with it, for proxy/README.md.
	What string
}

// Fields lists every leaf field of kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration
// as of kube-proxy v0.37.2. TestFieldsCoverKubeProxyConfiguration walks the type by
// reflection and fails on a field missing here, so a field added upstream cannot be
// silently ignored; proxy/README.md's table is generated from this one.
var Fields = []Field{
	{"apiVersion", Honoured, "", "must be `kubeproxy.config.k8s.io/v1alpha1`"},
	{"kind", Honoured, "", "must be `KubeProxyConfiguration`; in a multi-document file that document is used"},
	{"featureGates.*", Honoured, "feature-gates", "`KubeProxyIPVS: false` is refused (it disables ipvs mode); `AllowServiceExternalIPs` is honoured; `LoggingBetaOptions: false` refuses `logging.format: json` as upstream; any other gate is accepted with a warning"},

	{"clientConnection.kubeconfig", Honoured, "kubeconfig", "the kubeconfig file; empty means the in-cluster configuration"},
	{"clientConnection.acceptContentTypes", Honoured, "", "the client's Accept header (comma-separated media types); empty means the client's default"},
	{"clientConnection.contentType", Honoured, "kube-api-content-type", "the client's request content type; default `application/vnd.kubernetes.protobuf`; must be that or `application/json`"},
	{"clientConnection.qps", Honoured, "kube-api-qps", "the client's QPS; default 5"},
	{"clientConnection.burst", Honoured, "kube-api-burst", "the client's burst; default 10; must be >= 0"},

	{"logging.format", Honoured, "logging-format", "`text` (default): klog's text lines on stderr; `json`: one JSON object per line on stderr from log/slog's JSON handler; anything else is refused"},
	{"logging.flushFrequency", Honoured, "log-flush-frequency", "how often klog flushes buffered text (default 5s); must be > 0; JSON lines are written unbuffered"},
	{"logging.verbosity", Honoured, "v", "klog's -v; in JSON the handler's level is -verbosity, so `V(n)` lines are written when n <= verbosity (logr's mapping onto slog levels)"},
	{"logging.vmodule[].filePattern", Honoured, "vmodule", "klog's -vmodule, text format only (refused with `json`, as upstream); the pattern must not be empty or hold `=` or `,`"},
	{"logging.vmodule[].verbosity", Honoured, "vmodule", "the pattern's verbosity, as klog's -vmodule"},
	{"logging.options.text.splitStream", Refused, "log-text-split-stream", "refused when true: every log line goes to stderr (upstream: alpha, behind LoggingAlphaOptions)"},
	{"logging.options.text.infoBufferSize", Refused, "log-text-info-buffer-size", "refused when not 0: info lines are not buffered apart (upstream: alpha, behind LoggingAlphaOptions)"},
	{"logging.options.json.splitStream", Refused, "log-json-split-stream", "refused when true: every log line goes to stderr (upstream: alpha, behind LoggingAlphaOptions)"},
	{"logging.options.json.infoBufferSize", Refused, "log-json-info-buffer-size", "refused when not 0: info lines are not buffered apart (upstream: alpha, behind LoggingAlphaOptions)"},

	{"hostnameOverride", Honoured, "hostname-override", "the node name; default the hostname, lower-cased"},
	{"bindAddress", Honoured, "bind-address", "the node's primary IP; 0.0.0.0 or :: (default 0.0.0.0) means the Node object's; its family picks the health and metrics defaults"},
	{"healthzBindAddress", Honoured, "healthz-bind-address", "the health server's IP:port (default 0.0.0.0:10256, [::]:10256 for an IPv6 bindAddress); a bare IP gets port 10256"},
	{"metricsBindAddress", Honoured, "metrics-bind-address", "the metrics server's IP:port (default 127.0.0.1:10249, [::1]:10249 for IPv6); a bare IP gets port 10249"},
	{"bindAddressHardFail", Honoured, "bind-address-hard-fail", "true: a health or metrics server that cannot listen stops the proxier (exit 1); false (default): it is logged and retried every 5 s"},
	{"enableProfiling", Honoured, "profiling", "serves Go's profiles on /debug/pprof/ of the metrics server"},
	{"showHiddenMetricsForVersion", Honoured, "show-hidden-metrics-for-version", "validated as upstream (empty, or the previous minor version, 1.36); this proxier has no hidden metrics, so nothing else changes"},
	{"mode", Honoured, "proxy-mode", "must be `ipvs`; empty (upstream: iptables), iptables and nftables are refused"},

	{"iptables.masqueradeBit", Honoured, "iptables-masquerade-bit", "the fwmark bit for SNAT (default 14), in [0, 31]; read from `iptables:` in ipvs mode, as upstream"},
	{"iptables.masqueradeAll", Honoured, "masquerade-all", "SNAT all traffic to cluster IPs; read from `iptables:` in ipvs mode, as upstream"},
	{"iptables.localhostNodePorts", Ignored, "iptables-localhost-nodeports", "iptables mode only: NodePorts are never served on localhost in ipvs mode; a warning when set"},
	{"iptables.syncPeriod", Ignored, "iptables-sync-period", "iptables mode only (ipvs mode uses `ipvs.syncPeriod`); a warning when set to other than upstream's default 30s"},
	{"iptables.minSyncPeriod", Ignored, "iptables-min-sync-period", "iptables mode only (ipvs mode uses `ipvs.minSyncPeriod`); a warning when set to other than upstream's default 1s"},

	{"ipvs.syncPeriod", Honoured, "ipvs-sync-period", "the longest time between full syncs (default 30s); must be > 0"},
	{"ipvs.minSyncPeriod", Honoured, "ipvs-min-sync-period", "the shortest time between syncs; with a --config file the default is 0 (every change syncs), with flags only 1s, as upstream; must be <= syncPeriod"},
	{"ipvs.scheduler", Honoured, "ipvs-scheduler", "the scheduler of every virtual server (default rr, logged as upstream); checked at start with a test virtual server"},
	{"ipvs.excludeCIDRs", Honoured, "ipvs-exclude-cidrs", "virtual servers in these ranges are never deleted by cleanup"},
	{"ipvs.strictARP", Honoured, "ipvs-strict-arp", "sets arp_ignore=1 and arp_announce=2 on all interfaces"},
	{"ipvs.tcpTimeout", Honoured, "ipvs-tcp-timeout", "the IPVS TCP timeout (whole seconds); 0 leaves the kernel's"},
	{"ipvs.tcpFinTimeout", Honoured, "ipvs-tcpfin-timeout", "the IPVS TCP FIN timeout; 0 leaves the kernel's"},
	{"ipvs.udpTimeout", Honoured, "ipvs-udp-timeout", "the IPVS UDP timeout; 0 leaves the kernel's"},

	{"nftables.masqueradeBit", Ignored, "", "nftables mode only; a warning when set to other than 14"},
	{"nftables.masqueradeAll", Ignored, "", "nftables mode only (ipvs mode reads `iptables.masqueradeAll`); a warning when true"},
	{"nftables.syncPeriod", Ignored, "", "nftables mode only; a warning when set to other than 30s"},
	{"nftables.minSyncPeriod", Ignored, "", "nftables mode only; a warning when set to other than 1s"},

	{"winkernel.networkName", Ignored, "", "Windows only; a warning when set"},
	{"winkernel.sourceVip", Ignored, "", "Windows only; a warning when set"},
	{"winkernel.enableDSR", Ignored, "", "Windows only; a warning when set"},
	{"winkernel.rootHnsEndpointName", Ignored, "", "Windows only; a warning when set"},
	{"winkernel.forwardHealthCheckVip", Ignored, "", "Windows only; a warning when set"},

	{"detectLocalMode", Honoured, "detect-local-mode", "ClusterCIDR (default), NodeCIDR, BridgeInterface or InterfaceNamePrefix: how traffic from local pods is told from the rest"},
	{"detectLocal.bridgeInterface", Honoured, "pod-bridge-interface", "the bridge for detectLocalMode BridgeInterface; required with it"},
	{"detectLocal.interfaceNamePrefix", Honoured, "pod-interface-name-prefix", "the prefix for detectLocalMode InterfaceNamePrefix; required with it"},
	{"clusterCIDR", Honoured, "cluster-cidr", "the pods' CIDR, or a dual-stack pair"},
	{"nodePortAddresses", Honoured, "nodeport-addresses", "CIDRs and the keywords `primary` (the node's IPs), `localhost`, `all`; empty means all"},
	{"oomScoreAdj", Honoured, "oom-score-adj", "written to /proc/self/oom_score_adj at start (default -999); in [-1000, 1000]; a failure is logged at V(2), as upstream"},

	{"conntrack.maxPerCore", Honoured, "conntrack-max-per-core", "nf_conntrack_max = max(maxPerCore x online CPUs, min), capped at 1048576, raised only, and the nf_conntrack hashsize raised to at least a quarter of it (default 32768; 0 leaves both); failures stop the start, as upstream"},
	{"conntrack.min", Honoured, "conntrack-min", "the floor of nf_conntrack_max (default 131072)"},
	{"conntrack.tcpEstablishedTimeout", Honoured, "conntrack-tcp-timeout-established", "nf_conntrack_tcp_timeout_established (default 24h); 0 leaves it"},
	{"conntrack.tcpCloseWaitTimeout", Honoured, "conntrack-tcp-timeout-close-wait", "nf_conntrack_tcp_timeout_close_wait (default 1h); 0 leaves it"},
	{"conntrack.tcpBeLiberal", Honoured, "conntrack-tcp-be-liberal", "true sets nf_conntrack_tcp_be_liberal to 1; false leaves it"},
	{"conntrack.udpTimeout", Honoured, "conntrack-udp-timeout", "nf_conntrack_udp_timeout; 0 (default) leaves it"},
	{"conntrack.udpStreamTimeout", Honoured, "conntrack-udp-timeout-stream", "nf_conntrack_udp_timeout_stream; 0 (default) leaves it"},

	{"configSyncPeriod", Honoured, "config-sync-period", "the informers' resync period (default 15m); must be > 0"},
	{"portRange", Ignored, "", "unused since the userspace proxier was removed; kube-proxy v1.37 drops it without a word; this proxier warns when it is set, with the words kube-proxy deprecated `--proxy-port-range` with (\"This flag has no effect and will be removed in a future release.\")"},
	{"windowsRunAsService", Ignored, "", "Windows only (`--windows-service`); a warning when true"},
}

// FieldsMarkdown renders Fields as the Markdown table of proxy/README.md.
func FieldsMarkdown() string {
	var b strings.Builder
	b.WriteString("| field | flag | | what the proxier does |\n|---|---|---|---|\n")
	for _, f := range Fields {
		flag := ""
		if f.Flag != "" {
			flag = "`--" + f.Flag + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Path, flag, f.Handling, f.What)
	}
	return b.String()
}
