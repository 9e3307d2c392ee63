package iptables

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

func TestFakeContract(t *testing.T) {
	testContract(t, func(*testing.T) contractEnv {
		f := NewFake()
		f.CheckSets(func(name string) bool { return name == "H3-SET" })
		return contractEnv{ipt: f, sets: map[Family]string{IPv4: "H3-SET", IPv6: "H3-SET"}}
	})
}

func TestFakeStartsLikeAFreshKernel(t *testing.T) {
	rs, err := NewFake().Save(IPv4)
	if err != nil {
		t.Fatal(err)
	}
	got := dataplane.FormatIPTablesSave(rs)
	want := `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
`
	if got != want {
		t.Errorf("fresh ruleset:\n%s\nexpected:\n%s", got, want)
	}
}

// kubeProxyNAT is restore input of the shape kube-proxy's ipvs mode writes.
const kubeProxyNAT = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
`

func TestFakeKubeProxyInput(t *testing.T) {
	f := NewFake()
	sets := map[string]bool{"KUBE-CLUSTER-IP": true, "KUBE-NODE-PORT-TCP": true}
	f.CheckSets(func(name string) bool { return sets[name] })
	if err := f.Restore(IPv4, []byte(kubeProxyNAT)); err != nil {
		t.Fatal(err)
	}
	rs, _ := f.Save(IPv4, "nat")
	if n := rs.RuleCount("nat"); n != 11 {
		t.Errorf("nat holds %d rules, expected 11", n)
	}
	const seed = `-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`
	if got := rs.Rules("nat", "KUBE-NODE-PORT"); len(got) != 1 || got[0].Spec != seed {
		t.Errorf("KUBE-NODE-PORT rules %q, expected the seed's rule verbatim", got)
	}
	// User chains follow the built-in ones, sorted by name, as iptables-save lists them.
	tb, _ := rs.Table("nat")
	var names []string
	for _, c := range tb.Chains {
		names = append(names, c.Name)
	}
	want := []string{"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ", "KUBE-NODE-PORT", "KUBE-POSTROUTING", "KUBE-SERVICES"}
	if !slices.Equal(names, want) {
		t.Errorf("chains %v, expected %v", names, want)
	}
	// The same input again: chains are flushed and refilled, the built-in chains are not
	// flushed, so the jumps appear twice (which is why kube-proxy checks before adding).
	if err := f.Restore(IPv4, []byte(kubeProxyNAT)); err != nil {
		t.Fatal(err)
	}
	rs, _ = f.Save(IPv4, "nat")
	if n := len(rs.Rules("nat", "OUTPUT")); n != 2 {
		t.Errorf("OUTPUT holds %d rules after two restores, expected 2", n)
	}
	if n := len(rs.Rules("nat", "KUBE-SERVICES")); n != 3 {
		t.Errorf("KUBE-SERVICES holds %d rules after two restores, expected 3", n)
	}
	delete(sets, "KUBE-NODE-PORT-TCP")
	err := f.Restore(IPv4, []byte(kubeProxyNAT))
	var re *RestoreError
	if !errors.As(err, &re) || re.Line != 13 || !strings.Contains(re.Msg, "KUBE-NODE-PORT-TCP") {
		t.Errorf("restore with a missing set: %v, expected a refusal at line 13 naming the set", err)
	}
}

func TestFakeRefusals(t *testing.T) {
	for _, c := range []struct {
		name, input string
		line        int
		msg         string
	}{
		{"no COMMIT", "*filter\n:A - [0:0]\n", 3, "COMMIT expected"},
		{"rule outside a table", "-A INPUT -j ACCEPT\n", 1, "expected *table"},
		{"nested table", "*filter\n*nat\nCOMMIT\n", 2, "has no COMMIT"},
		{"policy on a user chain", "*filter\n:A ACCEPT [0:0]\nCOMMIT\n", 2, "not a built-in chain"},
		{"bad policy", "*filter\n:INPUT REJECT [0:0]\nCOMMIT\n", 2, "bad policy"},
		{"append to a missing chain", "*filter\n-A NOPE -j ACCEPT\nCOMMIT\n", 2, "no chain NOPE"},
		{"unknown target", "*filter\n-A INPUT -j NOPE\nCOMMIT\n", 2, "couldn't load target"},
		{"goto a non-chain", "*filter\n-A INPUT -g ACCEPTX\nCOMMIT\n", 2, "not a chain"},
		{"nat target in filter", "*filter\n-A INPUT -j MASQUERADE\nCOMMIT\n", 2, "only valid in table nat"},
		{"jump to a built-in chain", "*filter\n-A INPUT -j OUTPUT\nCOMMIT\n", 2, "built-in chain"},
		{"new chain twice", "*filter\n-N A\n-N A\nCOMMIT\n", 3, "already exists"},
		{"delete a built-in chain", "*filter\n-X INPUT\nCOMMIT\n", 2, "built-in"},
		{"delete a chain with rules", "*filter\n:A - [0:0]\n-A A -j ACCEPT\n-X A\nCOMMIT\n", 4, "directory not empty"},
		{"insert past the end", "*filter\n:A - [0:0]\n-I A 2 -j ACCEPT\nCOMMIT\n", 3, "insertion"},
		{"delete number past the end", "*filter\n:A - [0:0]\n-D A 1\nCOMMIT\n", 3, "deletion"},
		{"table option", "*filter\n-t nat -A INPUT -j ACCEPT\nCOMMIT\n", 2, "-t option"},
		{"unterminated quote", "*filter\n-A INPUT -m comment --comment \"x -j ACCEPT\nCOMMIT\n", 2, "quote"},
		{"long chain name", "*filter\n:" + strings.Repeat("C", 29) + " - [0:0]\nCOMMIT\n", 2, "invalid chain name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := NewFake()
			before, _ := f.Save(IPv4)
			err := f.Restore(IPv4, []byte(c.input))
			var re *RestoreError
			if !errors.As(err, &re) || re.Line != c.line || !strings.Contains(re.Msg, c.msg) {
				t.Fatalf("Restore: %v, expected a refusal at line %d containing %q", err, c.line, c.msg)
			}
			after, _ := f.Save(IPv4)
			if dataplane.FormatIPTablesSave(before) != dataplane.FormatIPTablesSave(after) {
				t.Errorf("the refused input changed the ruleset:\n%s", dataplane.FormatIPTablesSave(after))
			}
		})
	}
}

func TestFakeCommands(t *testing.T) {
	f := NewFake()
	input := `*filter
:A - [0:0]
:B - [0:0]
[5:300] -A A -j B
-A A -m comment --comment "two words" -j RETURN
-I A -j ACCEPT
-R A 1 -j DROP
-D A -m comment --comment two\ words -j RETURN
-P FORWARD DROP
:OUTPUT DROP [0:0]
-E B C
-N D
-X D
-Z
COMMIT
`
	if err := f.Restore(IPv4, []byte(input)); err != nil {
		t.Fatal(err)
	}
	rs, _ := f.Save(IPv4, "filter")
	got := dataplane.FormatIPTablesSave(rs)
	want := `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT DROP [0:0]
:A - [0:0]
:C - [0:0]
-A A -j DROP
-A A -j C
COMMIT
`
	if got != want {
		t.Errorf("after the commands:\n%s\nexpected:\n%s", got, want)
	}
	// -F and -X without a chain act on the whole table.
	if err := f.Restore(IPv4, []byte("*filter\n-F\n-X\nCOMMIT\n")); err != nil {
		t.Fatal(err)
	}
	rs, _ = f.Save(IPv4, "filter")
	if tb, _ := rs.Table("filter"); len(tb.Chains) != 3 {
		t.Errorf("after -F and -X the filter table has chains %+v", tb.Chains)
	}
	// The IPv6 ruleset is separate.
	if rs6, _ := f.Save(IPv6, "filter"); rs6.Rules("filter", "A") != nil {
		t.Error("an IPv4 restore changed the IPv6 ruleset")
	}
}

func TestFakeCallsAndFaults(t *testing.T) {
	f := NewFake()
	boom := errors.New("injected")
	f.FailNext("Restore", boom)
	in := []byte("*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n*filter\n:KUBE-FORWARD - [0:0]\nCOMMIT\n")
	if err := f.Restore(IPv4, in); !errors.Is(err, boom) {
		t.Fatalf("Restore with an injected fault: %v", err)
	}
	if rs, _ := f.Save(IPv4, "nat"); len(rs.ChainsWithPrefix("nat", "KUBE-")) != 0 {
		t.Fatal("a failed Restore changed the ruleset")
	}
	if err := f.Restore(IPv6, in); err != nil {
		t.Fatal(err)
	}
	f.CheckCalls(t, "Restore IPv4 nat,filter", "Restore IPv6 nat,filter")
	r := f.Restores()
	if len(r) != 2 || r[1].Family != IPv6 || r[1].Input != string(in) || r[1].Err != nil || !errors.Is(r[0].Err, boom) {
		t.Errorf("Restores() = %+v", r)
	}
	f.FailNext("Save", boom)
	if _, err := f.Save(IPv4); !errors.Is(err, boom) {
		t.Errorf("Save with an injected fault: %v", err)
	}
	if _, err := f.Save(IPv4, "nosuch"); err == nil {
		t.Error("Save of an unknown table succeeded")
	}
	if err := f.Restore(Family(5), in); err == nil {
		t.Error("Restore with family 5 succeeded")
	}
}

// FuzzRestore feeds arbitrary restore input to the fake: it must not panic, a refusal
// must leave the ruleset as it was, and an accepted ruleset must restore again, from its
// iptables-save form, into a fresh fake as the same ruleset.
func FuzzRestore(f *testing.F) {
	f.Add(kubeProxyNAT)
	f.Add("*filter\n:A - [0:0]\n-A A -m comment --comment \"x y\" -j RETURN\n-I A 1 -j DROP\n-D A 2\n-X A\nCOMMIT\n")
	if b, err := os.ReadFile("testdata/iptables-nft-save.txt"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, input string) {
		a := NewFake()
		before, _ := a.Save(IPv4)
		if err := a.Restore(IPv4, []byte(input)); err != nil {
			if after, _ := a.Save(IPv4); dataplane.FormatIPTablesSave(after) != dataplane.FormatIPTablesSave(before) {
				t.Fatalf("a refused input changed the ruleset: %v", err)
			}
			return
		}
		rs, _ := a.Save(IPv4)
		saved := dataplane.FormatIPTablesSave(rs)
		b := NewFake()
		if err := b.Restore(IPv4, []byte(saved)); err != nil {
			t.Fatalf("the saved form of an accepted ruleset does not restore: %v\n%s", err, saved)
		}
		again, _ := b.Save(IPv4)
		if got := dataplane.FormatIPTablesSave(again); got != saved {
			t.Fatalf("restoring the saved form gave\n%s\nexpected\n%s", got, saved)
		}
	})
}
