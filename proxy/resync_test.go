package proxy

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
)

// gatedKernel holds a full sync's kernel read until the test lets it go: before it reads
// anything (its first read is the links) or, with readFirst, once it has read everything
// (its last read is the IPVS table, the slow part at scale).
type gatedKernel struct {
	mu   sync.Mutex
	gate *readGate
}

type readGate struct {
	readFirst bool
	reached   chan struct{} // closed when the read is held
	release   chan struct{} // closed by the test to let it go on
}

// arm makes the next read wait for release.
func (g *gatedKernel) arm(readFirst bool) *readGate {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = &readGate{readFirst: readFirst, reached: make(chan struct{}), release: make(chan struct{})}
	return g.gate
}

// hold waits at the armed gate if this is the read it is for, then disarms it.
func (g *gatedKernel) hold(last bool) {
	g.mu.Lock()
	gate := g.gate
	if gate == nil || gate.readFirst != last {
		g.mu.Unlock()
		return
	}
	g.gate = nil
	g.mu.Unlock()
	close(gate.reached)
	<-gate.release
}

type gatedLinks struct {
	netif.Interface
	g *gatedKernel
}

func (l gatedLinks) Links() ([]dataplane.Link, error) {
	l.g.hold(false)
	return l.Interface.Links()
}

type gatedIPVS struct {
	ipvs.Interface
	g *gatedKernel
}

func (v gatedIPVS) Services() ([]dataplane.VirtualServer, error) {
	vss, err := v.Interface.Services()
	v.g.hold(true)
	return vss, err
}

// newGatedFeed is a proxier whose full syncs read IPVS through a gate; f itself reads the
// fakes directly.
func newGatedFeed(t *testing.T, f *fakes) (*directFeed, *gatedKernel) {
	t.Helper()
	g := &gatedKernel{}
	k := *f.k
	k.IPVS = gatedIPVS{Interface: f.ipvs, g: g}
	k.Links = gatedLinks{Interface: f.links, g: g}
	gated := *f
	gated.k = &k
	return newDirectFeed(t, &gated, seedConfig(t)), g
}

// startPeriodicResync makes the next sync the one a syncPeriod after the last full sync,
// runs it, and returns the background read it started.
func startPeriodicResync(t *testing.T, feed *directFeed) *backgroundRead {
	t.Helper()
	feed.p.lastFull = time.Now().Add(-feed.p.cfg.IPVS.SyncPeriod)
	if err := feed.p.Sync(); err != nil {
		t.Fatalf("the sync that starts the periodic resync: %v", err)
	}
	if feed.p.bgRead == nil {
		t.Fatal("the periodic full sync did not start its kernel read in the background")
	}
	return feed.p.bgRead
}

// syncBeside runs a sync while the test holds the background read, and fails if it does
// not return: it must not wait for the read. (The bound only keeps a regression from
// hanging the test; nothing is timed.)
func syncBeside(t *testing.T, feed *directFeed) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- feed.p.Sync() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sync during the resync's read: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a sync waited for the periodic full sync's kernel read")
	}
}

// referenceState is what a fresh proxier's full sync programs for the objects, with the
// given drift made after it.
func referenceState(t *testing.T, feedAll func(*directFeed), drift ...func(*testing.T, *fakes)) dataplane.State {
	t.Helper()
	ref := newFakes(t)
	feed := newDirectFeed(t, ref, seedConfig(t))
	feedAll(feed)
	if err := feed.p.Sync(); err != nil {
		t.Fatalf("reference sync: %v", err)
	}
	for _, d := range drift {
		d(t, ref)
	}
	return ref.state(t)
}

// A periodic full sync reads the kernel beside the partial syncs: changes made during its
// read are programmed at once, the read's stale view of them undoes none of them, and drift
// made behind the proxier's back is repaired by this full sync when the read saw it, by the
// next one otherwise.
func TestPeriodicResyncDoesNotHoldChanges(t *testing.T) {
	web := dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.100.10"), Port: 80}
	dns := dataplane.ServiceKey{Protocol: dataplane.UDP, Address: netip.MustParseAddr("10.96.0.10"), Port: 53}
	old := dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.100.20"), Port: 80}
	fresh := dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.100.30"), Port: 80}
	stable := dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.100.40"), Port: 443}
	stableRS := netip.MustParseAddrPort("10.244.1.9:8443")
	setName := "KUBE-CLUSTER-IP"
	stableMember := dataplane.Member{IP: stable.Address, Proto: "tcp", Port: stable.Port}

	type drift struct {
		name string
		make func(t *testing.T, f *fakes)
	}
	drifts := []drift{
		{"virtual server deleted", func(t *testing.T, f *fakes) {
			if err := f.ipvs.DeleteService(stable); err != nil {
				t.Fatal(err)
			}
		}},
		{"real server deleted", func(t *testing.T, f *fakes) {
			if err := f.ipvs.DeleteRealServer(stable, stableRS); err != nil {
				t.Fatal(err)
			}
		}},
		{"address deleted", func(t *testing.T, f *fakes) {
			if err := f.links.DeleteAddress(dataplane.KubeIPVSInterface, netip.MustParsePrefix("10.96.100.40/32")); err != nil {
				t.Fatal(err)
			}
		}},
		{"set member deleted", func(t *testing.T, f *fakes) {
			if err := f.ipsets.Del(setName, stableMember); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, d := range drifts {
		for _, readFirst := range []bool{false, true} {
			name := d.name + " before the read"
			if readFirst {
				name = d.name + " after the read"
			}
			t.Run(name, func(t *testing.T) {
				f := newFakes(t)
				feed, gate := newGatedFeed(t, f)
				objs := map[string]func(*directFeed){}
				set := func(key string, apply func(*directFeed)) { objs[key] = apply; apply(feed) }
				unset := func(key string, apply func(*directFeed)) { delete(objs, key); apply(feed) }
				feedAll := func(fd *directFeed) {
					for _, k := range slices.Sorted(func(yield func(string) bool) {
						for k := range objs {
							if !yield(k) {
								return
							}
						}
					}) {
						objs[k](fd)
					}
				}
				svc := func(name, ip string, port int32, opts ...func(*corev1.Service)) func(*directFeed) {
					s := svcObj(name, ip, port, opts...)
					return func(fd *directFeed) { fd.service(s, false) }
				}
				slice := func(name string, port int32, proto corev1.Protocol, eps ...endpointObj) func(*directFeed) {
					s := sliceObj(name, "a", port, proto, eps...)
					return func(fd *directFeed) { fd.slice(s, false) }
				}
				set("svc/web", svc("web", "10.96.100.10", 80))
				set("slice/web", slice("web", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2")))
				set("svc/dns", svc("dns", "10.96.0.10", 53, withProtocol(corev1.ProtocolUDP)))
				set("slice/dns", slice("dns", 53, corev1.ProtocolUDP, ready("10.244.1.2", "node2"), ready("10.244.2.3", "node3")))
				set("svc/old", svc("old", "10.96.100.20", 80))
				set("slice/old", slice("old", 8080, corev1.ProtocolTCP, ready("10.244.1.7", "node2")))
				set("svc/stable", svc("stable", "10.96.100.40", 443))
				set("slice/stable", slice("stable", 8443, corev1.ProtocolTCP, ready("10.244.1.9", "node2")))
				if err := feed.p.Sync(); err != nil {
					t.Fatal(err)
				}

				g := gate.arm(readFirst)
				bg := startPeriodicResync(t, feed)
				<-g.reached

				// Changes during the read: an endpoint added and one removed, a Service
				// added and one deleted, and drift on an object no change touches.
				set("slice/web", slice("web", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2"), ready("10.244.2.6", "node3")))
				set("slice/dns", slice("dns", 53, corev1.ProtocolUDP, ready("10.244.1.2", "node2")))
				set("svc/fresh", svc("fresh", "10.96.100.30", 80))
				set("slice/fresh", slice("fresh", 8080, corev1.ProtocolTCP, ready("10.244.1.8", "node2")))
				oldSvc := svcObj("old", "10.96.100.20", 80)
				unset("svc/old", func(fd *directFeed) { fd.service(oldSvc, true) })
				d.make(t, f)
				syncBeside(t, feed)

				// (1) Programmed while the read is still held.
				if bg.finished() {
					t.Fatal("the background read finished while the test held it")
				}
				state := f.state(t)
				for _, c := range []struct {
					key  dataplane.ServiceKey
					want []string // nil: no such virtual server
				}{
					{web, []string{"10.244.1.5:8080=1", "10.244.2.6:8080=1"}},
					{dns, []string{"10.244.1.2:53=1"}},
					{fresh, []string{"10.244.1.8:8080=1"}},
					{old, nil},
				} {
					vs, ok := state.IPVS.Service(c.key)
					if c.want == nil {
						if ok {
							t.Errorf("%s still programmed during the resync's read, want it deleted", c.key)
						}
						continue
					}
					if !ok {
						t.Errorf("%s not programmed during the resync's read", c.key)
						continue
					}
					var got []string
					for _, rs := range vs.RealServers {
						got = append(got, rs.Key().String()+"="+strconv.Itoa(rs.Weight))
					}
					slices.Sort(got)
					if !slices.Equal(got, c.want) {
						t.Errorf("%s real servers during the resync's read = %v, want %v", c.key, got, c.want)
					}
				}

				close(g.release)
				<-bg.done
				f.resetCalls()
				if err := feed.p.Sync(); err != nil {
					t.Fatalf("the sync that finishes the resync: %v", err)
				}
				if feed.p.bgRead != nil || !feed.p.lastFull.Equal(bg.started) {
					t.Fatalf("the resync did not finish: bgRead %v, lastFull %v, read started %v", feed.p.bgRead, feed.p.lastFull, bg.started)
				}
				want := referenceState(t, feedAll)
				diff := sameDataplane(want, f.state(t))
				if !readFirst {
					// (2) The read saw the drift: this full sync repaired it, and (3) it
					// made no call for the changes the read predates.
					if diff != "" {
						t.Fatalf("after the resync the kernel differs from a sync from scratch:\n%s", diff)
					}
					for _, c := range f.calls() {
						if containsAny(c, "10.96.100.10", "10.96.0.10", "10.96.100.20", "10.96.100.30") {
							t.Errorf("the resync changed an object the partial sync had programmed: %s", c)
						}
					}
					return
				}
				// The read predates the drift: the resync took the kernel as the read saw
				// it, and undid no change: the kernel is the reference with the drift.
				if diff == "" {
					t.Fatal("the drift after the read was repaired without a read that saw it: the test does not exercise a stale read")
				}
				if d := sameDataplane(referenceState(t, feedAll, d.make), f.state(t)); d != "" {
					t.Fatalf("after the resync with a stale read the kernel is not the reference with the drift alone:\n%s", d)
				}
				// (2) The next period's full sync repairs it.
				bg = startPeriodicResync(t, feed)
				<-bg.done
				if err := feed.p.Sync(); err != nil {
					t.Fatalf("the next resync: %v", err)
				}
				if d := sameDataplane(want, f.state(t)); d != "" {
					t.Fatalf("the next resync left the drift:\n%s", d)
				}
			})
		}
	}
}

// A sync that fails during the background read drops it: the next sync is a full one
// that reads the kernel itself, as after any failure.
func TestPeriodicResyncAfterFailureReadsAgain(t *testing.T) {
	f := newFakes(t)
	feed, gate := newGatedFeed(t, f)
	feed.service(svcObj("web", "10.96.100.10", 80), false)
	feed.slice(sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2")), false)
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	g := gate.arm(false)
	startPeriodicResync(t, feed)
	<-g.reached
	defer close(g.release)

	web := sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.5", "node2"), ready("10.244.2.6", "node3"))
	feed.slice(web, false)
	f.ipvs.FailNext("AddRealServer", errInjected)
	if err := feed.p.Sync(); err == nil {
		t.Fatal("the sync with a failing kernel call succeeded")
	}
	if feed.p.bgRead != nil {
		t.Fatal("the background read is still kept after a failed sync")
	}
	// The held read is not waited for: the full sync reads through the (disarmed) gate.
	syncBeside(t, feed)
	if got := vsWeights(t, f, dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.100.10"), Port: 80}); !slices.Equal(got, []string{"10.244.1.5:8080=1", "10.244.2.6:8080=1"}) {
		t.Errorf("real servers after the full sync = %v, want both endpoints", got)
	}
}

// TestPeriodicResyncIncrementalEqualsFromScratch is the proxier's property test with the
// periodic full sync's read held open across a random number of random changes: after
// the sync that finishes each resync, the kernel holds what a sync from scratch programs.
func TestPeriodicResyncIncrementalEqualsFromScratch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	f := newFakes(t)
	feed, gate := newGatedFeed(t, f)
	world := newRandomWorld()
	world.mutate(rng, feed)
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	for round := range 40 {
		g := gate.arm(rng.IntN(2) == 0)
		bg := startPeriodicResync(t, feed)
		<-g.reached
		for range rng.IntN(6) {
			world.mutate(rng, feed)
			syncBeside(t, feed)
		}
		close(g.release)
		<-bg.done
		if rng.IntN(2) == 0 {
			world.mutate(rng, feed) // a change in the sync that finishes the resync
		}
		if err := feed.p.Sync(); err != nil {
			t.Fatalf("round %d (%s): %v", round, world.last, err)
		}
		if feed.p.bgRead != nil {
			t.Fatalf("round %d: the resync did not finish", round)
		}
		if d := sameDataplane(referenceState(t, world.feedAll), f.state(t)); d != "" {
			t.Fatalf("round %d (%s): after the resync the kernel differs from a sync from scratch:\n%s", round, world.last, d)
		}
	}
	if got := metricValue(t, feed.p.Metrics(), "kubeproxy_sync_full_proxy_rules_duration_seconds"); got != 41 {
		t.Errorf("full sync durations observed = %v, want 41 (the first sync and one per resync)", got)
	}
}

// containsAny tells whether s mentions any of the addresses.
func containsAny(s string, addrs ...string) bool {
	return slices.ContainsFunc(addrs, func(a string) bool { return strings.Contains(s, a) })
}
