package proxy

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/conntrack"
)

// client is where the UDP flows of these tests come from.
var ctClient = netip.MustParseAddr("10.0.2.99")

// ctFlow is an entry from ctClient's port sport to dst, answered by replySrc (an endpoint
// after IPVS forwarded it, or dst itself while nothing did).
func ctFlow(proto uint8, sport uint16, dst, replySrc string) conntrack.Flow {
	src := netip.AddrPortFrom(ctClient, sport)
	return conntrack.Flow{Protocol: proto, OrigSrc: src, OrigDst: netip.MustParseAddrPort(dst), ReplySrc: netip.MustParseAddrPort(replySrc), ReplyDst: src}
}

func showFlows(fs []conntrack.Flow) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("\n\t" + f.OrigSrc.String() + " -> " + f.OrigDst.String() + " reply from " + f.ReplySrc.String())
	}
	return b.String()
}

func sortedFlows(fs []conntrack.Flow) []conntrack.Flow {
	fs = slices.Clone(fs)
	slices.SortFunc(fs, func(a, b conntrack.Flow) int { return int(a.OrigSrc.Port()) - int(b.OrigSrc.Port()) })
	return fs
}

func TestConntrackCleanup(t *testing.T) {
	const proto = conntrack.ProtoUDP
	dnsSvc := func(p corev1.Protocol) *corev1.Service {
		return svcObj("dns", "10.96.0.10", 53, withProtocol(p), withNodePort(30053), withExternalIPs("192.0.2.50"))
	}
	two := func(p corev1.Protocol) any {
		return sliceObj("dns", "a", 5353, p, ready("10.244.1.2", "node2"), ready("10.244.2.3", "node3"))
	}
	one := func(p corev1.Protocol) any { return sliceObj("dns", "a", 5353, p, ready("10.244.1.2", "node2")) }
	none := func(p corev1.Protocol) any { return nil }
	// flows are in the table after the first sync, before the change.
	flows := []conntrack.Flow{
		ctFlow(proto, 1, "10.96.0.10:53", "10.244.1.2:5353"),   // to the endpoint that stays
		ctFlow(proto, 2, "10.96.0.10:53", "10.244.2.3:5353"),   // to the endpoint that goes
		ctFlow(proto, 3, "192.0.2.50:53", "10.244.2.3:5353"),   // externalIP, endpoint that goes
		ctFlow(proto, 4, "10.0.2.15:30053", "10.244.2.3:5353"), // NodePort, endpoint that goes
		ctFlow(proto, 5, "10.0.2.15:30053", "10.244.1.2:5353"), // NodePort, endpoint that stays
		ctFlow(proto, 6, "10.96.0.10:53", "10.96.0.10:53"),     // sent while nothing answered
		ctFlow(proto, 7, "10.96.0.99:53", "10.244.2.3:5353"),   // another address
		ctFlow(6, 8, "10.96.0.10:53", "10.244.2.3:5353"),       // TCP
	}
	for _, tc := range []struct {
		name          string
		protocol      corev1.Protocol
		before, after func(corev1.Protocol) any
		want          []int // the source ports of the deleted flows
	}{
		{"UDP endpoint removed deletes entries to it only", corev1.ProtocolUDP, two, one, []int{2, 3, 4, 6}},
		{"UDP Service gaining its first endpoint deletes entries to its addresses", corev1.ProtocolUDP, none, one, []int{2, 3, 4, 6}},
		{"TCP endpoint removed deletes nothing", corev1.ProtocolTCP, two, one, nil},
		{"TCP Service gaining its first endpoint deletes nothing", corev1.ProtocolTCP, none, one, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t)
			feed := newDirectFeed(t, f, seedConfig(t))
			feed.service(dnsSvc(tc.protocol), false)
			if s := tc.before(tc.protocol); s != nil {
				feed.slice(s.(*discoveryv1.EndpointSlice), false)
			}
			if err := feed.p.Sync(); err != nil {
				t.Fatal(err)
			}
			f.conntrack.Add(flows...)
			feed.slice(tc.after(tc.protocol).(*discoveryv1.EndpointSlice), false)
			if err := feed.p.Sync(); err != nil {
				t.Fatal(err)
			}
			var want []conntrack.Flow
			for _, p := range tc.want {
				want = append(want, flows[p-1])
			}
			if got := sortedFlows(f.conntrack.Deleted()); !slices.Equal(got, want) {
				t.Errorf("deleted entries: %s\nexpected: %s", showFlows(got), showFlows(want))
			}
			if tc.protocol == corev1.ProtocolTCP && len(f.conntrack.Calls()) != 0 {
				t.Errorf("a TCP-only change called conntrack: %q", f.conntrack.Calls())
			}
			// kube-proxy's conntrack reconciler metrics: one round per cleanup, its deletions.
			m := feed.p.Metrics()
			if got := metricValue(t, m, "kubeproxy_conntrack_reconciler_deleted_entries_total"); got != float64(len(tc.want)) {
				t.Errorf("kubeproxy_conntrack_reconciler_deleted_entries_total = %v, expected %d", got, len(tc.want))
			}
			rounds := uint64(len(f.conntrack.Calls()))
			if got := histogramOf(t, m, "kubeproxy_conntrack_reconciler_sync_duration_seconds", "IPv4").GetSampleCount(); got != rounds {
				t.Errorf("kubeproxy_conntrack_reconciler_sync_duration_seconds has %d observations, expected one per cleanup (%d)", got, rounds)
			}
		})
	}
}

// A change that does not touch a UDP Service reads no conntrack table.
func TestConntrackOnlyAfterUDPChanges(t *testing.T) {
	f := newFakes(t)
	feed := newDirectFeed(t, f, seedConfig(t))
	feed.service(svcObj("dns", "10.96.0.10", 53, withProtocol(corev1.ProtocolUDP)), false)
	feed.slice(sliceObj("dns", "a", 53, corev1.ProtocolUDP, ready("10.244.1.2", "node2")), false)
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := f.conntrack.Calls(); !slices.Equal(got, []string{"DeleteStale 4"}) {
		t.Fatalf("first sync with a UDP Service: conntrack calls %q, expected one DeleteStale", got)
	}
	f.conntrack.ResetCalls()
	feed.service(svcObj("web", "10.96.100.10", 80), false)
	feed.slice(sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2")), false)
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	feed.p.needFull = true
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := f.conntrack.Calls(); len(got) != 0 {
		t.Errorf("TCP change and a full sync: conntrack calls %q, expected none", got)
	}
	// The UDP Service deleted: the change is noticed (it had a UDP port), and its
	// addresses are no longer the filter's, so entries to them stay.
	f.conntrack.Add(ctFlow(conntrack.ProtoUDP, 1, "10.96.0.10:53", "10.244.1.2:53"))
	feed.service(svcObj("dns", "10.96.0.10", 53, withProtocol(corev1.ProtocolUDP)), true)
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := f.conntrack.Calls(); !slices.Equal(got, []string{"DeleteStale 4"}) {
		t.Errorf("UDP Service deleted: conntrack calls %q, expected one DeleteStale", got)
	}
	if got := f.conntrack.Deleted(); len(got) != 0 {
		t.Errorf("UDP Service deleted: deleted %s, expected nothing", showFlows(got))
	}
}

// A conntrack failure is logged with the Services and does not fail the sync.
func TestConntrackFailureDoesNotFailSync(t *testing.T) {
	f := newFakes(t)
	p, _, logs := newTestProxier(t, f, seedConfig(t))
	p.initialized = true
	p.onNode(nodeObj("node1", testNodeIP.String()), false)
	p.onService(svcObj("dns", "10.96.0.10", 53, withProtocol(corev1.ProtocolUDP)), false)
	p.onSlice(nil, sliceObj("dns", "a", 53, corev1.ProtocolUDP, ready("10.244.1.2", "node2")), false)
	f.conntrack.FailNext("DeleteStale", errors.New("netlink: operation not permitted"))
	if err := p.Sync(); err != nil {
		t.Fatalf("Sync with a failing conntrack = %v, expected success", err)
	}
	log := logs.String()
	fixture.Contains(t, "log", log, "Failed to delete stale UDP conntrack entries", "netlink: operation not permitted", "default/dns", `"ipFamily"="IPv4"`)
	if p.needFull {
		t.Error("a conntrack failure made the next sync a full one")
	}
}
