package kubeproxy

import (
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

func ruleset(t *testing.T, file string) dataplane.Ruleset {
	t.Helper()
	r, err := dataplane.ParseIPTablesSave(fixture.Read(t, file))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFindLeftoversAfterSwitch(t *testing.T) {
	r := ruleset(t, "iptables-save-after-switch.txt")
	var got []string
	for _, l := range FindLeftovers(r) {
		got = append(got, l.String())
	}
	want := []string{
		"mangle/KUBE-PROXY-CANARY (0 rules, 0 jumps to it)",
		"filter/KUBE-EXTERNAL-SERVICES (0 rules, 2 jumps to it)",
		"filter/KUBE-NODEPORTS (0 rules, 1 jumps to it)",
		"filter/KUBE-PROXY-CANARY (0 rules, 0 jumps to it)",
		"filter/KUBE-SERVICES (0 rules, 2 jumps to it)",
		"nat/KUBE-EXT-VQGBWR5JWMUEAHT7 (2 rules, 1 jumps to it)",
		"nat/KUBE-NODEPORTS (1 rules, 0 jumps to it)",
		"nat/KUBE-PROXY-CANARY (0 rules, 0 jumps to it)",
		"nat/KUBE-SEP-IT2ZTR26TO4XFPTO (2 rules, 1 jumps to it)",
		"nat/KUBE-SEP-ZBV5ZJLLJD4VQPPE (2 rules, 1 jumps to it)",
		"nat/KUBE-SVC-NPX46M4PTMTKRN6Y (2 rules, 0 jumps to it)",
		"nat/KUBE-SVC-VQGBWR5JWMUEAHT7 (2 rules, 1 jumps to it)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("leftovers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := LeftoverRules(r, "nat"); n != 11 {
		t.Errorf("nat leftover rules = %d, want 11", n)
	}
	// The seed's "no KUBE-SVC- chains" check fails before cleanup, as it must.
	if got := r.ChainsWithPrefix("nat", "KUBE-SVC-"); len(got) != 2 {
		t.Errorf("KUBE-SVC- chains = %v", got)
	}
	// Charged with the leftovers, the nat budget is blown; without them it holds.
	if n := KubeProxyRules(r, "nat"); n != 25 {
		t.Errorf("kube-proxy nat rules with leftovers = %d, want 25", n)
	}
	// Without them, the count is the clean node's (TestCleanIPVSNode).
	if n := KubeProxyRules(r, "nat") - LeftoverRules(r, "nat"); n != 14 {
		t.Errorf("kube-proxy nat rules without leftovers = %d, want 14", n)
	}
	// filter: the iptables-mode jumps from INPUT, FORWARD and OUTPUT are leftovers too,
	// those into the shared KUBE-PROXY-FIREWALL among them.
	if n := LeftoverRules(r, "filter"); n != 8 {
		t.Errorf("filter leftover rules = %d, want 8", n)
	}
	if n := KubeProxyRules(r, "filter") - LeftoverRules(r, "filter"); n != 16 {
		t.Errorf("kube-proxy filter rules without leftovers = %d, want 16", n)
	}
}

func TestCleanIPVSNode(t *testing.T) {
	r := ruleset(t, "iptables-save-ipvs.txt")
	if l := FindLeftovers(r); len(l) != 0 {
		t.Errorf("leftovers on a clean ipvs node: %v", l)
	}
	// nat: 3 jumps + 10 rules + the KUBE-LOOP-BACK masquerade on a node with an endpoint;
	// kind's and Docker's 9 rules are not kube-proxy's.
	if n := KubeProxyRules(r, "nat"); n != 14 {
		t.Errorf("kube-proxy nat rules = %d, want 14", n)
	}
	if n := r.RuleCount("nat"); n != 23 {
		t.Errorf("all nat rules = %d, want 23", n)
	}
	// filter: 6 jumps + 10 rules; kubelet's KUBE-FIREWALL (3 rules) is not counted.
	if n := KubeProxyRules(r, "filter"); n != 16 {
		t.Errorf("kube-proxy filter rules = %d, want 16", n)
	}
	if KubeProxyRules(r, "raw") != 0 {
		t.Error("a missing table has rules")
	}
}

func TestJumpTarget(t *testing.T) {
	for spec, want := range map[string]string{
		`-m comment --comment "kubernetes service portals" -j KUBE-SERVICES`: "KUBE-SERVICES",
		`-g KUBE-SVC-X`:                     "KUBE-SVC-X",
		`-j MARK --set-xmark 0x4000/0x4000`: "MARK",
		`-s 10.0.0.0/8`:                     "",
	} {
		if got := jumpTarget(spec); got != want {
			t.Errorf("jumpTarget(%q) = %q, want %q", spec, got, want)
		}
	}
}
