package conntrack

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestFakeContract(t *testing.T) {
	testContract(t, func(t *testing.T) (Interface, func(*testing.T, ...Flow)) {
		f := NewFake()
		return f, func(_ *testing.T, flows ...Flow) { f.Add(flows...) }
	})
}

func TestFakeRecordsDeletionsAndFailures(t *testing.T) {
	stale := udp(client4, 1, "10.96.0.10:53", "10.244.2.6:53")
	f := NewFake(stale)
	filter := &StaleFilter{Frontends: map[netip.AddrPort]Endpoints{netip.MustParseAddrPort("10.96.0.10:53"): endpoints()}}

	boom := errors.New("boom")
	f.FailNext("DeleteStale", boom)
	if _, err := f.DeleteStale(4, filter); !errors.Is(err, boom) {
		t.Fatalf("DeleteStale with a queued failure = %v, expected boom", err)
	}
	if len(f.Deleted()) != 0 {
		t.Fatalf("a failed DeleteStale deleted %v", f.Deleted())
	}
	if n, err := f.DeleteStale(4, filter); err != nil || n != 1 {
		t.Fatalf("DeleteStale = %d, %v; expected 1, nil", n, err)
	}
	if got := f.Deleted(); !slices.Equal(got, []Flow{stale}) {
		t.Errorf("Deleted() = %v, expected %v", got, []Flow{stale})
	}
	f.CheckCalls(t, "DeleteStale 4", "DeleteStale 4")
}
