package e2e

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
)

// setting is one knob of a run: a flag of the suite's test binary (-e2e.<flag>) that
// defaults to its IPVS_E2E_* environment variable, or, for a provider's own knobs, the
// variable alone (the provider reads it; the suite only checks it).
type setting struct {
	flag  string // without the "e2e." prefix; empty: environment only
	env   string
	usage string
	// accepts says which values are accepted, in errors and in -help.
	accepts string
	// def is the value when neither flag nor variable sets one.
	def func(suite string) string
	// apply parses value into c, or says why it is not accepted.
	apply func(c *Config, value string) error
	// bool flags may be given without a value (-e2e.reuse).
	bool bool
	// plain registers the flag without the "e2e." prefix, as kubectl users type it
	// (-kubeconfig, -context).
	plain bool
}

// flagName is the flag as typed on the command line, without its dash.
func (s setting) flagName() string {
	if s.plain {
		return s.flag
	}
	return "e2e." + s.flag
}

// boolAccepts is what strconv.ParseBool accepts.
const boolAccepts = "a boolean as strconv.ParseBool reads it: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False"

// schedulers are the ipvs.scheduler values kube-proxy's configuration validation accepts.
var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh"}

// clusterNameRE is kind's rule for cluster names; the lab provider names its run after it.
var clusterNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

// versionRE is a Kubernetes release as the providers take it: 1.36, v1.36 or v1.37.2.
var versionRE = regexp.MustCompile(`^v?1\.[0-9]+(\.[0-9]+)?$`)

// settings is every setting the suites read. Both the flags and the environment reading
// come from it, and Settings.Config checks all of them at once.
func settings() []setting {
	rows := []setting{
		textSetting(setting{flag: "provider", env: "IPVS_E2E_PROVIDER", usage: "cluster provider",
			accepts: "one of " + strings.Join(cluster.Names(), ", "), def: constant("kind")},
			func(c *Config) *string { return &c.Provider }, oneOf(cluster.Names(), "no such provider")),
		textSetting(setting{flag: "cluster", env: "IPVS_E2E_CLUSTER", usage: "cluster name",
			accepts: "lowercase letters, digits, '-' and '.', starting with a letter or digit (kind's rule)",
			def:     func(suite string) string { return cluster.DefaultName + "-" + suite }},
			func(c *Config) *string { return &c.ClusterName }, matches(clusterNameRE, "not a cluster name")),
		textSetting(setting{flag: "k8s-version", env: "IPVS_E2E_K8S_VERSION", usage: "Kubernetes version",
			accepts: "empty (the provider's default), a release such as 1.36 or v1.37.2, or " + lab.Reference + " (lab provider: the reference proxier)",
			def:     constant("")},
			func(c *Config) *string { return &c.KubernetesVersion }, func(v string) error {
				if v != "" && v != lab.Reference && !versionRE.MatchString(v) {
					return errors.New("not a Kubernetes release")
				}
				return nil
			}),
		textSetting(setting{flag: "node-image", env: "IPVS_E2E_NODE_IMAGE", usage: "node image, overrides the version's",
			accepts: "empty (the version's image) or an image reference without spaces", def: constant("")},
			func(c *Config) *string { return &c.NodeImage }, func(v string) error {
				if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' }) {
					return errors.New("contains spaces or control characters")
				}
				return nil
			}),
		textSetting(setting{flag: "switch", env: "IPVS_E2E_SWITCH", usage: "how kube-proxy gets to ipvs mode",
			accepts: SwitchAtCreation + " (method 1: created in ipvs mode) or " + SwitchByConfigMap + " (method 2: ConfigMap edit)",
			def:     constant(SwitchAtCreation)},
			func(c *Config) *string { return &c.Switch }, oneOf([]string{SwitchAtCreation, SwitchByConfigMap}, "no such method")),
		textSetting(setting{flag: "scheduler", env: "IPVS_E2E_SCHEDULER", usage: "kube-proxy's ipvs.scheduler at creation",
			accepts: "empty (rr, as in the seed) or one of " + strings.Join(schedulers, ", ") + " (kube-proxy's)",
			def:     constant("")},
			func(c *Config) *string { return &c.Scheduler }, oneOf(append([]string{""}, schedulers...), "not a scheduler kube-proxy accepts")),
		boolSetting("reuse", "IPVS_E2E_REUSE", "reuse an existing cluster of that name", false, func(c *Config) *bool { return &c.Reuse }),
		boolSetting("keep-on-failure", "IPVS_E2E_KEEP_ON_FAILURE", "keep the cluster when specs fail", false, func(c *Config) *bool { return &c.KeepOnFailure }),
		boolSetting("delete-on-interrupt", "IPVS_E2E_DELETE_ON_INTERRUPT", "delete the cluster on Ctrl-C", true, func(c *Config) *bool { return &c.DeleteOnInterrupt }),
		boolSetting("keep-leftovers", "IPVS_E2E_KEEP_LEFTOVERS", "after a ConfigMap switch, report the iptables-mode chains but do not clean them", false, func(c *Config) *bool { return &c.KeepLeftovers }),
		textSetting(setting{flag: "ipvsdump", env: "IPVS_E2E_IPVSDUMP", usage: "ipvsdump binary copied into the nodes",
			accepts: "an existing file, a static linux build of cmd/ipvsdump (make build writes bin/ipvsdump)",
			def:     func(string) string { return cluster.CheckoutPath("bin", "ipvsdump") }},
			func(c *Config) *string { return &c.IPVSDump }, lab.CheckLinuxBinary),
		textSetting(setting{flag: "artifacts", env: "IPVS_E2E_ARTIFACTS", usage: "directory of JUnit XML, per-node artifacts and provider logs",
			accepts: "a directory that can be created (0755) and written",
			def:     func(string) string { return cluster.CheckoutPath("artifacts") }},
			func(c *Config) *string { return &c.Artifacts }, writableDir),
		// A cluster the project did not create (provider existing). KUBECONFIG itself is
		// read by the provider as kubectl reads it, never by another provider.
		plainText(textSetting(setting{flag: "kubeconfig", env: "IPVS_E2E_KUBECONFIG", usage: "kubeconfig of the cluster (provider existing)",
			accepts: "empty (KUBECONFIG, then ~/.kube/config) or an existing file", def: constant("")},
			func(c *Config) *string { return &c.Kubeconfig }, func(v string) error {
				if v == "" {
					return nil
				}
				_, err := os.Stat(v)
				return err
			})),
		plainText(textSetting(setting{flag: "context", env: "IPVS_E2E_CONTEXT", usage: "kubeconfig context (provider existing)",
			accepts: "empty (the current-context) or a context name", def: constant("")},
			func(c *Config) *string { return &c.Context }, noSpaces)),
		plainText(boolSetting("allow-disruptive", "IPVS_E2E_ALLOW_DISRUPTIVE", "on a cluster the project did not create, allow editing the kube-proxy ConfigMap and restarting kube-proxy (restored at the end)", false, func(c *Config) *bool { return &c.AllowDisruptive })),
		textSetting(setting{flag: "inspector-image", env: "IPVS_E2E_INSPECTOR_IMAGE", usage: "node inspector image (provider existing; make inspector-image builds it)",
			accepts: "empty or an image reference without spaces", def: constant("")},
			func(c *Config) *string { return &c.InspectorImage }, noSpaces),
		textSetting(setting{flag: "nodeport-address", env: "IPVS_E2E_NODEPORT_ADDRESS", usage: "address the tests reach NodePorts at (provider existing)",
			accepts: "empty (the first node's InternalIP) or an IP address", def: constant("")},
			func(c *Config) *string { return &c.NodePortAddress }, func(v string) error {
				if v == "" {
					return nil
				}
				if _, err := netip.ParseAddr(v); err != nil {
					return errors.New("not an IP address")
				}
				return nil
			}),
		{flag: "timeout", env: "IPVS_E2E_TIMEOUT", usage: "bound of each wait",
			accepts: "a duration greater than 0 as time.ParseDuration reads it, such as 90s, 5m or 1h30m",
			def:     constant("3m"),
			apply: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil {
					return errors.New("not a duration")
				}
				if d <= 0 {
					return errors.New("not greater than 0")
				}
				c.Timeout = d
				return nil
			}},
	}
	for _, s := range lab.Settings() {
		rows = append(rows, setting{env: s.Env, usage: "lab provider", accepts: s.Accepts, def: constant(""),
			apply: func(_ *Config, v string) error {
				if v == "" {
					return nil
				}
				return s.Validate(v)
			}})
	}
	return rows
}

func constant(v string) func(string) string { return func(string) string { return v } }

func plainText(s setting) setting { s.plain = true; return s }

func noSpaces(v string) error {
	if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' }) {
		return errors.New("contains spaces or control characters")
	}
	return nil
}

// textSetting completes s: its value is stored as text in field, and check says whether
// it is accepted. A rejected value is stored too, so the summary of a run stopped by it
// shows what was given (the artifacts directory that could not be made).
func textSetting(s setting, field func(*Config) *string, check func(string) error) setting {
	s.apply = func(c *Config, v string) error {
		*field(c) = v
		return check(v)
	}
	return s
}

func oneOf(values []string, reason string) func(string) error {
	return func(v string) error {
		if !slices.Contains(values, v) {
			return errors.New(reason)
		}
		return nil
	}
}

func matches(re *regexp.Regexp, reason string) func(string) error {
	return func(v string) error {
		if !re.MatchString(v) {
			return errors.New(reason)
		}
		return nil
	}
}

func boolSetting(name, env, usage string, def bool, field func(*Config) *bool) setting {
	return setting{flag: name, env: env, usage: usage, accepts: boolAccepts, bool: true,
		def: constant(strconv.FormatBool(def)),
		apply: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("not a boolean")
			}
			*field(c) = b
			return nil
		}}
}

// writableDir creates dir (0755) when missing and checks that a file can be written in it.
func writableDir(dir string) error {
	if dir == "" {
		return errors.New("empty")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// Settings holds each setting's text as the flags and the environment gave it, until
// Config checks them all.
type Settings struct {
	values []*settingValue
}

// settingValue is one setting's text and where it came from; it is the flag's value.
type settingValue struct {
	setting
	text   string
	source string // "-e2e.<flag>" or the variable; empty: the default
}

func (v *settingValue) String() string {
	if v == nil {
		return ""
	}
	return v.text
}

func (v *settingValue) Set(s string) error {
	v.text, v.source = s, "-"+v.flagName()
	return nil
}

func (v *settingValue) IsBoolFlag() bool { return v.bool }

// Bind reads every setting's variable and registers the flags on fs; a flag given on the
// command line wins over its variable. Nothing is checked here: Config does that.
func (st *Settings) Bind(fs *flag.FlagSet, suite string) {
	for _, s := range settings() {
		v := &settingValue{setting: s, text: s.def(suite)}
		if env, ok := os.LookupEnv(s.env); ok && env != "" {
			v.text, v.source = env, s.env
		}
		st.values = append(st.values, v)
		if s.flag != "" {
			// The usage names the default itself: Ginkgo's -help leaves Go flags' defaults out.
			def := s.def(suite)
			if def == "" {
				def = "empty"
			}
			fs.Var(v, s.flagName(), fmt.Sprintf("%s (%s, default %s): %s", s.usage, s.env, def, s.accepts))
		}
	}
}

// Config checks every setting and returns the run's configuration, or every malformed
// setting at once, each naming its variable or flag, the value and what is accepted; the
// configuration then holds what could be read, for the summary only.
func (st *Settings) Config() (Config, error) {
	var c Config
	var names []string
	var errs []error
	for _, v := range st.values {
		if err := v.apply(&c, v.text); err != nil {
			source := v.source
			if source == "" {
				source = v.env + " (default)"
			}
			names = append(names, source)
			errs = append(errs, fmt.Errorf("%s=%q: %v; expected %s", source, v.text, err, v.accepts))
		}
	}
	if len(errs) == 0 {
		if err := c.providerOnly(st.sources()); err != nil {
			return c, err
		}
	}
	switch len(errs) {
	case 0:
		return c, nil
	case 1:
		return c, fmt.Errorf("malformed setting %s:\n%w", names[0], errs[0])
	}
	// The first line names them all: summaries show only a failure's first line.
	return c, fmt.Errorf("malformed settings %s:\n%w", strings.Join(names, ", "), errors.Join(errs...))
}

// sources names where each setting given came from (flag or variable), by its variable.
func (st *Settings) sources() map[string]string {
	out := map[string]string{}
	for _, v := range st.values {
		if v.source != "" {
			out[v.env] = v.source
		}
	}
	return out
}

// providerOnly refuses the existing provider's settings on another provider, where they
// would be silently ignored, and a ConfigMap switch on a cluster the run did not create
// without the opt-in.
func (c Config) providerOnly(given map[string]string) error {
	if c.Provider != "existing" {
		var stray []string
		for _, env := range []string{"IPVS_E2E_KUBECONFIG", "IPVS_E2E_CONTEXT", "IPVS_E2E_ALLOW_DISRUPTIVE", "IPVS_E2E_INSPECTOR_IMAGE", "IPVS_E2E_NODEPORT_ADDRESS"} {
			if src, ok := given[env]; ok {
				stray = append(stray, src)
			}
		}
		if len(stray) > 0 {
			slices.Sort(stray)
			return fmt.Errorf("settings %s apply to provider existing only (a cluster the project did not create), not to provider %s: set IPVS_E2E_PROVIDER=existing or drop them", strings.Join(stray, ", "), c.Provider)
		}
		return nil
	}
	if c.Switch == SwitchByConfigMap && !c.AllowDisruptive {
		return fmt.Errorf("IPVS_E2E_SWITCH=%s on provider existing edits the kube-proxy ConfigMap and deletes kube-proxy's pods on a cluster the project did not create: allow it with -allow-disruptive (IPVS_E2E_ALLOW_DISRUPTIVE=1; the ConfigMap is restored at the end), or use %s to check a kube-proxy already in ipvs mode", SwitchByConfigMap, SwitchAtCreation)
	}
	return nil
}
