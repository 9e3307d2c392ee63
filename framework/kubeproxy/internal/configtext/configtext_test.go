package configtext

import (
	"strings"
	"testing"

	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// changedLines returns the lines that differ; the texts must have the same line count.
func changedLines(t *testing.T, before, after string) map[int][2]string {
	t.Helper()
	b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
	if len(b) != len(a) {
		t.Fatalf("line count changed from %d to %d", len(b), len(a))
	}
	out := map[int][2]string{}
	for i := range b {
		if b[i] != a[i] {
			out[i] = [2]string{b[i], a[i]}
		}
	}
	return out
}

func TestSetModeChangesOnlyTheModeLine(t *testing.T) {
	for _, tc := range []struct {
		file     string
		wasMode  string
		wantLine string
		strict   bool
	}{
		// The seed's `kubectl describe` text as the tutorial printed it (indentation lost).
		{"seed-3.2-describe.txt", "", `mode: "ipvs" # 默认没有指定,就是使用 iptables 规则`, false},
		// The same with its indentation back, comments and all.
		{"seed-3.2-indented.yaml", "", `mode: "ipvs" # 默认没有指定,就是使用 iptables 规则`, false},
		// A whole config.conf as kubeadm writes it for a kind cluster in iptables mode.
		{"kubeadm-1.37-kind-iptables.conf", "iptables", "mode: ipvs", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			conf := fixture.Read(t, tc.file)
			if m, ok := Get(conf, "mode"); !ok || m != tc.wasMode {
				t.Errorf("Mode before = %q, %v; want %q", m, ok, tc.wasMode)
			}
			got, err := Set(conf, "mode", "ipvs")
			if err != nil {
				t.Fatal(err)
			}
			changed := changedLines(t, conf, got)
			if len(changed) != 1 {
				t.Fatalf("%d lines changed, want 1: %v", len(changed), changed)
			}
			for _, c := range changed {
				if c[1] != tc.wantLine {
					t.Errorf("mode line %q became %q, want %q", c[0], c[1], tc.wantLine)
				}
			}
			if m, _ := Get(got, "mode"); m != "ipvs" {
				t.Errorf("Mode after = %q", m)
			}
			again, _ := Set(got, "mode", "ipvs")
			if again != got {
				t.Error("Set is not idempotent")
			}
			if tc.strict {
				var kp kubeproxyv1alpha1.KubeProxyConfiguration
				if err := yaml.UnmarshalStrict([]byte(got), &kp); err != nil {
					t.Fatalf("edited config does not decode: %v", err)
				}
				if kp.Mode != "ipvs" || kp.IPTables.MinSyncPeriod.Duration.String() != "1s" || !kp.FeatureGates["KubeProxyIPVS"] {
					t.Errorf("decoded mode %q, iptables.minSyncPeriod %v, gates %v", kp.Mode, kp.IPTables.MinSyncPeriod, kp.FeatureGates)
				}
			}
		})
	}
}

func TestSetModeLineForms(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mode: iptables\n", "mode: ipvs\n"},
		{"mode: \"\"\n", "mode: \"ipvs\"\n"},
		{"mode: ''\n", "mode: 'ipvs'\n"},
		{"mode:\n", "mode: ipvs\n"},
		{"mode:   iptables   # was here\n", "mode:   ipvs   # was here\n"},
		{"mode: \"iptables\"# tight\n", "mode: \"ipvs\" # tight\n"},
		{"mode: iptables\r\nkind: KubeProxyConfiguration\r\n", "mode: ipvs\r\nkind: KubeProxyConfiguration\r\n"},
		{"mode: iptables", "mode: ipvs"},
		// Only the top-level key: nested and longer keys stay.
		{"detectLocalMode: \"\"\nwinkernel:\n  mode: x\nmodes: y\nmode: iptables\n", "detectLocalMode: \"\"\nwinkernel:\n  mode: x\nmodes: y\nmode: ipvs\n"},
		// No mode line at all: one is appended.
		{"kind: KubeProxyConfiguration", "kind: KubeProxyConfiguration\nmode: ipvs\n"},
		{"", "mode: ipvs\n"},
	} {
		got, err := Set(tc.in, "mode", "ipvs")
		if err != nil || got != tc.want {
			t.Errorf("Set(%q, mode) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := Set("mode: iptables\n", "mode", "ipvs # x"); err == nil {
		t.Error("a mode with a comment was accepted")
	}
}

func TestSetIPVSFields(t *testing.T) {
	conf := fixture.Read(t, "kubeadm-1.37-kind-iptables.conf")
	for _, tc := range []struct{ field, value, wantLine string }{
		{"scheduler", "wrr", `  scheduler: "wrr"`},
		{"scheduler", "mh", `  scheduler: "mh"`},
		{"strictARP", "true", "  strictARP: true"},
		{"tcpTimeout", "15m0s", "  tcpTimeout: 15m0s"},
	} {
		got, err := Set(conf, "ipvs."+tc.field, tc.value)
		if err != nil {
			t.Fatalf("%s: %v", tc.field, err)
		}
		changed := changedLines(t, conf, got)
		if len(changed) != 1 {
			t.Fatalf("%s: %d lines changed: %v", tc.field, len(changed), changed)
		}
		for _, c := range changed {
			if c[1] != tc.wantLine {
				t.Errorf("%s: line became %q, want %q", tc.field, c[1], tc.wantLine)
			}
		}
		if v, ok := Get(got, "ipvs."+tc.field); !ok || v != tc.value {
			t.Errorf("Get(ipvs.%s) = %q, %v", tc.field, v, ok)
		}
	}

	// The parent line may carry a comment, as in the seed.
	got, err := Set(fixture.Read(t, "seed-3.2-indented.yaml"), "ipvs.scheduler", "sh")
	if err != nil || !strings.Contains(got, "ipvs: # 调度算法,默认是randomrobin\n") || !strings.Contains(got, "  scheduler: \"sh\"\n") {
		t.Errorf("seed indented: %v\n%s", err, got)
	}

	for _, tc := range []struct{ conf, want string }{
		{fixture.Read(t, "seed-3.2-describe.txt"), "empty or not indented"},
		{"mode: ipvs\n", "no top-level `ipvs:` block"},
		{"ipvs:\n  strictARP: false\nscheduler: rr\n", "no `scheduler:` in the `ipvs:` block"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := Set(tc.conf, "ipvs.scheduler", "wrr")
			wanterr.Check(t, err, tc.want)
		})
	}
}

func TestSetFeatureGate(t *testing.T) {
	conf := fixture.Read(t, "kubeadm-1.37-kind-iptables.conf")
	got, err := Set(conf, "featureGates.KubeProxyIPVS", "false")
	if err != nil {
		t.Fatal(err)
	}
	if c := changedLines(t, conf, got); len(c) != 1 {
		t.Errorf("changed %v", c)
	}
	if v, ok := Get(got, "featureGates.KubeProxyIPVS"); !ok || v != "false" {
		t.Errorf("gate = %q %v", v, ok)
	}
	if _, err := Set(fixture.Read(t, "seed-3.2-indented.yaml"), "featureGates.KubeProxyIPVS", "false"); err == nil {
		t.Error("a config without featureGates accepted the edit")
	}
}

func FuzzSetMode(f *testing.F) {
	for _, name := range []string{"seed-3.2-describe.txt", "seed-3.2-indented.yaml", "kubeadm-1.37-kind-iptables.conf"} {
		f.Add(fixture.Read(f, name))
	}
	f.Add("mode: 'it''s'\n")
	f.Add("mode: \"a\\\"b\" # c\n")
	f.Fuzz(func(t *testing.T, conf string) {
		got, err := Set(conf, "mode", "ipvs")
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := Get(got, "mode"); !ok || m != "ipvs" {
			t.Fatalf("after Set, mode = %q, %v\nin:  %q\nout: %q", m, ok, conf, got)
		}
		if _, had := Get(conf, "mode"); had {
			if strings.Count(got, "\n") != strings.Count(conf, "\n") {
				t.Fatalf("Set changed the line count\nin:  %q\nout: %q", conf, got)
			}
		} else if !strings.HasPrefix(got, conf) {
			t.Fatalf("Set appending a mode changed the text before it\nin:  %q\nout: %q", conf, got)
		}
	})
}

func TestSetTopLevelKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"enableProfiling: false\nmode: ipvs\n", "enableProfiling: true\nmode: ipvs\n"},
		{"mode: ipvs\n", "mode: ipvs\nenableProfiling: true\n"},
	} {
		got, err := Set(tc.in, "enableProfiling", "true")
		if err != nil || got != tc.want {
			t.Errorf("Set(%q, enableProfiling) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, ok := Get("mode: ipvs\n", "enableProfiling"); ok {
		t.Error("Get found a key the text lacks")
	}
}
