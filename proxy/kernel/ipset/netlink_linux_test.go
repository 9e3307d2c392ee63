package ipset

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

var netnsSeq atomic.Int64

// testNetns creates a named network namespace for the test (so that the ipset binary can
// be run in it too) and returns its name and a handle.
func testNetns(t testing.TB) (string, netns.NsHandle) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to create named network namespaces")
	}
	name := fmt.Sprintf("h3-ipset-%d-%d", os.Getpid(), netnsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	return name, ns
}

// TestLinuxContractInNetns runs the contract against this host's kernel (which has ip
// sets but no IPVS) in throwaway network namespaces.
func TestLinuxContractInNetns(t *testing.T) {
	testContract(t, func(t *testing.T) Interface {
		_, ns := testNetns(t)
		l := NewLinuxAt(ns)
		t.Cleanup(func() { l.Close() })
		return l
	})
}

// ipsetSave runs the ipset binary in the namespace, an independent reader of what the
// netlink code wrote.
func ipsetCommand(t *testing.T, ns string, stdin string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ipset"); err != nil {
		t.Skip("needs the ipset command (Debian: apt-get install ipset)")
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, "ipset"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ipset %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// createContractSets fills a throwaway namespace with every contract set and its members.
func createContractSets(t *testing.T, s Interface) {
	t.Helper()
	for _, set := range contractSets {
		if err := s.Create(set); err != nil {
			t.Fatalf("Create(%s %s): %v", set.Name, set.Type, err)
		}
		if err := s.Add(set.Name, set.Members...); err != nil {
			t.Fatalf("Add(%s): %v", set.Name, err)
		}
	}
}

// TestLinuxAgreesWithIPSetBinary writes sets with the netlink code and reads them with
// `ipset save`, then writes a large set with `ipset restore` (its dump spans several
// netlink messages) and reads it with the netlink code.
func TestLinuxAgreesWithIPSetBinary(t *testing.T) {
	name, ns := testNetns(t)
	l := NewLinuxAt(ns)
	defer l.Close()
	createContractSets(t, l)
	saved, err := dataplane.ParseIPSetSave(ipsetCommand(t, name, "", "save"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range contractSets {
		got, ok := dataplane.State{IPSets: saved}.IPSet(want.Name)
		if !ok {
			t.Errorf("ipset save lacks %s", want.Name)
			continue
		}
		if got.Type != want.Type || got.Family != want.Family || got.PortRange != want.PortRange || got.Comment != want.Comment {
			t.Errorf("ipset save header of %s: %+v, expected %+v", want.Name, header(got), header(want))
		}
		expectMembers(t, got, want.Members)
	}

	var restore strings.Builder
	restore.WriteString("create H3-BIG hash:ip,port,ip family inet hashsize 1024 maxelem 65536\n")
	var texts []string
	for i := range 3000 {
		m := fmt.Sprintf("10.%d.%d.%d,tcp:%d,10.244.%d.%d", i/65536, i/256%256, i%256, 1000+i%50000, i/256%256, i%256)
		texts = append(texts, m)
		restore.WriteString("add H3-BIG " + m + "\n")
	}
	want := dataplane.MustParseMembers(dataplane.SetHashIPPortIP, texts...)
	ipsetCommand(t, name, restore.String(), "restore")
	start := time.Now()
	sets, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("listed %d sets with a 3000-member set in %v", len(sets), time.Since(start))
	big, ok := dataplane.State{IPSets: sets}.IPSet("H3-BIG")
	if !ok {
		t.Fatal("H3-BIG not listed")
	}
	if big.HashSize < 1024 || big.MaxElem != 65536 || big.Family != "inet" {
		t.Errorf("H3-BIG header %+v", header(big))
	}
	expectMembers(t, big, want)

	// Deleting them in batches through netlink empties the set.
	start = time.Now()
	if err := l.Del("H3-BIG", want...); err != nil {
		t.Fatal(err)
	}
	t.Logf("deleted 3000 members in %v", time.Since(start))
	if out := ipsetCommand(t, name, "", "list", "H3-BIG"); !strings.Contains(out, "Number of entries: 0") {
		t.Errorf("after Del, ipset list H3-BIG:\n%s", out)
	}
	if !slices.ContainsFunc(sets, func(s dataplane.IPSet) bool { return s.Name == contractSets[0].Name }) {
		t.Errorf("List lacks %s", contractSets[0].Name)
	}
}

// BenchmarkLinuxList lists the sets of a proxier at 10,000 Services (40,000 entries, see
// syntheticDump) from this host's kernel in a throwaway namespace: the dump's reading and
// decoding together.
func BenchmarkLinuxList(b *testing.B) {
	_, ns := testNetns(b)
	l := NewLinuxAt(ns)
	defer l.Close()
	msgs, n := syntheticDump(b)
	sets, err := decodeList(msgs)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range sets {
		if err := l.Create(s); err != nil {
			b.Fatal(err)
		}
		if err := l.Add(s.Name, s.Members...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ReportMetric(float64(n), "entries/op")
	for b.Loop() {
		sets, err := l.List()
		if err != nil {
			b.Fatal(err)
		}
		if got := len(sets[0].Members) + len(sets[1].Members); got != n {
			b.Fatalf("listed %d members, expected %d", got, n)
		}
	}
}

var update = flag.Bool("update", false, "rewrite testdata/list-dump.bin from this host's kernel")

// TestLinuxListDumpTestdata checks that testdata/list-dump.bin (a real dump of the
// contract sets) is what this kernel sends, after rewriting it with -update.
func TestLinuxListDumpTestdata(t *testing.T) {
	if !*update {
		t.Skip("run with -update (as root) to rewrite testdata/list-dump.bin from the kernel")
	}
	_, ns := testNetns(t)
	l := NewLinuxAt(ns)
	defer l.Close()
	createContractSets(t, l)
	var msgs [][]byte
	err := l.dump(message(), func(msg []byte) error {
		msgs = append(msgs, slices.Clone(msg))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/list-dump.bin", writeDump(msgs), 0o644); err != nil {
		t.Fatal(err)
	}
}
