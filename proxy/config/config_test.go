package config

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// logRecorder is a slog.Handler keeping level and message of every record.
type logRecorder struct {
	mu      sync.Mutex
	records []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Level.String()+" "+rec.Message)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// parseFlags registers the flags on a fresh set and parses args.
func parseFlags(t *testing.T, args ...string) *Flags {
	t.Helper()
	f := &Flags{}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return f
}

// defaults is what every file that sets only mode: ipvs resolves to.
func defaults() Config {
	return Config{
		Mode:               ModeIPVS,
		ClientConnection:   ClientConnection{ContentType: "application/vnd.kubernetes.protobuf", QPS: 5, Burst: 10},
		BindAddress:        netip.MustParseAddr("0.0.0.0"),
		HealthzBindAddress: "0.0.0.0:10256",
		MetricsBindAddress: "127.0.0.1:10249",
		DetectLocalMode:    DetectLocalClusterCIDR,
		MasqueradeBit:      14,
		IPVS:               IPVS{Scheduler: "rr", SyncPeriod: 30 * time.Second},
		ConfigSyncPeriod:   15 * time.Minute,
		Conntrack:          Conntrack{MaxPerCore: 32768, Min: 131072, TCPEstablishedTimeout: 24 * time.Hour, TCPCloseWaitTimeout: time.Hour},
		OOMScoreAdj:        -999,
		Logging:            Logging{Format: LogFormatText, FlushFrequency: 5 * time.Second},
	}
}

// comparable strips what the tests do not spell out.
func comparable(c Config) Config {
	if len(c.FeatureGates) == 0 {
		c.FeatureGates = nil
	}
	return c
}

func TestLoadFiles(t *testing.T) {
	seedGates := map[string]bool{"SupportIPVSProxyMode": true}
	tests := []struct {
		file  string
		flags []string
		want  func() Config
		logs  []string
	}{{
		file: "seed-method1.yaml",
		want: func() Config { c := defaults(); c.FeatureGates = seedGates; return c },
		logs: []string{
			"INFO IPVS scheduler not specified, use rr by default",
			"WARN featureGates.SupportIPVSProxyMode: this feature gate no longer exists (IPVS mode needs no feature gate since Kubernetes v1.11); ignoring it (kube-proxy v1.37 would refuse it as unrecognized)",
		},
	}, {
		file: "kubeadm-config.conf",
		want: func() Config {
			c := defaults()
			c.ClientConnection.Kubeconfig = "/var/lib/kube-proxy/kubeconfig.conf"
			c.ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}
			return c
		},
		logs: []string{"INFO IPVS scheduler not specified, use rr by default"},
	}, {
		// The ConfigMap kubeadm writes by default (mode ""), made ipvs by the flag.
		file:  "kubeadm-config-default-mode.conf",
		flags: []string{"--proxy-mode=ipvs", "--hostname-override=Node1 "},
		want: func() Config {
			c := defaults()
			c.ClientConnection.Kubeconfig = "/var/lib/kube-proxy/kubeconfig.conf"
			c.ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}
			c.HostnameOverride = "node1"
			return c
		},
		logs: []string{"INFO IPVS scheduler not specified, use rr by default"},
	}, {
		file: "kubeadm-init.yaml",
		want: func() Config {
			c := defaults()
			c.FeatureGates = seedGates
			c.MasqueradeAll = true
			c.ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/56")}
			c.NodePortAddresses = []string{"172.18.0.0/16", "primary"}
			c.IPVS = IPVS{
				Scheduler:     "wrr",
				ExcludeCIDRs:  []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")},
				StrictARP:     true,
				TCPTimeout:    900 * time.Second,
				TCPFinTimeout: 120 * time.Second,
				UDPTimeout:    300 * time.Second,
				SyncPeriod:    30 * time.Second,
			}
			return c
		},
		logs: []string{"WARN featureGates.SupportIPVSProxyMode: this feature gate no longer exists (IPVS mode needs no feature gate since Kubernetes v1.11); ignoring it (kube-proxy v1.37 would refuse it as unrecognized)"},
	}, {
		// Explicit flags win over the file; flags left at their defaults do not.
		file: "kubeadm-init.yaml",
		flags: []string{"--ipvs-scheduler=mh", "--ipvs-exclude-cidrs=10.0.0.0/8,fd00::/8", "--masquerade-all=false",
			"--ipvs-min-sync-period=1s", "--ipvs-sync-period=10s", "--cluster-cidr=10.96.0.0/12", "--nodeport-addresses=all",
			"--healthz-bind-address=127.0.0.1:10256", "--metrics-bind-address=0.0.0.0:10249", "--kubeconfig=/k", "--cleanup",
			"--feature-gates=SupportIPVSProxyMode=false,KubeProxyIPVS=true", "--iptables-masquerade-bit=3", "--ipvs-udp-timeout=0s"},
		want: func() Config {
			c := defaults()
			c.FeatureGates = map[string]bool{"SupportIPVSProxyMode": false, "KubeProxyIPVS": true}
			c.ClientConnection.Kubeconfig = "/k"
			c.HealthzBindAddress = "127.0.0.1:10256"
			c.MetricsBindAddress = "0.0.0.0:10249"
			c.MasqueradeBit = 3
			c.ClusterCIDRs = []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}
			c.NodePortAddresses = []string{"all"}
			c.Cleanup = true
			c.IPVS = IPVS{
				Scheduler:     "mh",
				ExcludeCIDRs:  []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")},
				StrictARP:     true,
				TCPTimeout:    900 * time.Second,
				TCPFinTimeout: 120 * time.Second,
				SyncPeriod:    10 * time.Second,
				MinSyncPeriod: time.Second,
			}
			return c
		},
		logs: []string{"WARN featureGates.SupportIPVSProxyMode: this feature gate no longer exists (IPVS mode needs no feature gate since Kubernetes v1.11); ignoring it (kube-proxy v1.37 would refuse it as unrecognized)"},
	}, {
		// No file at all: flags alone, IPv6 bind address picks IPv6 default addresses.
		flags: []string{"--proxy-mode=ipvs", "--bind-address=fd00::1", "--ipvs-scheduler=sh", "--ipvs-strict-arp"},
		want: func() Config {
			c := defaults()
			c.BindAddress = netip.MustParseAddr("fd00::1")
			c.HealthzBindAddress = "[::]:10256"
			c.MetricsBindAddress = "[::1]:10249"
			c.IPVS.Scheduler = "sh"
			c.IPVS.StrictARP = true
			// Flags only: kube-proxy keeps the iptables default minSyncPeriod (1s).
			c.IPVS.MinSyncPeriod = time.Second
			return c
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file+strings.Join(tt.flags, " "), func(t *testing.T) {
			var file []byte
			if tt.file != "" {
				file = []byte(fixture.Read(t, tt.file))
			}
			rec := &logRecorder{}
			got, err := Build(file, parseFlags(t, tt.flags...), slog.New(rec))
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if want := tt.want(); !reflect.DeepEqual(comparable(got), comparable(want)) {
				t.Errorf("config:\n got %+v\nwant %+v", comparable(got), comparable(want))
			}
			if !reflect.DeepEqual(rec.records, tt.logs) {
				t.Errorf("logs:\n got %q\nwant %q", rec.records, tt.logs)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	const head = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
	tests := []struct {
		name  string
		file  string // nil file when empty and noFile
		flags []string
		// want are substrings the error must hold, each naming its field.
		want []string
	}{
		{"mode iptables", head + "mode: iptables\n", nil,
			[]string{`mode: "iptables": this proxier only implements ipvs; use upstream kube-proxy for iptables or nftables`}},
		{"mode nftables by flag", head + "mode: ipvs\n", []string{"--proxy-mode=nftables"},
			[]string{`mode (--proxy-mode): "nftables": this proxier only implements ipvs`}},
		{"mode blank", head, nil, []string{`mode: "": kube-proxy reads an empty mode as iptables, and this proxier only implements ipvs; set mode: ipvs in the configuration or pass --proxy-mode=ipvs`}},
		{"mode unknown", head + "mode: userspace\n", nil, []string{`mode: "userspace": not a kube-proxy mode on Linux`}},
		{"exclude CIDR", head + "mode: ipvs\nipvs:\n  excludeCIDRs: [10.0.0.0/8, 10.0.0/8]\n", nil,
			[]string{`ipvs.excludeCIDRs[1]: "10.0.0/8" is not a CIDR`}},
		{"exclude CIDR by flag", head + "mode: ipvs\n", []string{"--ipvs-exclude-cidrs=bad"},
			[]string{`ipvs.excludeCIDRs[0] (--ipvs-exclude-cidrs): "bad" is not a CIDR`}},
		{"duration without unit", head + "mode: ipvs\nipvs:\n  tcpTimeout: \"900\"\n", nil,
			[]string{`ipvs.tcpTimeout: "900" is not a duration: expected a number with a unit`}},
		{"duration as number", head + "mode: ipvs\nipvs:\n  syncPeriod: 30\n", nil,
			[]string{`ipvs.syncPeriod: 30 is not a duration: expected a quoted number with a unit, such as "30s"`}},
		{"two bad durations", head + "mode: ipvs\nconfigSyncPeriod: soon\nconntrack:\n  tcpCloseWaitTimeout: 1 hour\n", nil,
			[]string{`configSyncPeriod: "soon" is not a duration`, `conntrack.tcpCloseWaitTimeout: "1 hour" is not a duration`, "2 problems"}},
		{"negative timeout", head + "mode: ipvs\nipvs:\n  udpTimeout: -1s\n  tcpFinTimeout: -2s\n", nil,
			[]string{`ipvs.udpTimeout: "-1s" must be >= 0`, `ipvs.tcpFinTimeout: "-2s" must be >= 0`}},
		{"negative sync period", head + "mode: ipvs\nipvs:\n  syncPeriod: -5s\n", nil, []string{`ipvs.syncPeriod: "-5s" must be greater than 0`}},
		{"min above sync", head + "mode: ipvs\nipvs:\n  syncPeriod: 5s\n  minSyncPeriod: 10s\n", nil,
			[]string{`ipvs.minSyncPeriod: "10s" must not exceed ipvs.syncPeriod (5s)`}},
		{"min sync by flag", head + "mode: ipvs\n", []string{"--ipvs-min-sync-period=-1s"}, []string{`ipvs.minSyncPeriod (--ipvs-min-sync-period): "-1s" must be >= 0`}},
		{"unknown field", head + "mode: ipvs\nipvs:\n  schedular: wrr\n", nil,
			[]string{`unknown field "ipvs.schedular"`}},
		{"removed field", head + "mode: ipvs\nudpIdleTimeout: 250ms\n", nil, []string{`unknown field "udpIdleTimeout"`}},
		{"mis-indented field", head + "mode: ipvs\nipvs:\nscheduler: wrr\n", nil, []string{`unknown field "scheduler"`}},
		{"duplicate field", head + "mode: ipvs\nmode: ipvs\n", nil, []string{`"mode"`, "already set"}},
		{"wrong type", head + "mode: ipvs\nipvs:\n  strictARP: \"yes\"\n", nil, []string{"ipvs.strictARP", "bool"}},
		{"wrong apiVersion", "apiVersion: kubeproxy.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\nmode: ipvs\n", nil,
			[]string{`apiVersion: "kubeproxy.config.k8s.io/v1beta1": expected kubeproxy.config.k8s.io/v1alpha1`}},
		{"kind missing", "mode: ipvs\n", nil, []string{"kind is missing: expected apiVersion: kubeproxy.config.k8s.io/v1alpha1 and kind: KubeProxyConfiguration"}},
		{"ConfigMap", fixture.Read(t, "kube-proxy-configmap.yaml"), nil, []string{`kind: "ConfigMap": expected KubeProxyConfiguration; pass the content of the ConfigMap's config.conf key`}},
		{"other kinds only", "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Service\n", nil, []string{`kind: no KubeProxyConfiguration document among ["Pod" "Service"]`}},
		{"two configurations", head + "mode: ipvs\n---\n" + head + "mode: ipvs\n", nil, []string{"2 KubeProxyConfiguration documents"}},
		{"empty file", "", nil, []string{"the file is empty"}},
		{"not YAML", "mode: [ipvs\n", nil, []string{"YAML"}},
		{"scalar document", "ipvs\n", nil, []string{"expected a mapping with apiVersion and kind"}},
		{"gate disables ipvs", head + "mode: ipvs\nfeatureGates:\n  KubeProxyIPVS: false\n", nil,
			[]string{"featureGates.KubeProxyIPVS: false disables ipvs mode in kube-proxy v1.37"}},
		{"gate by flag", head + "mode: ipvs\n", []string{"--feature-gates=KubeProxyIPVS=false"},
			[]string{"featureGates.KubeProxyIPVS (--feature-gates): false disables ipvs mode"}},
		{"bad gate flag", head + "mode: ipvs\n", []string{"--feature-gates=KubeProxyIPVS"}, []string{`--feature-gates: "KubeProxyIPVS": expected Name=true or Name=false`}},
		{"blank hostname override", head + "mode: ipvs\n", []string{"--hostname-override= "}, []string{`--hostname-override: " " is blank`}},
		{"bind address", head + "mode: ipvs\nbindAddress: node1\n", nil, []string{`bindAddress: "node1" is not an IP address`}},
		{"healthz address", head + "mode: ipvs\nhealthzBindAddress: \"0.0.0.0:0\"\n", nil, []string{`healthzBindAddress: "0.0.0.0:0": port "0" is not in 1-65535`}},
		{"metrics address", head + "mode: ipvs\nmetricsBindAddress: localhost:10249\n", nil, []string{`metricsBindAddress: "localhost:10249": "localhost" is not an IP address`}},
		{"metrics address by flag", head + "mode: ipvs\n", []string{"--metrics-bind-address=:::"}, []string{`metricsBindAddress (--metrics-bind-address): ":::" is not IP:port`}},
		{"masquerade bit", head + "mode: ipvs\niptables:\n  masqueradeBit: 32\n", nil, []string{"iptables.masqueradeBit: 32 is outside [0, 31]"}},
		{"cluster CIDR", head + "mode: ipvs\nclusterCIDR: 10.244.0.0\n", nil, []string{`clusterCIDR: "10.244.0.0" is not a CIDR`}},
		{"cluster CIDR pair", head + "mode: ipvs\nclusterCIDR: 10.244.0.0/16,10.245.0.0/16\n", nil, []string{"two CIDRs must be one IPv4 and one IPv6"}},
		{"cluster CIDR pair entry", head + "mode: ipvs\nclusterCIDR: \"10.244.0.0/16,fd00::\"\n", nil, []string{`clusterCIDR[1]: "fd00::" is not a CIDR`}},
		{"cluster CIDR three", head + "mode: ipvs\nclusterCIDR: 10.0.0.0/8,fd00::/8,11.0.0.0/8\n", nil, []string{"expected one CIDR or a dual-stack pair"}},
		{"nodePortAddresses", head + "mode: ipvs\nnodePortAddresses: [172.18.0.0/16, eth0]\n", nil,
			[]string{`nodePortAddresses[1]: "eth0" is not a CIDR or one of the keywords primary, localhost, all`}},
		{"nodePortAddresses twice", head + "mode: ipvs\nnodePortAddresses: [primary, primary]\n", nil, []string{`nodePortAddresses[1]: "primary" is given twice`}},
		{"detect-local mode", head + "mode: ipvs\ndetectLocalMode: PodCIDR\n", nil, []string{`detectLocalMode: "PodCIDR": expected ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix`}},
		{"bridge interface", head + "mode: ipvs\ndetectLocalMode: BridgeInterface\n", nil, []string{"detectLocal.bridgeInterface: must not be empty"}},
		{"interface prefix", head + "mode: ipvs\ndetectLocalMode: InterfaceNamePrefix\n", nil, []string{"detectLocal.interfaceNamePrefix: must not be empty"}},
		{"scheduler name", head + "mode: ipvs\nipvs:\n  scheduler: round robin\n", nil, []string{`ipvs.scheduler: "round robin" is not a scheduler name`}},
		{"config sync period", head + "mode: ipvs\nconfigSyncPeriod: -1m\n", nil, []string{`configSyncPeriod: "-1m0s" must be greater than 0`}},
		{"burst", head + "mode: ipvs\nclientConnection:\n  burst: -1\n", nil, []string{"clientConnection.burst: -1 must be >= 0"}},
		{"oomScoreAdj", head + "mode: ipvs\noomScoreAdj: -1001\n", nil, []string{"oomScoreAdj: -1001 is outside [-1000, 1000]"}},
		{"every problem at once", head + "mode: iptables\nipvs:\n  excludeCIDRs: [x]\n  udpTimeout: -1s\n", nil,
			[]string{"3 problems", `mode: "iptables"`, `ipvs.excludeCIDRs[0]: "x"`, `ipvs.udpTimeout: "-1s"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{}
			_, err := Build([]byte(tt.file), parseFlags(t, tt.flags...), slog.New(rec))
			if err == nil {
				t.Fatalf("Build succeeded; want an error holding %q", tt.want)
			}
			fixture.Contains(t, "error", err.Error(), tt.want...)
			for _, r := range rec.records {
				if strings.HasPrefix(r, "INFO") {
					t.Errorf("a rejected configuration logged %q", r)
				}
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	const file = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n" +
		"featureGates: {KubeProxyIPVS: true, TopologyAwareHints: true}\nipvs: {scheduler: fancy}\n"
	rec := &logRecorder{}
	cfg, err := Load([]byte(file), slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IPVS.Scheduler != "fancy" {
		t.Errorf("scheduler %q, want the configured one", cfg.IPVS.Scheduler)
	}
	want := []string{
		"WARN featureGates.TopologyAwareHints: not used by this proxier; ignoring it",
		`WARN ipvs.scheduler: "fancy" is not one of the schedulers Linux ships (dh, fo, lblc, lblcr, lc, mh, nq, ovf, rr, sed, sh, twos, wlc, wrr); the kernel will refuse it unless a module provides it`,
	}
	if !reflect.DeepEqual(rec.records, want) {
		t.Errorf("logs:\n got %q\nwant %q", rec.records, want)
	}
}

func TestResolveReadsConfigFile(t *testing.T) {
	path := filepath.Join("testdata", "seed-method1.yaml")
	cfg, err := parseFlags(t, "--config="+path, "--ipvs-scheduler=lc").Resolve(slog.New(&logRecorder{}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != ModeIPVS || cfg.IPVS.Scheduler != "lc" {
		t.Errorf("got mode %q scheduler %q, want ipvs and lc", cfg.Mode, cfg.IPVS.Scheduler)
	}
	_, err = parseFlags(t, "--config="+filepath.Join("testdata", "kubeadm-config-default-mode.conf")).Resolve(slog.New(&logRecorder{}))
	if err == nil || !strings.Contains(err.Error(), "kubeadm-config-default-mode.conf: invalid proxier configuration: mode") {
		t.Errorf("error %v: want one naming the file and the mode", err)
	}
	_, err = parseFlags(t, "--config=testdata/missing.yaml").Resolve(nil)
	if err == nil || !strings.Contains(err.Error(), "reading --config") {
		t.Errorf("error %v: want one about reading --config", err)
	}
}

func TestNodePortPrefixes(t *testing.T) {
	p := netip.MustParsePrefix
	nodeIP4, nodeIP6 := netip.MustParseAddr("172.18.0.3"), netip.MustParseAddr("fc00::3")
	tests := []struct {
		addrs  []string
		family int
		nodeIP netip.Addr
		want   []netip.Prefix
	}{
		{nil, 4, nodeIP4, []netip.Prefix{p("0.0.0.0/0")}},
		{nil, 6, nodeIP6, []netip.Prefix{p("::/0")}},
		{[]string{"172.18.0.0/16", "fc00::/64"}, 4, nodeIP4, []netip.Prefix{p("172.18.0.0/16")}},
		{[]string{"172.18.0.0/16", "fc00::/64"}, 6, nodeIP6, []netip.Prefix{p("fc00::/64")}},
		{[]string{"primary"}, 4, nodeIP4, []netip.Prefix{p("172.18.0.3/32")}},
		{[]string{"primary"}, 6, nodeIP6, []netip.Prefix{p("fc00::3/128")}},
		// A loopback or missing node IP gives nothing, which falls back to everything.
		{[]string{"primary"}, 4, netip.MustParseAddr("127.0.0.1"), []netip.Prefix{p("0.0.0.0/0")}},
		{[]string{"localhost", "10.1.2.3/8"}, 4, nodeIP4, []netip.Prefix{p("127.0.0.0/8"), p("10.0.0.0/8")}},
		{[]string{"10.0.0.0/8", "all"}, 4, nodeIP4, []netip.Prefix{p("0.0.0.0/0")}},
		{[]string{"fc00::/64"}, 4, nodeIP4, []netip.Prefix{p("0.0.0.0/0")}},
	}
	for _, tt := range tests {
		c := Config{NodePortAddresses: tt.addrs}
		if got := c.NodePortPrefixes(tt.family, tt.nodeIP); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("NodePortPrefixes(%q, IPv%d, %s) = %v, want %v", tt.addrs, tt.family, tt.nodeIP, got, tt.want)
		}
	}
}

func TestFamilyHelpers(t *testing.T) {
	c := Config{
		ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/56")},
		IPVS:         IPVS{ExcludeCIDRs: []netip.Prefix{netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("10.0.0.0/8")}},
		BindAddress:  netip.MustParseAddr("::"),
	}
	if got, ok := c.ClusterCIDR(6); !ok || got.String() != "fd00:10:244::/56" {
		t.Errorf("ClusterCIDR(6) = %v, %v", got, ok)
	}
	if _, ok := (Config{}).ClusterCIDR(4); ok {
		t.Errorf("ClusterCIDR(4) of an empty config reported a CIDR")
	}
	if got := c.ExcludeCIDRsFor(4); len(got) != 1 || got[0].String() != "10.0.0.0/8" {
		t.Errorf("ExcludeCIDRsFor(4) = %v", got)
	}
	if c.PrimaryFamily() != 6 || defaults().PrimaryFamily() != 4 {
		t.Errorf("PrimaryFamily: %d for ::, %d for 0.0.0.0", c.PrimaryFamily(), defaults().PrimaryFamily())
	}
}

// FuzzLoad feeds arbitrary text to the decoder: it must return a Config or an error, never
// panic, and a Config it returns must be valid.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"seed-method1.yaml", "kubeadm-config.conf", "kubeadm-init.yaml", "kube-proxy-configmap.yaml"} {
		f.Add([]byte(fixture.Read(f, name)))
	}
	f.Add([]byte("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nipvs: {syncPeriod: 1s, minSyncPeriod: 2s}\n"))
	f.Add([]byte("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n" +
		"conntrack: {maxPerCore: 0, min: 5, udpTimeout: 500ms}\noomScoreAdj: -1001\nlogging: {format: json, verbosity: 3, vmodule: [{filePattern: a, verbosity: 1}]}\n" +
		"clientConnection: {acceptContentTypes: 'application/json', contentType: application/json}\nportRange: 1-2\n"))
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Load(data, quiet)
		if err != nil {
			return
		}
		if cfg.Mode != ModeIPVS || cfg.IPVS.Scheduler == "" || cfg.IPVS.SyncPeriod <= 0 || cfg.IPVS.MinSyncPeriod > cfg.IPVS.SyncPeriod {
			t.Errorf("Load accepted an invalid configuration: %s", cfg)
		}
		c := cfg.Conntrack
		for _, d := range []time.Duration{c.TCPEstablishedTimeout, c.TCPCloseWaitTimeout, c.UDPTimeout, c.UDPStreamTimeout} {
			if d < 0 || (d > 0 && d < time.Second) {
				t.Errorf("Load accepted a conntrack timeout of %s", d)
			}
		}
		if c.MaxPerCore < 0 || c.Min < 0 || cfg.OOMScoreAdj < -1000 || cfg.OOMScoreAdj > 1000 {
			t.Errorf("Load accepted conntrack %+v, oomScoreAdj %d", c, cfg.OOMScoreAdj)
		}
		if l := cfg.Logging; (l.Format != LogFormatText && l.Format != LogFormatJSON) || l.FlushFrequency <= 0 || (l.VModule != "" && l.Format != LogFormatText) {
			t.Errorf("Load accepted logging %+v", l)
		}
	})
}
