package netif

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// TestLinuxContractInNetns runs the contract against this host's kernel inside throwaway
// network namespaces (rtnetlink needs no IPVS). It needs root.
func TestLinuxContractInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	testContract(t, func(t *testing.T) Interface {
		ns := newTestNetns(t)
		l, err := NewLinuxAt(ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		lo, err := l.h.LinkByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.h.LinkSetUp(lo); err != nil {
			t.Fatalf("set lo up in the test netns: %v", err)
		}
		return l
	})
}

// newTestNetns creates an unnamed network namespace that lives until the test ends; the
// calling thread is switched back to its own namespace before returning.
func newTestNetns(t testing.TB) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("get current netns: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("create netns: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatalf("return to the original netns: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// TestLinuxAddressesOnVethInNetns exercises address handling on a veth pair, which this
// host's kernel can create even where it has no dummy links.
func TestLinuxAddressesOnVethInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	l, err := NewLinuxAt(newTestNetns(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "h3-veth0"}, PeerName: "h3-veth1"}
	if err := l.h.LinkAdd(veth); err != nil {
		t.Fatalf("create veth pair: %v", err)
	}
	v4 := netip.MustParsePrefix("10.244.1.5/24")
	v6 := netip.MustParsePrefix("fd00:10:244::5/64")
	for _, p := range []netip.Prefix{v4, v6, v4} {
		if err := l.AddAddress("h3-veth0", p); err != nil {
			t.Fatalf("AddAddress(%s): %v", p, err)
		}
	}
	link := mustLink(t, l, "h3-veth0")
	if link.Kind != "veth" || link.Up {
		t.Errorf("h3-veth0 = %+v, expected a down veth", link)
	}
	if count(link.Addrs, v4) != 1 || count(link.Addrs, v6) != 1 {
		t.Errorf("h3-veth0 addresses %v, expected %s and %s once each", link.Addrs, v4, v6)
	}
	// Same address, other prefix length: the kernel matches both, so nothing is removed.
	if err := l.DeleteAddress("h3-veth0", netip.MustParsePrefix("10.244.1.5/32")); err != nil {
		t.Fatalf("DeleteAddress of an unbound prefix: %v", err)
	}
	for _, p := range []netip.Prefix{v4, v6, v6} {
		if err := l.DeleteAddress("h3-veth0", p); err != nil {
			t.Fatalf("DeleteAddress(%s): %v", p, err)
		}
	}
	if link := mustLink(t, l, "h3-veth0"); link.HasAddr(v4.Addr()) || link.HasAddr(v6.Addr()) {
		t.Errorf("addresses left after deleting them: %v", link.Addrs)
	}
	if _, err := l.EnsureDummy("h3-veth0"); err == nil {
		t.Error("EnsureDummy on a veth succeeded, expected an error")
	}
	if err := l.DeleteLink("h3-veth0"); err != nil {
		t.Fatal(err)
	}
	links, err := l.Links()
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range links {
		if link.Name == "h3-veth0" || link.Name == "h3-veth1" {
			t.Errorf("%s listed after deleting the pair", link.Name)
		}
	}
}

// TestLinuxBatchBindsAsAddrReplace binds the same addresses to the two ends of a veth pair,
// one end through vishvananda/netlink's AddrReplace and the other through a batch, and
// expects the kernel to list them alike (scope, broadcast, flags), then checks a batch
// larger than one send with a refused address in it.
func TestLinuxBatchBindsAsAddrReplace(t *testing.T) {
	l := newVethPairLinux(t, "h1-veth")
	ps := []netip.Prefix{
		netip.MustParsePrefix("10.244.1.5/24"), // with a broadcast address
		netip.MustParsePrefix("10.96.0.1/32"),
		netip.MustParsePrefix("192.0.2.1/31"), // too small for one
		netip.MustParsePrefix("fd00:10:244::5/64"),
		netip.MustParsePrefix("fd00:10:96::1/128"),
	}
	single, err := l.h.LinkByName("h1-veth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := l.h.AddrReplace(single, &netlink.Addr{IPNet: ipNetFromPrefix(p)}); err != nil {
			t.Fatalf("AddrReplace(%s): %v", p, err)
		}
	}
	if err := l.AddAddresses("h1-veth1", ps); err != nil {
		t.Fatalf("AddAddresses: %v", err)
	}
	listed := func(name string) map[netip.Prefix]string {
		link, err := l.h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := l.h.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			t.Fatal(err)
		}
		out := map[netip.Prefix]string{}
		for _, a := range addrs {
			if p, ok := prefixFromIPNet(a.IPNet); ok && a.IP.IsGlobalUnicast() {
				out[p] = fmt.Sprintf("scope %d broadcast %v flags %#x label %q", a.Scope, a.Broadcast, a.Flags&^unix.IFA_F_TENTATIVE, a.Label[min(len(a.Label), len(name)):])
			}
		}
		return out
	}
	want, got := listed("h1-veth0"), listed("h1-veth1")
	if len(want) != len(ps) {
		t.Fatalf("AddrReplace bound %v, expected the %d prefixes", want, len(ps))
	}
	if !maps.Equal(got, want) {
		t.Errorf("the batch bound\n%v\nAddrReplace bound\n%v", got, want)
	}

	var many []netip.Prefix
	for i := range 2*nlbatch.BatchSize + 3 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 97, byte(i >> 8), byte(i)}), 32))
	}
	refused := netip.MustParsePrefix("ff02::5/128")
	many = slices.Insert(many, nlbatch.BatchSize+1, refused)
	err = l.AddAddresses("h1-veth1", many)
	var be *BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Prefix != refused || !errors.Is(err, unix.EADDRNOTAVAIL) {
		t.Fatalf("AddAddresses with %s in the second send: %v, expected a BatchError naming it with EADDRNOTAVAIL", refused, err)
	}
	if !strings.Contains(err.Error(), "multicast") {
		t.Errorf("the error %q lacks the kernel's extended ack message", err)
	}
	if n := len(listed("h1-veth1")); n != len(ps)+len(many)-1 {
		t.Errorf("h1-veth1 holds %d global addresses, expected %d", n, len(ps)+len(many)-1)
	}
	if err := l.DeleteAddresses("h1-veth1", many); err != nil {
		t.Fatalf("DeleteAddresses: %v", err)
	}
	if n := len(listed("h1-veth1")); n != len(ps) {
		t.Errorf("after deleting the batch h1-veth1 holds %d global addresses, expected %d", n, len(ps))
	}
}

// serviceAddrs is the number of addresses on kube-ipvs0 at 10,000 Services (one each).
const serviceAddrs = 10000

// BenchmarkLinuxLinks lists the links of a throwaway namespace whose veth holds
// serviceAddrs /32 addresses, as a proxier's full resync reads kube-ipvs0's.
func BenchmarkLinuxLinks(b *testing.B) {
	l := newVethPairLinux(b, "h3-veth")
	ps := make([]netip.Prefix, serviceAddrs)
	for i := range ps {
		ps[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}), 32)
	}
	if err := l.AddAddresses("h3-veth0", ps); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		links, err := l.Links()
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, link := range links {
			n += len(link.Addrs)
		}
		if n < serviceAddrs {
			b.Fatalf("listed %d addresses, expected at least %d", n, serviceAddrs)
		}
	}
}

// newVethPairLinux returns a Linux handle on a throwaway network namespace holding a veth
// pair named prefix+"0" and prefix+"1"; it skips without root.
func newVethPairLinux(tb testing.TB, prefix string) *Linux {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create network namespaces")
	}
	l, err := NewLinuxAt(newTestNetns(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	if err := l.h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: prefix + "0"}, PeerName: prefix + "1"}); err != nil {
		tb.Fatalf("create veth pair: %v", err)
	}
	return l
}
