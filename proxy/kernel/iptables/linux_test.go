package iptables

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

// requireBinaries fails in the lab (whose image must carry iptables and ipset) and skips
// elsewhere when the binaries are missing.
func requireBinaries(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if labtest.InLab() {
				t.Fatalf("the lab guest has no %s: add it to the lab image", n)
			}
			t.Skipf("no %s on this host (Debian: apt-get install iptables ipset)", n)
		}
	}
}

// linuxEnv runs iptables through run and creates one ip set per family for the rules that
// match sets, destroyed when the test ends.
func linuxEnv(t *testing.T, run Runner) contractEnv {
	sets := map[Family]string{IPv4: "H3-IPT-SET", IPv6: "H3-IPT-SET6"}
	for fam, name := range sets {
		family := "inet"
		if fam == IPv6 {
			family = "inet6"
		}
		if _, stderr, err := run("ipset", []string{"create", name, "hash:ip", "family", family, "-exist"}, nil); err != nil {
			t.Fatalf("ipset create %s: %v: %s", name, err, stderr)
		}
		t.Cleanup(func() {
			// The chains using the set are removed by earlier cleanups (LIFO).
			if _, stderr, err := run("ipset", []string{"destroy", name}, nil); err != nil {
				t.Errorf("ipset destroy %s: %v: %s", name, err, stderr)
			}
		})
	}
	return contractEnv{ipt: NewLinuxWithRunner(run), sets: sets}
}

// TestLinuxContractInNetns runs the contract against this host's kernel and iptables
// binaries inside a throwaway named network namespace (iptables needs no IPVS).
func TestLinuxContractInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	requireBinaries(t, "ip", "iptables-restore", "ip6tables-restore", "ipset")
	ns := fmt.Sprintf("h3-ipt-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", ns, err, out)
		}
	})
	inNetns := func(name string, args []string, stdin []byte) ([]byte, []byte, error) {
		return ExecRunner("ip", append([]string{"netns", "exec", ns, name}, args...), stdin)
	}
	testContract(t, func(t *testing.T) contractEnv { return linuxEnv(t, inNetns) })
}
