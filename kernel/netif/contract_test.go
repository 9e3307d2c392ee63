package netif

import (
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/lab/labtest"
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

	t.Run("missing link", func(t *testing.T) {
		n := newImpl(t)
		const missing = "h3-missing0"
		if err := n.AddAddress(missing, v4); !errors.Is(err, ErrLinkNotFound) {
			t.Errorf("AddAddress on a missing link: %v, expected ErrLinkNotFound", err)
		}
		if err := n.DeleteAddress(missing, v4); err != nil {
			t.Errorf("DeleteAddress on a missing link: %v, expected nil", err)
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
	want := []string{
		"EnsureDummy kube-ipvs0",
		"AddAddress kube-ipvs0 10.96.0.1/32",
		"AddAddress kube-ipvs0 10.96.0.1/32",
	}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls() = %q, expected %q", got, want)
	}
	f.ResetCalls()
	if got := f.Calls(); len(got) != 0 {
		t.Errorf("after ResetCalls, Calls() = %q", got)
	}
}

func TestFakeLinksAreCopies(t *testing.T) {
	f := newLoopbackFake()
	links, _ := f.Links()
	links[0].Addrs[0] = netip.MustParsePrefix("192.0.2.1/32")
	if lo := mustLink(t, f, "lo"); lo.Addrs[0] != netip.MustParsePrefix("127.0.0.1/8") {
		t.Errorf("changing a returned link changed the fake: %v", lo.Addrs)
	}
}
