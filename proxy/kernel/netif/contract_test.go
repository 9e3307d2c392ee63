package netif

import (
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

// testContract is what the fake and rtnetlink (in the lab, or in a throwaway netns) must
// both do. Implementations start with a loopback link "lo"; links the test creates are
// deleted again because the lab's tests share one kernel.
func testContract(t *testing.T, newImpl func(t *testing.T) Interface) {
	const dummy = "h3-contract0"
	v4 := netip.MustParsePrefix("10.96.0.10/32")
	v6 := netip.MustParsePrefix("fd00:10:96::a/128")

	ensure := func(t *testing.T, n Interface) {
		t.Helper()
		created, err := n.EnsureDummy(dummy)
		if err != nil && errors.Is(err, syscall.EOPNOTSUPP) && !labtest.InLab() {
			// This build host's kernel has no CONFIG_DUMMY; the lab kernel has.
			t.Skipf("kernel cannot create dummy links: %v", err)
		}
		if err != nil {
			t.Fatalf("EnsureDummy(%s): %v", dummy, err)
		}
		if !created {
			t.Fatalf("EnsureDummy(%s) on a fresh namespace reported the link as existing", dummy)
		}
		t.Cleanup(func() {
			if err := n.DeleteLink(dummy); err != nil {
				t.Errorf("cleanup: DeleteLink(%s): %v", dummy, err)
			}
		})
	}

	t.Run("loopback is listed", func(t *testing.T) {
		n := newImpl(t)
		lo := mustLink(t, n, "lo")
		if lo.Kind != "loopback" || !lo.Up || lo.Index == 0 {
			t.Errorf("lo = %+v, expected kind loopback, up, with an index", lo)
		}
		if !lo.HasAddr(netip.MustParseAddr("127.0.0.1")) {
			t.Errorf("lo addresses %v lack 127.0.0.1", lo.Addrs)
		}
	})

	t.Run("dummy is created once and down", func(t *testing.T) {
		n := newImpl(t)
		ensure(t, n)
		created, err := n.EnsureDummy(dummy)
		if err != nil || created {
			t.Fatalf("second EnsureDummy(%s) = %v, %v; expected false, nil", dummy, created, err)
		}
		l := mustLink(t, n, dummy)
		if l.Kind != "dummy" || l.Up || len(l.Addrs) != 0 {
			t.Errorf("%s = %+v, expected a down dummy without addresses", dummy, l)
		}
	})

	t.Run("ensure dummy refuses another kind", func(t *testing.T) {
		n := newImpl(t)
		if _, err := n.EnsureDummy("lo"); err == nil {
			t.Fatal(`EnsureDummy("lo") succeeded, expected an error: lo is not a dummy`)
		}
	})

	t.Run("addresses are bound and unbound idempotently", func(t *testing.T) {
		n := newImpl(t)
		ensure(t, n)
		for _, p := range []netip.Prefix{v4, v6, v4, v6} {
			if err := n.AddAddress(dummy, p); err != nil {
				t.Fatalf("AddAddress(%s, %s): %v", dummy, p, err)
			}
		}
		l := mustLink(t, n, dummy)
		for _, p := range []netip.Prefix{v4, v6} {
			if c := count(l.Addrs, p); c != 1 {
				t.Errorf("%s holds %s %d times, expected once; addresses %v", dummy, p, c, l.Addrs)
			}
		}
		for _, p := range []netip.Prefix{v4, v4} {
			if err := n.DeleteAddress(dummy, p); err != nil {
				t.Fatalf("DeleteAddress(%s, %s): %v", dummy, p, err)
			}
		}
		l = mustLink(t, n, dummy)
		if l.HasAddr(v4.Addr()) || !l.HasAddr(v6.Addr()) {
			t.Errorf("after deleting %s, %s holds %v; expected only %s", v4, dummy, l.Addrs, v6)
		}
	})

	t.Run("addresses are bound and unbound in batches", func(t *testing.T) {
		n := newImpl(t)
		ensure(t, n)
		// More than two sends' worth on Linux (nlbatch.BatchSize), both families, a repeat.
		var ps []netip.Prefix
		for i := range 300 {
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 97, byte(i >> 8), byte(i)}), 32))
		}
		ps = append(ps, v6, netip.MustParsePrefix("10.98.0.0/24"), ps[7])
		if err := n.AddAddresses(dummy, ps); err != nil {
			t.Fatalf("AddAddresses(%s, %d prefixes): %v", dummy, len(ps), err)
		}
		if err := n.AddAddresses(dummy, ps[:10]); err != nil {
			t.Fatalf("AddAddresses of bound prefixes: %v", err)
		}
		l := mustLink(t, n, dummy)
		if len(l.Addrs) != len(ps)-1 {
			t.Errorf("%s holds %d addresses, expected %d", dummy, len(l.Addrs), len(ps)-1)
		}
		for _, p := range ps {
			if c := count(l.Addrs, p); c != 1 {
				t.Errorf("%s holds %s %d times, expected once", dummy, p, c)
			}
		}
		// Deleting what is not bound (another address, another prefix length) is no error.
		del := append(slices.Clone(ps[:200]), netip.MustParsePrefix("10.99.0.1/32"), netip.MustParsePrefix("10.98.0.0/32"))
		if err := n.DeleteAddresses(dummy, del); err != nil {
			t.Fatalf("DeleteAddresses(%s, %d prefixes): %v", dummy, len(del), err)
		}
		l = mustLink(t, n, dummy)
		if want := ps[200 : len(ps)-1]; len(l.Addrs) != len(want) {
			t.Errorf("after deleting 200, %s holds %d addresses, expected %d", dummy, len(l.Addrs), len(want))
		}
		for _, p := range ps[200 : len(ps)-1] {
			if count(l.Addrs, p) != 1 {
				t.Errorf("%s lost %s, which was not deleted", dummy, p)
			}
		}
		if err := n.AddAddresses(dummy, nil); err != nil {
			t.Errorf("AddAddresses of no prefixes: %v", err)
		}
	})

	t.Run("a batch applies all but the refused addresses", func(t *testing.T) {
		n := newImpl(t)
		ensure(t, n)
		// The kernel binds no IPv6 multicast address without IFA_F_MCAUTOJOIN.
		refused := netip.MustParsePrefix("ff02::5/128")
		ps := []netip.Prefix{v4, refused, {}, v6}
		err := n.AddAddresses(dummy, ps)
		var be *BatchError
		if !errors.As(err, &be) {
			t.Fatalf("AddAddresses with a refused and an invalid prefix: %v, expected a *BatchError", err)
		}
		if be.Total != len(ps) || len(be.Failed) != 2 || be.Failed[0].Prefix != refused || be.Failed[1].Prefix.IsValid() {
			t.Fatalf("BatchError = %v (total %d), expected %s and the invalid prefix, in that order", be, be.Total, refused)
		}
		if f := be.Failed[0]; f.Op != "add" || f.Link != dummy || !errors.Is(f, syscall.EADDRNOTAVAIL) {
			t.Errorf("failure of %s = %+v, expected add on %s with EADDRNOTAVAIL", refused, f, dummy)
		}
		if !errors.Is(err, syscall.EINVAL) || !errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Errorf("errors.Is does not find both causes in %v", err)
		}
		l := mustLink(t, n, dummy)
		if !l.HasAddr(v4.Addr()) || !l.HasAddr(v6.Addr()) || l.HasAddr(refused.Addr()) {
			t.Errorf("%s holds %v, expected %s and %s, not %s", dummy, l.Addrs, v4, v6, refused)
		}
		err = n.DeleteAddresses(dummy, []netip.Prefix{v4, {}, v6})
		if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Op != "delete" || !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("DeleteAddresses with an invalid prefix: %v, expected a *BatchError naming it", err)
		}
		if l := mustLink(t, n, dummy); len(l.Addrs) != 0 {
			t.Errorf("%s holds %v after deleting its addresses", dummy, l.Addrs)
		}
	})

	t.Run("missing link", func(t *testing.T) {
		n := newImpl(t)
		const missing = "h3-missing0"
		if err := n.AddAddress(missing, v4); !errors.Is(err, ErrLinkNotFound) {
			t.Errorf("AddAddress on a missing link: %v, expected ErrLinkNotFound", err)
		}
		if err := n.DeleteAddress(missing, v4); err != nil {
			t.Errorf("DeleteAddress on a missing link: %v, expected nil", err)
		}
		err := n.AddAddresses(missing, []netip.Prefix{v4, v6})
		var be *BatchError
		if !errors.Is(err, ErrLinkNotFound) || errors.As(err, &be) {
			t.Errorf("AddAddresses on a missing link: %v, expected ErrLinkNotFound for the whole batch", err)
		}
		if err := n.DeleteAddresses(missing, []netip.Prefix{v4, v6}); err != nil {
			t.Errorf("DeleteAddresses on a missing link: %v, expected nil", err)
		}
		if err := n.DeleteLink(missing); err != nil {
			t.Errorf("DeleteLink on a missing link: %v, expected nil", err)
		}
	})

	t.Run("delete link removes it", func(t *testing.T) {
		n := newImpl(t)
		ensure(t, n)
		if err := n.DeleteLink(dummy); err != nil {
			t.Fatalf("DeleteLink(%s): %v", dummy, err)
		}
		links, err := n.Links()
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(links, func(l dataplane.Link) bool { return l.Name == dummy }) {
			t.Errorf("%s still listed after DeleteLink", dummy)
		}
	})

	t.Run("invalid input", func(t *testing.T) {
		n := newImpl(t)
		if _, err := n.EnsureDummy("a-name-longer-than-15"); err == nil {
			t.Error("EnsureDummy accepted a 21-character name")
		}
		if err := n.AddAddress("lo", netip.Prefix{}); err == nil {
			t.Error("AddAddress accepted an invalid prefix")
		}
	})
}

func mustLink(t *testing.T, n Interface, name string) dataplane.Link {
	t.Helper()
	links, err := n.Links()
	if err != nil {
		t.Fatalf("Links: %v", err)
	}
	for i, l := range links {
		if i > 0 && links[i-1].Index >= l.Index {
			t.Errorf("Links not ordered by index: %v", links)
		}
	}
	for _, l := range links {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("link %s not listed in %v", name, links)
	return dataplane.Link{}
}

func count(ps []netip.Prefix, p netip.Prefix) int {
	n := 0
	for _, q := range ps {
		if q == p {
			n++
		}
	}
	return n
}

// newLoopbackFake is a fake namespace as a fresh one looks once lo is up.
func newLoopbackFake() *Fake {
	return NewFake(dataplane.Link{
		Name: "lo", Index: 1, Kind: "loopback", Up: true,
		Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")},
	})
}

func TestFakeContract(t *testing.T) {
	testContract(t, func(*testing.T) Interface { return newLoopbackFake() })
}

func TestFakeCallsAndFaults(t *testing.T) {
	f := newLoopbackFake()
	p := netip.MustParsePrefix("10.96.0.1/32")
	boom := errors.New("injected")
	f.FailNext("AddAddress", boom)
	if _, err := f.EnsureDummy(dataplane.KubeIPVSInterface); err != nil {
		t.Fatal(err)
	}
	if err := f.AddAddress(dataplane.KubeIPVSInterface, p); !errors.Is(err, boom) {
		t.Fatalf("AddAddress with an injected fault returned %v", err)
	}
	if l := mustLink(t, f, dataplane.KubeIPVSInterface); len(l.Addrs) != 0 {
		t.Fatalf("a failed AddAddress bound %v", l.Addrs)
	}
	if err := f.AddAddress(dataplane.KubeIPVSInterface, p); err != nil {
		t.Fatal(err)
	}
	f.CheckCalls(t,
		"EnsureDummy kube-ipvs0",
		"AddAddress kube-ipvs0 10.96.0.1/32",
		"AddAddress kube-ipvs0 10.96.0.1/32",
	)
	f.ResetCalls()
	f.CheckCalls(t)
}

func TestFakeLinksAreCopies(t *testing.T) {
	f := newLoopbackFake()
	links, _ := f.Links()
	links[0].Addrs[0] = netip.MustParsePrefix("192.0.2.1/32")
	if lo := mustLink(t, f, "lo"); lo.Addrs[0] != netip.MustParsePrefix("127.0.0.1/8") {
		t.Errorf("changing a returned link changed the fake: %v", lo.Addrs)
	}
}

func TestFakeBatchCallsAndFaults(t *testing.T) {
	f := newLoopbackFake()
	if _, err := f.EnsureDummy(dataplane.KubeIPVSInterface); err != nil {
		t.Fatal(err)
	}
	f.ResetCalls()
	a, b, c := netip.MustParsePrefix("10.96.0.1/32"), netip.MustParsePrefix("10.96.0.2/32"), netip.MustParsePrefix("10.96.0.3/32")
	boom, enomem := errors.New("injected"), syscall.ENOMEM

	// A failed call changes nothing; a refused address fails alone, once.
	f.FailNext("AddAddresses", boom)
	f.FailAddress(b, enomem)
	if err := f.AddAddresses(dataplane.KubeIPVSInterface, []netip.Prefix{a, b, c}); !errors.Is(err, boom) {
		t.Fatalf("AddAddresses with an injected call fault: %v", err)
	}
	if l := mustLink(t, f, dataplane.KubeIPVSInterface); len(l.Addrs) != 0 {
		t.Fatalf("a failed AddAddresses bound %v", l.Addrs)
	}
	err := f.AddAddresses(dataplane.KubeIPVSInterface, []netip.Prefix{a, b, c})
	var be *BatchError
	if !errors.As(err, &be) || be.Total != 3 || len(be.Failed) != 1 || be.Failed[0].Prefix != b || !errors.Is(err, enomem) {
		t.Fatalf("AddAddresses with %s refused: %v, expected a BatchError naming it", b, err)
	}
	if want := "1 of 3 address changes failed: add address 10.96.0.2/32 to kube-ipvs0: cannot allocate memory"; err.Error() != want {
		t.Errorf("error text %q, expected %q", err, want)
	}
	if l := mustLink(t, f, dataplane.KubeIPVSInterface); !slices.Equal(l.Addrs, []netip.Prefix{a, c}) {
		t.Errorf("kube-ipvs0 holds %v, expected %s and %s", l.Addrs, a, c)
	}
	if err := f.AddAddress(dataplane.KubeIPVSInterface, b); err != nil {
		t.Fatalf("AddAddress after the refusal was used up: %v", err)
	}

	// A single call's error is the address's own.
	f.FailAddress(a, enomem)
	err = f.DeleteAddress(dataplane.KubeIPVSInterface, a)
	var ae *AddressError
	if !errors.As(err, &ae) || errors.As(err, &be) || ae.Op != "delete" || ae.Prefix != a {
		t.Errorf("DeleteAddress with %s refused: %v, expected its AddressError alone", a, err)
	}
	f.FailNext("DeleteAddresses", boom)
	if err := f.DeleteAddresses(dataplane.KubeIPVSInterface, []netip.Prefix{a}); !errors.Is(err, boom) {
		t.Errorf("DeleteAddresses with an injected call fault: %v", err)
	}
	if err := f.DeleteAddresses(dataplane.KubeIPVSInterface, []netip.Prefix{a, c}); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteAddresses(dataplane.KubeIPVSInterface, nil); err != nil {
		t.Fatal(err)
	}
	if l := mustLink(t, f, dataplane.KubeIPVSInterface); !slices.Equal(l.Addrs, []netip.Prefix{b}) {
		t.Errorf("kube-ipvs0 holds %v, expected only %s", l.Addrs, b)
	}
	// The empty DeleteAddresses is no call.
	f.CheckCalls(t,
		"AddAddresses kube-ipvs0 10.96.0.1/32 10.96.0.2/32 10.96.0.3/32",
		"AddAddresses kube-ipvs0 10.96.0.1/32 10.96.0.2/32 10.96.0.3/32",
		"AddAddress kube-ipvs0 10.96.0.2/32",
		"DeleteAddress kube-ipvs0 10.96.0.1/32",
		"DeleteAddresses kube-ipvs0 10.96.0.1/32",
		"DeleteAddresses kube-ipvs0 10.96.0.1/32 10.96.0.3/32",
	)
}
