//go:build lab && linux

package conntrack

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

// TestLinuxContract runs the contract against the lab kernel's conntrack table. Entries are
// created over netlink with a reply source other than the original destination, which is
// what an entry of IPVS-forwarded (or DNATed) traffic looks like.
func TestLinuxContract(t *testing.T) {
	labtest.Require(t)
	testContract(t, func(t *testing.T) (Interface, func(*testing.T, ...Flow)) {
		t.Cleanup(func() { removeTestFlows(t) })
		return NewLinux(), func(t *testing.T, flows ...Flow) {
			t.Helper()
			for _, f := range flows {
				if err := create(f); err != nil {
					t.Fatalf("create conntrack entry %v -> %v (reply from %v): %v", f.OrigSrc, f.OrigDst, f.ReplySrc, err)
				}
			}
		}
	})
}

// TestLinuxDeleteSeenByConntrackTool checks a deletion with the conntrack binary, which
// reads the table without this package's parsing.
func TestLinuxDeleteSeenByConntrackTool(t *testing.T) {
	labtest.Require(t)
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Fatalf("the lab guest should have the conntrack binary: %v", err)
	}
	t.Cleanup(func() { removeTestFlows(t) })
	keep := udp(client4, 41001, "10.96.0.10:53", "10.244.1.5:53")
	stale := udp(client4, 41002, "10.96.0.10:53", "10.244.2.6:53")
	for _, f := range []Flow{keep, stale} {
		if err := create(f); err != nil {
			t.Fatalf("create conntrack entry: %v", err)
		}
	}
	filter := NewStaleFilter()
	filter.Frontends[keep.OrigDst] = endpoints("10.244.1.5:53")
	if n, err := NewLinux().DeleteStale(4, filter); err != nil || n != 1 {
		t.Fatalf("DeleteStale = %d, %v; expected 1, nil", n, err)
	}
	out, err := exec.Command("conntrack", "-L", "-p", "udp", "-s", client4.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("conntrack -L: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "sport=41001") || strings.Contains(text, "sport=41002") {
		t.Errorf("conntrack -L after DeleteStale, expected the entry from port 41001 only:\n%s", text)
	}
}

func create(f Flow) error {
	fam := netlink.InetFamily(unix.AF_INET)
	if f.OrigSrc.Addr().Is6() {
		fam = unix.AF_INET6
	}
	tuple := func(src, dst netip.AddrPort) netlink.IPTuple {
		return netlink.IPTuple{Protocol: f.Protocol, SrcIP: src.Addr().AsSlice(), SrcPort: src.Port(), DstIP: dst.Addr().AsSlice(), DstPort: dst.Port()}
	}
	flow := &netlink.ConntrackFlow{
		FamilyType: uint8(fam),
		Forward:    tuple(f.OrigSrc, f.OrigDst),
		Reverse:    tuple(f.ReplySrc, f.ReplyDst),
		TimeOut:    300,
	}
	return netlink.ConntrackCreate(netlink.ConntrackTable, fam, flow)
}

// removeTestFlows deletes whatever the test clients left in the table.
func removeTestFlows(t *testing.T) {
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		if _, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, fam, clientMatcher{}); err != nil {
			t.Errorf("remove test conntrack entries: %v", err)
		}
	}
}

type clientMatcher struct{}

func (clientMatcher) MatchConntrackFlow(c *netlink.ConntrackFlow) bool {
	return c.Forward.SrcIP.Equal(client4.AsSlice()) || c.Forward.SrcIP.Equal(client6.AsSlice())
}
