package config

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/kube-proxy/config/v1alpha1"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

var update = flag.Bool("update", false, "rewrite the generated table in proxy/README.md")

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// leafPaths walks t as the JSON decoder sees it: structs by their JSON names (embedded
// ones inline), pointers to what they point at, maps as ".*", lists of structs as "[]".
// A type that decodes itself (metav1.Duration, resource.QuantityValue) is one leaf.
func leafPaths(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		*out = append(*out, prefix)
		return
	}
	join := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case name == "-":
			case name == "" && f.Anonymous:
				leafPaths(f.Type, prefix, out)
			case name == "":
				leafPaths(f.Type, join(f.Name), out)
			default:
				leafPaths(f.Type, join(name), out)
			}
		}
	case reflect.Map:
		leafPaths(t.Elem(), prefix+".*", out)
	case reflect.Slice, reflect.Array:
		elem := t.Elem()
		for elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		if elem.Kind() == reflect.Struct && !elem.Implements(jsonUnmarshaler) && !reflect.PointerTo(elem).Implements(jsonUnmarshaler) {
			leafPaths(elem, prefix+"[]", out)
			return
		}
		*out = append(*out, prefix)
	default:
		*out = append(*out, prefix)
	}
}

func TestFieldsCoverKubeProxyConfiguration(t *testing.T) {
	var leaves []string
	leafPaths(reflect.TypeFor[v1alpha1.KubeProxyConfiguration](), "", &leaves)
	listed := map[string]bool{}
	for _, f := range Fields {
		if listed[f.Path] {
			t.Errorf("Fields lists %s twice", f.Path)
		}
		listed[f.Path] = true
		switch f.Handling {
		case Honoured, Refused, Ignored:
		default:
			t.Errorf("Fields: %s has handling %q", f.Path, f.Handling)
		}
		if f.What == "" {
			t.Errorf("Fields: %s does not say what the proxier does with it", f.Path)
		}
	}
	for _, p := range leaves {
		if !listed[p] {
			t.Errorf("KubeProxyConfiguration has a field %s that Fields does not list: decide whether the proxier honours, refuses or (as kube-proxy in ipvs mode) ignores it, implement that in validate.go and add it to Fields", p)
		}
		delete(listed, p)
	}
	for p := range listed {
		t.Errorf("Fields lists %s, which KubeProxyConfiguration does not have", p)
	}
	if len(leaves) < 60 {
		t.Errorf("the walk found %d leaf fields; expected the 60 or more of v1alpha1", len(leaves))
	}
}

// The generated section of proxy/README.md.
const (
	readmePath  = "proxy/README.md"
	readmeBegin = "<!-- BEGIN fields: generated from proxy/config.Fields; go test ./proxy/config -run TestREADMEFieldTable -update -->\n"
	readmeEnd   = "<!-- END fields -->\n"
)

func TestREADMEFieldTable(t *testing.T) {
	s := fixture.ReadRepo(t, readmePath)
	i, j := strings.Index(s, readmeBegin), strings.Index(s, readmeEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no section between %q and %q", readmePath, readmeBegin, readmeEnd)
	}
	want := FieldsMarkdown()
	if got := s[i+len(readmeBegin) : j]; got != want {
		if *update {
			if err := os.WriteFile(fixture.RepoFile(t, readmePath), []byte(s[:i+len(readmeBegin)]+want+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s's field table differs from Fields; run: go test ./proxy/config -run TestREADMEFieldTable -update", readmePath)
	}
}

// kubeProxyFlags reads the flag names from kube-proxy's --help. The testdata was captured
// on the development host with
//
//	~/.cache/ipvs-e2e/upstream/v1.37.2/bin/kube-proxy --help > testdata/kube-proxy-v1.37.2-help.txt
//
// (the release binary the lab downloads; exit 0, nothing on stderr).
func kubeProxyFlags(t *testing.T) []string {
	t.Helper()
	help := fixture.Read(t, "kube-proxy-v1.37.2-help.txt")
	re := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)`)
	var names []string
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			names = append(names, m[1])
		}
	}
	if len(names) < 50 {
		t.Fatalf("found %d flags in kube-proxy's --help; expected over 50", len(names))
	}
	return names
}

// flagsWithoutField are kube-proxy flags that set no KubeProxyConfiguration field but that
// this proxier implements with kube-proxy's meaning.
var flagsWithoutField = []string{"config", "cleanup", "init-only", "master", "help"}

func newFlagSet() (*Flags, *pflag.FlagSet) {
	f := &Flags{}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.AddFlags(fs)
	return f, fs
}

func TestFlagsCoverKubeProxy(t *testing.T) {
	upstream := kubeProxyFlags(t)
	_, fs := newFlagSet()
	byFlag := map[string]string{}
	for _, f := range Fields {
		if f.Flag != "" {
			byFlag[f.Flag] = f.Path
			if !slices.Contains(upstream, f.Flag) {
				t.Errorf("Fields: %s names --%s, which kube-proxy v1.37.2 does not have", f.Path, f.Flag)
			}
		}
	}
	for _, name := range upstream {
		_, field := byFlag[name]
		_, refused := refusedFlags[name]
		without := slices.Contains(flagsWithoutField, name)
		switch {
		case field || refused || without:
		default:
			t.Errorf("kube-proxy's --%s is neither mapped to a field (Fields), refused (refusedFlags) nor implemented without one (flagsWithoutField)", name)
		}
		if name != "help" && fs.Lookup(name) == nil {
			t.Errorf("kube-proxy's --%s is not registered: the proxier would fail with \"unknown flag\" instead of a reason", name)
		}
	}
	fs.VisitAll(func(fl *pflag.Flag) {
		if !slices.Contains(upstream, fl.Name) && !slices.Contains(hiddenRefusedFlags, fl.Name) {
			t.Errorf("--%s is registered but kube-proxy v1.37.2 has no such flag", fl.Name)
		}
	})
}

// sampleFlagValues are values for flags whose default cannot be given back as is.
var sampleFlagValues = map[string]string{
	"feature-gates":             "KubeProxyIPVS=true",
	"hostname-override":         "node-1",
	"ipvs-exclude-cidrs":        "10.0.0.0/8",
	"nodeport-addresses":        "primary",
	"vmodule":                   "proxier*=4",
	"log-json-info-buffer-size": "1Ki",
	"log-text-info-buffer-size": "1Ki",
}

func TestFlagsSetTheirField(t *testing.T) {
	for _, field := range Fields {
		if field.Flag == "" {
			continue
		}
		t.Run(field.Flag, func(t *testing.T) {
			f, fs := newFlagSet()
			val, ok := sampleFlagValues[field.Flag]
			if !ok {
				val = fs.Lookup(field.Flag).DefValue
			}
			if err := fs.Parse([]string{"--" + field.Flag + "=" + val}); err != nil {
				t.Fatal(err)
			}
			var obj v1alpha1.KubeProxyConfiguration
			src, err := f.overlay(&obj)
			if err != nil {
				t.Fatal(err)
			}
			// A field's message names the flag: featureGates.X and logging.vmodule[i].
			base, _, _ := strings.Cut(field.Path, "[")
			base = strings.TrimSuffix(base, ".*")
			found := false
			for path, flag := range src {
				if flag == field.Flag && (path == base || strings.HasPrefix(path, base+".")) {
					found = true
				}
			}
			if !found {
				t.Errorf("--%s=%s set %v; expected %s", field.Flag, val, src, field.Path)
			}
		})
	}
}

func TestRefusedFlags(t *testing.T) {
	for name, why := range refusedFlags {
		t.Run(name, func(t *testing.T) {
			f, fs := newFlagSet()
			if err := fs.Parse([]string{"--" + name + "=1", "--proxy-mode=ipvs"}); err != nil {
				t.Fatal(err)
			}
			_, err := Build(nil, f, slog.New(slog.DiscardHandler))
			wanterr.Check(t, err, "--"+name+" is not supported: "+why)
		})
	}
	// --version alone parses (kube-proxy's takes an optional value) and is refused.
	f, fs := newFlagSet()
	if err := fs.Parse([]string{"--version"}); err != nil {
		t.Fatal(err)
	}
	_, err := Build(nil, f, nil)
	wanterr.Check(t, err, "--version is not supported")
}

// TestFieldHandling checks what the proxier does with the fields and flags beyond the
// IPVS core (TestLoadFiles): honoured ones land in Config, refused ones are errors naming
// the field (and flag), ignored ones are warnings naming the field.
func TestFieldHandling(t *testing.T) {
	tests := []struct {
		name    string
		file    string // after apiVersion, kind and mode: ipvs
		flags   []string
		check   func(Config) string // "" when right
		wantErr string
		warn    string // a warning that must be logged; "" means none at all
	}{
		{
			name: "conntrack honoured",
			file: "conntrack: {maxPerCore: 0, min: 5, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 30s, tcpBeLiberal: true, udpTimeout: 10s, udpStreamTimeout: 2m}\n",
			check: func(c Config) string {
				want := Conntrack{MaxPerCore: 0, Min: 5, TCPCloseWaitTimeout: 30 * time.Second, TCPBeLiberal: true, UDPTimeout: 10 * time.Second, UDPStreamTimeout: 2 * time.Minute}
				if c.Conntrack != want {
					return fmt.Sprintf("conntrack %+v, want %+v", c.Conntrack, want)
				}
				return ""
			},
		},
		{name: "conntrack flag wins", file: "conntrack: {maxPerCore: 7}\n", flags: []string{"--conntrack-max-per-core=9", "--conntrack-tcp-be-liberal"},
			check: func(c Config) string {
				if c.Conntrack.MaxPerCore != 9 || !c.Conntrack.TCPBeLiberal || c.Conntrack.Min != 131072 {
					return fmt.Sprintf("conntrack %+v", c.Conntrack)
				}
				return ""
			}},
		{name: "negative maxPerCore", file: "conntrack: {maxPerCore: -1}\n", wantErr: "conntrack.maxPerCore: -1 must be >= 0"},
		{name: "negative min from a flag", flags: []string{"--conntrack-min=-1"}, wantErr: "conntrack.min (--conntrack-min): -1 must be >= 0"},
		{name: "negative timeout", file: "conntrack: {tcpCloseWaitTimeout: -1s}\n", wantErr: `conntrack.tcpCloseWaitTimeout: "-1s" must be >= 0`},
		{name: "sub-second timeout", file: "conntrack: {udpTimeout: 500ms}\n", wantErr: `conntrack.udpTimeout: "500ms" is under a second`},
		{name: "oomScoreAdj", file: "oomScoreAdj: -500\n", check: func(c Config) string {
			if c.OOMScoreAdj != -500 {
				return fmt.Sprint("oomScoreAdj ", c.OOMScoreAdj)
			}
			return ""
		}},
		{name: "oomScoreAdj out of range", flags: []string{"--oom-score-adj=1001"}, wantErr: "oomScoreAdj (--oom-score-adj): 1001 is outside [-1000, 1000]"},
		{name: "json logging", file: "logging: {format: json, verbosity: 4, flushFrequency: 2s}\n", check: func(c Config) string {
			if want := (Logging{Format: LogFormatJSON, Verbosity: 4, FlushFrequency: 2 * time.Second}); c.Logging != want {
				return fmt.Sprintf("logging %+v, want %+v", c.Logging, want)
			}
			return ""
		}},
		{name: "logging flags over the file, vmodule patterns of flags first", file: "logging: {verbosity: 1, vmodule: [{filePattern: sync*, verbosity: 2}]}\n",
			flags: []string{"-v=5", "--vmodule=proxier*=4", "--log-flush-frequency=1s"}, check: func(c Config) string {
				if want := (Logging{Format: LogFormatText, Verbosity: 5, FlushFrequency: time.Second, VModule: "proxier*=4,sync*=2"}); c.Logging != want {
					return fmt.Sprintf("logging %+v, want %+v", c.Logging, want)
				}
				return ""
			}},
		{name: "unknown log format", flags: []string{"--logging-format=xml"}, wantErr: `logging.format (--logging-format): "xml": expected text or json`},
		{name: "json disabled by its gate", file: "featureGates: {LoggingBetaOptions: false}\nlogging: {format: json}\n", wantErr: `logging.format: "json" is disabled by featureGates.LoggingBetaOptions: false`},
		{name: "vmodule with json", file: "logging: {format: json, vmodule: [{filePattern: a, verbosity: 1}]}\n", wantErr: `logging.vmodule: only works with logging.format text (found "json")`},
		{name: "vmodule empty pattern", file: "logging: {vmodule: [{filePattern: '', verbosity: 1}]}\n", wantErr: `logging.vmodule[0].filePattern: "": expected a non-empty file pattern`},
		{name: "flush frequency", file: "logging: {flushFrequency: -1s}\n", wantErr: `logging.flushFrequency: "-1s" must be greater than 0`},
		{name: "flush frequency not a duration", file: "logging: {flushFrequency: 5 seconds}\n", wantErr: `logging.flushFrequency: "5 seconds" is not a duration`},
		{name: "flush frequency in nanoseconds", file: "logging: {flushFrequency: 2000000000}\n", check: func(c Config) string {
			if c.Logging.FlushFrequency != 2*time.Second {
				return fmt.Sprint("flushFrequency ", c.Logging.FlushFrequency)
			}
			return ""
		}},
		{name: "split stream", flags: []string{"--log-json-split-stream"}, wantErr: "logging.options.json.splitStream (--log-json-split-stream): true is not supported"},
		{name: "info buffer", file: "logging: {options: {text: {infoBufferSize: 1Ki}}}\n", wantErr: `logging.options.text.infoBufferSize: "1Ki" is not supported`},
		{name: "client connection", file: "clientConnection: {acceptContentTypes: 'application/json, application/vnd.kubernetes.protobuf', contentType: application/json, qps: 50, burst: 100}\n",
			flags: []string{"--master=https://10.0.0.1:6443"}, check: func(c Config) string {
				want := ClientConnection{Master: "https://10.0.0.1:6443", AcceptContentTypes: "application/json, application/vnd.kubernetes.protobuf", ContentType: "application/json", QPS: 50, Burst: 100}
				if c.ClientConnection != want {
					return fmt.Sprintf("client %+v, want %+v", c.ClientConnection, want)
				}
				return ""
			}},
		{name: "content type", flags: []string{"--kube-api-content-type=text/plain"}, wantErr: `clientConnection.contentType (--kube-api-content-type): "text/plain": expected application/vnd.kubernetes.protobuf or application/json`},
		{name: "accept content types", file: "clientConnection: {acceptContentTypes: 'application/json,;x'}\n", wantErr: `clientConnection.acceptContentTypes: "application/json,;x": ";x" is not a media type`},
		{name: "negative burst", flags: []string{"--kube-api-burst=-1"}, wantErr: "clientConnection.burst (--kube-api-burst): -1 must be >= 0"},
		{name: "show hidden metrics", file: "showHiddenMetricsForVersion: '1.36'\n", check: func(c Config) string {
			if c.ShowHiddenMetricsForVersion != "1.36" {
				return "showHiddenMetricsForVersion " + c.ShowHiddenMetricsForVersion
			}
			return ""
		}},
		{name: "show hidden metrics of another version", flags: []string{"--show-hidden-metrics-for-version=1.35"}, wantErr: `showHiddenMetricsForVersion (--show-hidden-metrics-for-version): "1.35": expected "1.36"`},
		{name: "profiling, hard fail, init-only", file: "enableProfiling: true\nbindAddressHardFail: true\n", flags: []string{"--init-only"}, check: func(c Config) string {
			if !c.EnableProfiling || !c.BindAddressHardFail || !c.InitOnly {
				return fmt.Sprintf("profiling %t hardFail %t initOnly %t", c.EnableProfiling, c.BindAddressHardFail, c.InitOnly)
			}
			return ""
		}},
		{name: "profiling flag over the file", file: "enableProfiling: true\n", flags: []string{"--profiling=false"}, check: func(c Config) string {
			if c.EnableProfiling {
				return "profiling on"
			}
			return ""
		}},
		{name: "portRange", file: "portRange: 30000-32767\n", warn: `WARN portRange: "30000-32767": This flag has no effect and will be removed in a future release. (it configured the userspace proxier`},
		{name: "iptables sync period", file: "iptables: {syncPeriod: 10s}\n", warn: "WARN iptables.syncPeriod: 10s has no effect in ipvs mode (ipvs mode uses ipvs.syncPeriod)"},
		{name: "iptables defaults are quiet", file: "iptables: {syncPeriod: 30s, minSyncPeriod: 1s}\nnftables: {syncPeriod: 30s, minSyncPeriod: 1s, masqueradeBit: 14}\n"},
		{name: "localhost nodeports flag", flags: []string{"--iptables-localhost-nodeports=false"}, warn: "WARN iptables.localhostNodePorts (--iptables-localhost-nodeports): false has no effect in ipvs mode"},
		{name: "nftables", file: "nftables: {masqueradeAll: true}\n", warn: "WARN nftables.masqueradeAll: true has no effect in ipvs mode (ipvs mode uses iptables.masqueradeAll)"},
		{name: "winkernel", file: "winkernel: {networkName: l2bridge}\n", warn: "WARN winkernel.networkName: l2bridge has no effect in ipvs mode (it is for kube-proxy on Windows)"},
		{name: "windows service", file: "windowsRunAsService: true\n", warn: "WARN windowsRunAsService: true has no effect in ipvs mode"},
		{name: "detect local from flags", flags: []string{"--detect-local-mode=InterfaceNamePrefix", "--pod-interface-name-prefix=veth"}, check: func(c Config) string {
			if c.DetectLocalMode != DetectLocalInterfaceNamePrefix || c.InterfaceNamePrefix != "veth" {
				return fmt.Sprintf("detectLocal %s %q", c.DetectLocalMode, c.InterfaceNamePrefix)
			}
			return ""
		}},
		{name: "detect local bridge without its interface", flags: []string{"--detect-local-mode=BridgeInterface"}, wantErr: "detectLocal.bridgeInterface: must not be empty with detectLocalMode BridgeInterface"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, fs := newFlagSet()
			if err := fs.Parse(tt.flags); err != nil {
				t.Fatal(err)
			}
			rec := &logRecorder{}
			cfg, err := Build([]byte("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"+tt.file), f, slog.New(rec))
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if tt.check != nil {
				if msg := tt.check(cfg); msg != "" {
					t.Error(msg)
				}
			}
			var warnings []string
			for _, r := range rec.records {
				if strings.HasPrefix(r, "WARN") {
					warnings = append(warnings, r)
				}
			}
			switch {
			case tt.warn == "" && len(warnings) > 0:
				t.Errorf("warnings %q; want none", warnings)
			case tt.warn != "" && (len(warnings) != 1 || !strings.HasPrefix(warnings[0], tt.warn)):
				t.Errorf("warnings %q; want one starting %q", warnings, tt.warn)
			}
		})
	}
}

// TestKubeadmConfigIsQuiet: kubeadm's ConfigMap writes every field with its zero value;
// none of them may warn.
func TestKubeadmConfigIsQuiet(t *testing.T) {
	rec := &logRecorder{}
	if _, err := Load([]byte(fixture.Read(t, "kubeadm-config.conf")), slog.New(rec)); err != nil {
		t.Fatal(err)
	}
	for _, r := range rec.records {
		if strings.HasPrefix(r, "WARN") {
			t.Errorf("warning %q", r)
		}
	}
}

func TestFlagNamesAreKubeProxys(t *testing.T) {
	upstream := kubeProxyFlags(t)
	got := FlagNames()
	for _, name := range upstream {
		if name != "help" && !slices.Contains(got, name) {
			t.Errorf("FlagNames() (what --help lists) lacks kube-proxy's --%s", name)
		}
	}
	for _, name := range got {
		if !slices.Contains(upstream, name) {
			t.Errorf("FlagNames() lists --%s, which kube-proxy's --help does not", name)
		}
	}
}
