package lab

import (
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
)

func TestNodeCount(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    []string
		wantErr string
	}{
		{"", []string{"lab-node"}, ""},
		{"1", []string{"lab-node"}, ""},
		{"2", []string{"lab-node", "lab-node2"}, ""},
		{"3", []string{"lab-node", "lab-node2", "lab-node3"}, ""},
		{"0", nil, `IPVS_E2E_LAB_NODES="0": 0 nodes are out of range (they share one guest); expected a node count from 1 to 4`},
		{"9", nil, `IPVS_E2E_LAB_NODES="9": 9 nodes are out of range`},
		{"two", nil, `IPVS_E2E_LAB_NODES="two": not a whole number; expected a node count from 1 to 4 (empty: 1)`},
	} {
		t.Run("nodes="+tc.env, func(t *testing.T) {
			t.Setenv(NodesEnv, tc.env)
			p, err := New(cluster.Options{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New with %s=%q: %v, want an error containing %q", NodesEnv, tc.env, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.NodeNames(); !slices.Equal(got, tc.want) {
				t.Errorf("NodeNames = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIPVSGated(t *testing.T) {
	for v, want := range map[string]bool{"v1.37.2": true, "v1.38.0": true, "v2.0.0": true, "v1.36.3": false, "v1.34.4": false, "bad": false} {
		if got := ipvsGated(v); got != want {
			t.Errorf("ipvsGated(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestKubeProxyConfigGate(t *testing.T) {
	o := cluster.Options{}.WithDefaults()
	gated := KubeProxyConfigGated(o, "10.244.0.0/16", true)
	if !strings.Contains(gated, "featureGates:\n  KubeProxyIPVS: true\n") {
		t.Errorf("1.37+ config enables no KubeProxyIPVS gate:\n%s", gated)
	}
	if plain := KubeProxyConfig(o, "10.244.0.0/16"); strings.Contains(plain, "featureGates") {
		t.Errorf("config before 1.37 names a gate kube-proxy would refuse as unknown:\n%s", plain)
	}
}

func TestAgentClientVia(t *testing.T) {
	c := &agentClient{base: "https://127.0.0.1:4000", token: "t"}
	if got, want := c.via("lab-node2").base, "https://127.0.0.1:4000/nodes/lab-node2"; got != want {
		t.Errorf("via base = %q, want %q", got, want)
	}
}
