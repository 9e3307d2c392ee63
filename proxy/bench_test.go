package proxy

import (
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// benchObjects makes n ClusterIP Services with two ready endpoints each on this node, the
// shape the kernel lab measured upstream with (lab-cluster.md).
func benchObjects(n int) ([]*corev1.Service, []*discoveryv1.EndpointSlice) {
	svcs := make([]*corev1.Service, n)
	slices := make([]*discoveryv1.EndpointSlice, n)
	for i := range n {
		name := fmt.Sprintf("svc-%05d", i)
		ip := netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})
		svcs[i] = svcObj(name, ip.String(), 80)
		slices[i] = benchSlice(name, i, 0)
	}
	return svcs, slices
}

// benchSlice is Service i's slice; gen varies the second endpoint.
func benchSlice(name string, i, gen int) *discoveryv1.EndpointSlice {
	a := netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)})
	b := netip.AddrFrom4([4]byte{10, 245, byte(i >> 8), byte(i) + byte(gen)})
	return sliceObj(name, "a", 8080, corev1.ProtocolTCP, ready(a.String(), "node1"), ready(b.String(), "node1"))
}

func feedBench(b *testing.B, n int) (*fakes, *directFeed) {
	b.Helper()
	f := newFakes(b)
	feed := newDirectFeed(b, f, seedConfig(b))
	svcs, slices := benchObjects(n)
	for i := range n {
		feed.service(svcs[i], false)
		feed.slice(slices[i], false)
	}
	return f, feed
}

// BenchmarkFullSync is the first sync of a proxier: compute every Service, read the (empty)
// kernel and program everything.
func BenchmarkFullSync(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				_, feed := feedBench(b, n)
				b.StartTimer()
				if err := feed.p.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOneServiceChange is an ordinary sync after one Service among 10,000 gained or
// lost an endpoint: recompute that Service, diff, and add or remove one real server. A
// removed TCP real server goes through graceful termination, which needs its connection
// counters.
func BenchmarkOneServiceChange(b *testing.B) {
	const n = 10000
	f, feed := feedBench(b, n)
	if err := feed.p.Sync(); err != nil {
		b.Fatal(err)
	}
	sync := func(i int, third bool) {
		name := fmt.Sprintf("svc-%05d", i)
		s := benchSlice(name, i, 0)
		if third {
			s.Endpoints = append(s.Endpoints, s.Endpoints[1])
			s.Endpoints[2].Addresses = []string{netip.AddrFrom4([4]byte{10, 246, byte(i >> 8), byte(i)}).String()}
		}
		feed.slice(s, false)
		if err := feed.p.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	// Warm up: the first change grows the proxier's maps, which is not what a change costs.
	sync(0, true)
	sync(0, false)
	for _, added := range []bool{true, false} {
		name := "endpoint-removed"
		if added {
			name = "endpoint-added"
		}
		b.Run(name, func(b *testing.B) {
			f.resetCalls()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i = (i + 7919) % n
				if !added {
					b.StopTimer()
					sync(i, true)
					b.StartTimer()
				}
				sync(i, added)
				if added {
					b.StopTimer()
					sync(i, false)
					b.StartTimer()
				}
			}
		})
	}
}
