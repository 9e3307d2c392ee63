package kind

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

var update = flag.Bool("update", false, "rewrite manifests/kind-*.yaml from the generator")

// TestManifests keeps manifests/ and the generator the same: the files a person reads are
// the bytes the provider creates clusters from.
func TestManifests(t *testing.T) {
	for _, tc := range []struct {
		file string
		mode string
	}{
		{"kind-ipvs.yaml", cluster.ModeIPVS},
		{"kind-iptables.yaml", cluster.ModeIPTables},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := ConfigFor(cluster.Options{ProxyMode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			got, err := cfg.Render()
			if err != nil {
				t.Fatal(err)
			}
			fixture.Golden(t, fixture.RepoFile(t, "manifests/"+tc.file), string(got), *update)
		})
	}
}

// kubeProxyPatch decodes the KubeProxyConfiguration patch strictly, so a misspelt field
// fails here rather than in kubeadm on a Docker host.
func kubeProxyPatch(t *testing.T, raw []byte) kubeproxyv1alpha1.KubeProxyConfiguration {
	t.Helper()
	cfg, err := DecodeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	var patches []string
	for _, p := range cfg.KubeadmConfigPatches {
		if strings.Contains(p, "kind: KubeProxyConfiguration") {
			patches = append(patches, p)
		}
	}
	if len(patches) != 1 {
		t.Fatalf("want one KubeProxyConfiguration patch, found %d", len(patches))
	}
	var kp kubeproxyv1alpha1.KubeProxyConfiguration
	if err := yaml.UnmarshalStrict([]byte(patches[0]), &kp); err != nil {
		t.Fatalf("patch does not decode as KubeProxyConfiguration: %v\n%s", err, patches[0])
	}
	return kp
}

func TestRenderDecodesStrictly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      cluster.Options
		wantImage string
		wantGate  bool
		wantNodes []string
		wantPorts []int32
	}{
		{
			name:      "default: 1.37 ipvs, gate on, seed NodePort mapped",
			opts:      cluster.Options{},
			wantImage: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
			wantGate:  true,
			wantNodes: []string{"control-plane", "worker", "worker"},
			wantPorts: []int32{30089},
		},
		{
			name:      "1.36: no gate (the gate is unknown there)",
			opts:      cluster.Options{KubernetesVersion: "v1.36", Workers: 1, HostNodePorts: []int32{30089, 30090}},
			wantImage: "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
			wantNodes: []string{"control-plane", "worker"},
			wantPorts: []int32{30089, 30090},
		},
		{
			name:      "explicit image decides the version",
			opts:      cluster.Options{NodeImage: "kindest/node:v1.38.1", KubernetesVersion: "1.34"},
			wantImage: "kindest/node:v1.38.1",
			wantGate:  true,
			wantNodes: []string{"control-plane", "worker", "worker"},
			wantPorts: []int32{30089},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFor(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			kc, err := c.V1Alpha4()
			if err != nil {
				t.Fatal(err)
			}
			var roles []string
			for _, n := range kc.Nodes {
				roles = append(roles, string(n.Role))
				if n.Image != tc.wantImage {
					t.Errorf("%s image = %q, want %q", n.Role, n.Image, tc.wantImage)
				}
			}
			if strings.Join(roles, ",") != strings.Join(tc.wantNodes, ",") {
				t.Errorf("nodes = %v, want %v", roles, tc.wantNodes)
			}
			var ports []int32
			for _, m := range kc.Nodes[0].ExtraPortMappings {
				if m.HostPort != 0 || m.ListenAddress != "127.0.0.1" {
					t.Errorf("port mapping %+v, want hostPort 0 (kind picks a free one) on 127.0.0.1", m)
				}
				ports = append(ports, m.ContainerPort)
			}
			if len(ports) != len(tc.wantPorts) || (len(ports) > 0 && ports[len(ports)-1] != tc.wantPorts[len(tc.wantPorts)-1]) {
				t.Errorf("host ports = %v, want %v", ports, tc.wantPorts)
			}
			if kc.Networking.KubeProxyMode != "ipvs" {
				t.Errorf("kubeProxyMode = %q", kc.Networking.KubeProxyMode)
			}
			kp := kubeProxyPatch(t, mustRender(t, c))
			if got := kp.FeatureGates["KubeProxyIPVS"]; got != tc.wantGate || (!tc.wantGate && kp.FeatureGates != nil) {
				t.Errorf("featureGates = %v, want KubeProxyIPVS present=%v", kp.FeatureGates, tc.wantGate)
			}
		})
	}
}

func mustRender(t *testing.T, c Config) []byte {
	t.Helper()
	b, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIPVSFieldsReachThePatch(t *testing.T) {
	c, err := ConfigFor(cluster.Options{
		Name:      "sched",
		ProxyMode: cluster.ModeIPTables,
		IPVS: cluster.IPVSConfig{
			Scheduler:     "wrr",
			StrictARP:     true,
			TCPTimeout:    15 * time.Minute,
			TCPFinTimeout: 2 * time.Minute,
			UDPTimeout:    5 * time.Minute,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := mustRender(t, c)
	kc, err := DecodeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if kc.Name != "sched" || kc.Networking.KubeProxyMode != "iptables" {
		t.Errorf("name %q mode %q", kc.Name, kc.Networking.KubeProxyMode)
	}
	kp := kubeProxyPatch(t, raw)
	if kp.IPVS.Scheduler != "wrr" || !kp.IPVS.StrictARP ||
		kp.IPVS.TCPTimeout.Duration != 15*time.Minute || kp.IPVS.TCPFinTimeout.Duration != 2*time.Minute ||
		kp.IPVS.UDPTimeout.Duration != 5*time.Minute {
		t.Errorf("ipvs block = %+v", kp.IPVS)
	}
	if !strings.Contains(string(raw), "suite can switch it to ipvs the seed's second way") {
		t.Errorf("iptables config does not say why it is iptables:\n%s", raw)
	}
}

func TestResolveImage(t *testing.T) {
	for _, tc := range []struct {
		image, version string
		want           string
		wantVersion    string
		wantErr        string
	}{
		{version: "", want: nodeImages["1.37"], wantVersion: "1.37"},
		{version: "1.35", want: nodeImages["1.35"], wantVersion: "1.35"},
		{version: "v1.35.8", want: nodeImages["1.35"], wantVersion: "1.35"},
		{version: "v1.35.2", wantErr: "kubernetes v1.35.2: kind v0.33.0 publishes no node image of that patch release; known images:\n  1.34  kindest/node:v1.34.11@"},
		{version: "v1.33.1", wantErr: "kubernetes 1.33: no kind v0.33.0 node image pinned; known images:\n  1.34  kindest/node:v1.34.11@"},
		{version: "1.33", wantErr: "  1.37  kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5\ngive one of those minors"},
		{version: "latest", wantErr: "expected MAJOR.MINOR"},
		{image: "registry.local/node:dev", wantErr: "has no version tag"},
		{image: "registry.local/node:dev", version: "1.36", want: "registry.local/node:dev", wantVersion: "1.36"},
		{image: "kindest/node:v1.34.11@sha256:44e2", want: "kindest/node:v1.34.11@sha256:44e2", wantVersion: "1.34"},
	} {
		t.Run(fmt.Sprintf("image=%q,version=%q", tc.image, tc.version), func(t *testing.T) {
			got, v, err := ResolveImage(tc.image, tc.version)
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if got != tc.want || v.String() != tc.wantVersion {
				t.Errorf("ResolveImage(%q, %q) = %q, %v; want %q, %s", tc.image, tc.version, got, v, tc.want, tc.wantVersion)
			}
		})
	}
}

func TestConfigForRejectsBadOptions(t *testing.T) {
	for _, o := range []cluster.Options{
		{ProxyMode: "nftables"},
		{Workers: -1},
		{HostNodePorts: []int32{8080}},
	} {
		if _, err := ConfigFor(o); err == nil {
			t.Errorf("ConfigFor(%+v) accepted", o)
		}
	}
}
