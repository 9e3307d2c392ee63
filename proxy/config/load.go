package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kube-proxy/config/v1alpha1"
	"k8s.io/utils/ptr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// The group, version and kind a configuration file must declare.
const (
	APIVersion = "kubeproxy.config.k8s.io/v1alpha1"
	Kind       = "KubeProxyConfiguration"
)

// Error lists every problem found in a configuration; each problem names its field (and
// the flag it came from, when a flag set it).
type Error struct {
	Problems []error
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid proxier configuration: " + e.Problems[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid proxier configuration (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap gives the individual problems to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return e.Problems }

// Load reads a KubeProxyConfiguration file (YAML or JSON; in a multi-document file, the
// one document of kind KubeProxyConfiguration) with no flags on top. Notices (the
// defaulted scheduler, ignored feature gates) go to logger; nil means slog.Default().
func Load(data []byte, logger *slog.Logger) (Config, error) {
	return Build(data, nil, logger)
}

// Build resolves the configuration from a file (nil: none) and flags (nil: none). Flags
// the user gave explicitly win over the file; see proxy/README.md for how that differs from
// kube-proxy, which ignores most flags once --config is given.
func Build(file []byte, flags *Flags, logger *slog.Logger) (Config, error) {
	if logger == nil {
		logger = slog.Default()
	}
	var obj v1alpha1.KubeProxyConfiguration
	if file != nil {
		decoded, err := Decode(file)
		if err != nil {
			return Config{}, err
		}
		obj = *decoded
	}
	src, err := flags.overlay(&obj)
	if err != nil {
		return Config{}, &Error{Problems: []error{err}}
	}
	if file == nil && flags != nil && !flags.changed("ipvs-min-sync-period") {
		// Without --config, kube-proxy starts from the iptables defaults, whose
		// minSyncPeriod (1s) --ipvs-min-sync-period then leaves in place when not given.
		obj.IPVS.MinSyncPeriod.Duration = time.Second
	}
	SetDefaults(&obj)
	v := validator{src: src}
	cfg := v.convert(&obj)
	if len(v.errs) > 0 {
		return Config{}, &Error{Problems: v.errs}
	}
	if flags != nil {
		cfg.Cleanup = flags.Cleanup
		cfg.InitOnly = flags.InitOnly
		cfg.ClientConnection.Master = flags.Master
	}
	if obj.IPVS.Scheduler == "" {
		logger.Info(SchedulerDefaultedMessage)
	}
	for _, w := range v.warnings {
		logger.Warn(w)
	}
	return cfg, nil
}

// Decode parses a configuration file strictly: unknown and duplicate fields are errors
// naming the field, as are durations that do not parse. It does not default or validate.
func Decode(data []byte) (*v1alpha1.KubeProxyConfiguration, error) {
	doc, err := selectDocument(data)
	if err != nil {
		return nil, err
	}
	var generic map[string]any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(doc, &generic); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", Kind, err)
	}
	var problems []error
	checkDurations(reflect.TypeFor[v1alpha1.KubeProxyConfiguration](), generic, "", &problems)
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	var obj v1alpha1.KubeProxyConfiguration
	strict, err := kjson.UnmarshalStrict(doc, &obj)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", Kind, err)
	}
	for _, e := range strict {
		problems = append(problems, fmt.Errorf("%w: %s %s has no such field (misspelled, mis-indented, or removed from kube-proxy)", e, APIVersion, Kind))
	}
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return &obj, nil
}

// selectDocument converts the YAML to JSON and, in a multi-document file such as a kubeadm
// configuration, picks the KubeProxyConfiguration document.
func selectDocument(data []byte) ([]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var kinds []string
	var found [][]byte
	for {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading YAML: %w", err)
		}
		doc, err := yaml.YAMLToJSONStrict(raw)
		if err != nil {
			return nil, fmt.Errorf("parsing YAML: %w", err)
		}
		if t := bytes.TrimSpace(doc); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue // an empty document, e.g. before a leading "---"
		}
		var tm metav1.TypeMeta
		if err := kjson.UnmarshalCaseSensitivePreserveInts(doc, &tm); err != nil {
			return nil, fmt.Errorf("parsing YAML: expected a mapping with apiVersion and kind: %w", err)
		}
		kinds = append(kinds, tm.Kind)
		if tm.Kind != Kind {
			continue
		}
		if tm.APIVersion != APIVersion {
			return nil, fmt.Errorf("apiVersion: %q: expected %s for kind %s", tm.APIVersion, APIVersion, Kind)
		}
		found = append(found, doc)
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return nil, fmt.Errorf("the file holds %d %s documents; expected one", len(found), Kind)
	case len(kinds) == 0:
		return nil, fmt.Errorf("the file is empty: expected a %s (apiVersion: %s)", Kind, APIVersion)
	case len(kinds) == 1 && kinds[0] == "ConfigMap":
		return nil, fmt.Errorf("kind: \"ConfigMap\": expected %s; pass the content of the ConfigMap's config.conf key (kubectl -n kube-system get configmap kube-proxy -o jsonpath='{.data.config\\.conf}')", Kind)
	case len(kinds) == 1 && kinds[0] == "":
		return nil, fmt.Errorf("kind is missing: expected apiVersion: %s and kind: %s", APIVersion, Kind)
	default:
		return nil, fmt.Errorf("kind: no %s document among %q", Kind, kinds)
	}
}

var (
	durationType = reflect.TypeFor[metav1.Duration]()
	// timeOrMetaDurationType (logging.flushFrequency) takes a duration string or a number
	// of nanoseconds.
	timeOrMetaDurationType = reflect.TypeFor[logsapi.TimeOrMetaDuration]()
)

// checkDurations finds every metav1.Duration field of t in the decoded map m and reports
// values that are not Go durations. The typed decoder would stop at the first one with a
// message that does not name the field.
func checkDurations(t reflect.Type, m map[string]any, path string, problems *[]error) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if name == "" && f.Anonymous {
			if ft.Kind() == reflect.Struct {
				checkDurations(ft, m, path, problems)
			}
			continue
		}
		val, ok := m[name]
		if !ok || val == nil {
			continue
		}
		field := name
		if path != "" {
			field = path + "." + name
		}
		switch {
		case ft == durationType:
			if s, isString := val.(string); isString {
				if _, err := time.ParseDuration(s); err != nil {
					*problems = append(*problems, fmt.Errorf("%s: %q is not a duration: expected a number with a unit, such as \"30s\", \"15m\" or \"1h30m\"", field, s))
				}
			} else {
				*problems = append(*problems, fmt.Errorf("%s: %v is not a duration: expected a quoted number with a unit, such as \"%vs\"", field, val, val))
			}
		case ft == timeOrMetaDurationType:
			switch v := val.(type) {
			case string:
				if _, err := time.ParseDuration(v); err != nil {
					*problems = append(*problems, fmt.Errorf("%s: %q is not a duration: expected a number with a unit, such as \"5s\", or a number of nanoseconds", field, v))
				}
			case int64, float64:
			default:
				*problems = append(*problems, fmt.Errorf("%s: %v is not a duration: expected a number with a unit, such as \"5s\"", field, val))
			}
		case ft.Kind() == reflect.Struct:
			if sub, isMap := val.(map[string]any); isMap {
				checkDurations(ft, sub, field, problems)
			}
		}
	}
}

// DefaultOOMScoreAdj is kube-proxy's oomScoreAdj (pkg/kubelet/qos.KubeProxyOOMScoreAdj).
const DefaultOOMScoreAdj int32 = -999

// SetDefaults fills in what kube-proxy v1.37 defaults (for the fields this proxier reads),
// except the IPVS scheduler: Build defaults that and logs it, as kube-proxy's IPVS proxier
// does.
func SetDefaults(obj *v1alpha1.KubeProxyConfiguration) {
	if obj.BindAddress == "" {
		obj.BindAddress = "0.0.0.0"
	}
	healthzHost, metricsHost := "0.0.0.0", "127.0.0.1"
	if a, err := parseAddr(obj.BindAddress); err == nil && dataplane.IPFamily(a) == 6 {
		healthzHost, metricsHost = "[::]", "[::1]"
	}
	obj.HealthzBindAddress = defaultHostPort(obj.HealthzBindAddress, healthzHost, "10256")
	obj.MetricsBindAddress = defaultHostPort(obj.MetricsBindAddress, metricsHost, "10249")
	if obj.IPVS.SyncPeriod.Duration == 0 {
		obj.IPVS.SyncPeriod.Duration = 30 * time.Second
	}
	// kube-proxy gives ipvs.minSyncPeriod no default: 0 means every change syncs at once.
	if obj.IPTables.MasqueradeBit == nil {
		bit := int32(14)
		obj.IPTables.MasqueradeBit = &bit
	}
	if obj.ConfigSyncPeriod.Duration == 0 {
		obj.ConfigSyncPeriod.Duration = 15 * time.Minute
	}
	if obj.ClientConnection.ContentType == "" {
		obj.ClientConnection.ContentType = "application/vnd.kubernetes.protobuf"
	}
	if obj.ClientConnection.QPS == 0 {
		obj.ClientConnection.QPS = 5
	}
	if obj.ClientConnection.Burst == 0 {
		obj.ClientConnection.Burst = 10
	}
	if obj.DetectLocalMode == "" {
		obj.DetectLocalMode = v1alpha1.LocalMode(DetectLocalClusterCIDR)
	}
	if obj.OOMScoreAdj == nil {
		obj.OOMScoreAdj = ptr.To(DefaultOOMScoreAdj)
	}
	c := &obj.Conntrack
	if c.MaxPerCore == nil {
		c.MaxPerCore = ptr.To[int32](32 * 1024)
	}
	if c.Min == nil {
		c.Min = ptr.To[int32](128 * 1024)
	}
	if c.TCPEstablishedTimeout == nil {
		c.TCPEstablishedTimeout = &metav1.Duration{Duration: 24 * time.Hour}
	}
	if c.TCPCloseWaitTimeout == nil {
		c.TCPCloseWaitTimeout = &metav1.Duration{Duration: time.Hour}
	}
	if obj.Logging.Format == "" {
		obj.Logging.Format = LogFormatText
	}
	if obj.Logging.FlushFrequency.Duration.Duration == 0 {
		obj.Logging.FlushFrequency.Duration.Duration = 5 * time.Second
	}
	if obj.FeatureGates == nil {
		obj.FeatureGates = map[string]bool{}
	}
}

// defaultHostPort is kube-proxy's rule for bind addresses: empty gets the default host and
// port, a bare IP gets the default port.
func defaultHostPort(v, host, port string) string {
	if v == "" {
		return host + ":" + port
	}
	if a, err := parseAddr(v); err == nil {
		if dataplane.IPFamily(a) == 6 {
			return "[" + v + "]:" + port
		}
		return v + ":" + port
	}
	return v
}
