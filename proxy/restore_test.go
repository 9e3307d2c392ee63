package proxy

import (
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

func TestRestoreRender(t *testing.T) {
	masq := dataplane.Chain{Name: "KUBE-MARK-MASQ", Policy: "-", Rules: []dataplane.Rule{{Spec: "-j MARK --or-mark 0x4000"}}}
	nodePort := dataplane.Chain{Name: "KUBE-NODE-PORT", Policy: "-", Rules: []dataplane.Rule{
		{Spec: `-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`},
	}}
	tests := []struct {
		name string
		in   restoreInput
		want string
	}{
		{
			name: "nothing to do renders nothing",
			in:   restoreInput{Tables: []restoreTable{{Name: "nat"}, {Name: "filter"}}},
			want: "",
		},
		{
			name: "chains, then jumps inserted last first so they end up in order, then rules",
			in: restoreInput{Tables: []restoreTable{{
				Name:   "nat",
				Chains: []dataplane.Chain{nodePort, masq},
				Jumps: []chainRule{
					{Chain: "PREROUTING", Spec: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
					{Chain: "OUTPUT", Spec: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
				},
			}}},
			want: `*nat
:KUBE-NODE-PORT - [0:0]
:KUBE-MARK-MASQ - [0:0]
-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
COMMIT
`,
		},
		{
			name: "deleted chains are flushed, their jumps deleted, then they go; empty tables are left out",
			in: restoreInput{Tables: []restoreTable{
				{Name: "nat"},
				{
					Name:         "filter",
					Deleted:      []string{"KUBE-FORWARD"},
					DeletedJumps: []chainRule{{Chain: "FORWARD", Spec: `-m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`}},
				},
			}},
			want: `*filter
:KUBE-FORWARD - [0:0]
-D FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-X KUBE-FORWARD
COMMIT
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.render()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("render:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRuleTarget(t *testing.T) {
	tests := []struct{ spec, want string }{
		{`-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`, "KUBE-SERVICES"},
		{`-m comment --comment "a -j FAKE in a comment" -g KUBE-NODE-PORT`, "KUBE-NODE-PORT"},
		{`-p tcp --dport 22 -j ACCEPT`, "ACCEPT"},
		{`-m set --match-set KUBE-CLUSTER-IP dst,dst`, ""},
		{`-m comment --comment "unterminated -j X`, ""},
	}
	for _, tt := range tests {
		if got := ruleTarget(tt.spec); got != tt.want {
			t.Errorf("ruleTarget(%q) = %q, want %q", tt.spec, got, tt.want)
		}
	}
}

func TestRemovableChains(t *testing.T) {
	table := dataplane.Table{Name: "nat", Chains: []dataplane.Chain{
		{Name: "PREROUTING", Policy: "ACCEPT", Rules: []dataplane.Rule{
			{Spec: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
			{Spec: `-j DOCKER`},
		}},
		{Name: "KUBE-SERVICES", Policy: "-", Rules: []dataplane.Rule{{Spec: "-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT"}}},
		{Name: "KUBE-NODE-PORT", Policy: "-", Rules: []dataplane.Rule{{Spec: "-p tcp -j KUBE-MARK-MASQ"}}},
		{Name: "KUBE-MARK-MASQ", Policy: "-"},
		// An iptables-mode leftover that still uses KUBE-MARK-MASQ.
		{Name: "KUBE-SEP-ABC", Policy: "-", Rules: []dataplane.Rule{{Spec: "-s 10.244.1.5/32 -j KUBE-MARK-MASQ"}}},
		{Name: "DOCKER", Policy: "-"},
	}}
	remove, jumps, kept := removableChains(table, []string{"KUBE-SERVICES", "KUBE-NODE-PORT", "KUBE-MARK-MASQ", "KUBE-LOAD-BALANCER"})
	if want := []string{"KUBE-SERVICES", "KUBE-NODE-PORT"}; !equalStrings(remove, want) {
		t.Errorf("remove = %v, want %v", remove, want)
	}
	if len(jumps) != 1 || jumps[0].Chain != "PREROUTING" || ruleTarget(jumps[0].Spec) != "KUBE-SERVICES" {
		t.Errorf("jumps = %v, want the PREROUTING jump to KUBE-SERVICES", jumps)
	}
	if kept["KUBE-MARK-MASQ"] != "KUBE-SEP-ABC" || len(kept) != 1 {
		t.Errorf("kept = %v, want KUBE-MARK-MASQ kept for KUBE-SEP-ABC", kept)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHasRule(t *testing.T) {
	rules := []dataplane.Rule{
		{Spec: `-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`},
		{Spec: `-m comment --comment kube-proxy -j KUBE-POSTROUTING`},
	}
	for _, tt := range []struct {
		spec string
		want bool
	}{
		{`-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`, true},
		// iptables-save drops the quotes of a one-word comment.
		{`-m comment --comment "kube-proxy" -j KUBE-POSTROUTING`, true},
		{`-m comment --comment "kubernetes service portals" -j KUBE-NODE-PORT`, false},
		{`-m comment --comment "unterminated -j KUBE-SERVICES`, false},
	} {
		if got := hasRule(rules, dataplane.Rule{Spec: tt.spec}); got != tt.want {
			t.Errorf("hasRule(%q) = %v, want %v", tt.spec, got, tt.want)
		}
	}
}
