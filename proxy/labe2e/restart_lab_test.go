//go:build lab

package labe2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/gomega"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	. "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
	"github.com/ipvs-e2e/ipvs-e2e/proxy"
)

// A proxier started over the state its predecessor left (the same kernel, the same API
// objects) adopts it: no changing kernel call at all, the same state read back, IPVS's
// connection entries and an open connection untouched; and it goes on applying changes.
func TestRestartAdoptsInLab(t *testing.T) {
	n := newNode(t)
	seedObjects(n)
	a := n.pod("backend-a", "10.244.3.10", 8080)
	b := n.pod("backend-b", "10.244.3.11", 8080)
	client := n.pod("client", "10.244.3.20", 0)
	byName := map[string]*pods.Pod{a.Name(): a, b.Name(): b}
	n.create(
		service("backends", "10.96.20.10", 80, 8080, withNodePort(30090)),
		endpointSlice("backends", "abcde", 8080, endpoint{a, ready}, endpoint{b, ready}),
		service("sticky", "10.96.20.11", 80, 8080, withClientIPAffinity(10800)),
		endpointSlice("sticky", "fghij", 8080, endpoint{a, ready}, endpoint{b, ready}),
	)
	first := n.startProxier("first proxier", n.k)
	n.eventually(func(g gomega.Gomega) {
		s := n.state(g)
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, "10.96.20.10:80", WithRealServerCount(2)))
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, nodeIP+":30090", WithRealServerCount(2)))
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, "10.96.20.11:80", WithPersistence(10800), WithRealServerCount(2)))
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithRealServerCount(1)))
	})

	// Traffic through the first proxier's virtual servers: an open connection, and a
	// persistence template for the node's client address.
	ctx := context.Background()
	session, sessionPod := openSession(t, client, "10.96.20.10:80")
	sticky, err := askMany(ctx, rootClient(), "http://10.96.20.11/", 3)
	if err != nil || len(tally(sticky)) != 1 {
		t.Fatalf("the sticky Service answered %v, %v; expected one pod", sticky, err)
	}
	sessionEntry := func() (ipvsConn, bool) {
		t.Helper()
		conns := ipvsConns(t)
		i := slices.IndexFunc(conns, func(c ipvsConn) bool {
			return c.Protocol == "TCP" && c.Client.String() == session.LocalAddr().String()
		})
		if i < 0 {
			return ipvsConn{}, false
		}
		return conns[i], true
	}
	entry, ok := sessionEntry()
	if !ok || entry.State != "ESTABLISHED" || entry.Real.Addr() != byName[sessionPod].IP(4) {
		t.Fatalf("IPVS's entry for the session %s: %+v (found %v); expected ESTABLISHED to %s", session.LocalAddr(), entry, ok, sessionPod)
	}

	before, err := n.read()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}

	// The restart, as the binary does it: Setup, then a new proxier, over a kernel that
	// records every changing call. Setup's only change is kube-proxy's scheduler probe, a
	// virtual server made and deleted at once; the sysctls are already set.
	recorded, changes := recordChanges(n.k)
	if err := proxy.Setup(recorded, proxy.SetupOptionsFrom(n.cfg)); err != nil {
		t.Fatal(err)
	}
	probe := []string{"ipvs AddService TCP 198.51.100.0:20000", "ipvs DeleteService TCP 198.51.100.0:20000"}
	if got := changes.Calls(); !slices.Equal(got, probe) {
		t.Errorf("Setup at the restart made the calls\n%s\nexpected only the scheduler probe\n%s", changes, strings.Join(probe, "\n"))
	}
	mark := len(changes.Calls())
	second := n.startProxier("second proxier", recorded)
	n.eventually(func(g gomega.Gomega) {
		g.Expect(second.synced()).To(gomega.BeTrue(), "the second proxier's first sync")
	})
	if calls := changes.Since(mark); len(calls) > 0 {
		t.Errorf("the restarted proxier changed the kernel %d times; expected it to adopt the state as it was:\n%s", len(calls), strings.Join(calls, "\n"))
	}
	after, err := n.read()
	if err != nil {
		t.Fatal(err)
	}
	if d := dataplane.Diff(withoutCounters(before), withoutCounters(after)); len(d) > 0 {
		t.Errorf("the kernel changed across the restart (- before, + after):\n%s", d)
	}
	if again, ok := sessionEntry(); !ok || again.Real != entry.Real || again.Virtual != entry.Virtual || again.State != "ESTABLISHED" {
		t.Errorf("IPVS's entry for the session after the restart: %+v (found %v); expected it kept: %+v", again, ok, entry)
	}
	for i := range 3 {
		if got, err := session.AskName(askTimeout); err != nil || got != sessionPod {
			t.Fatalf("request %d on the connection opened before the restart = %q, %v; expected %s to keep answering", i+1, got, err, sessionPod)
		}
	}
	if again, err := askMany(ctx, rootClient(), "http://10.96.20.11/", 3); err != nil || len(tally(append(again, sticky...))) != 1 {
		t.Errorf("the sticky Service answered %v before the restart and %v (%v) after; expected one pod throughout", sticky, again, err)
	}

	// The second proxier is live: the pod the session does not use leaves the Service, and
	// exactly its two real servers (ClusterIP and NodePort) go, at once (no connections).
	other := a
	if sessionPod == a.Name() {
		other = b
	}
	rs := hostPort(other.IP(4).String(), 8080)
	n.updateSlice(endpointSlice("backends", "abcde", 8080, endpoint{byName[sessionPod], ready}))
	n.eventually(func(g gomega.Gomega) {
		s := n.state(g)
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, "10.96.20.10:80", WithRealServerCount(1)))
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, nodeIP+":30090", WithRealServerCount(1)))
	})
	want := []string{
		"ipvs DeleteRealServer TCP 10.96.20.10:80 -> " + rs,
		"ipvs DeleteRealServer TCP " + nodeIP + ":30090 -> " + rs,
	}
	got := changes.Since(mark)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after %s left the Service, the second proxier made the calls\n%s\nexpected exactly\n%s", other.Name(), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, err := session.AskName(askTimeout); err != nil || got != sessionPod {
		t.Errorf("the session after the change = %q, %v; expected %s", got, err, sessionPod)
	}
}

// withoutCounters drops what traffic changes (IPVS connection counters) from a state, so
// that two reads compare by configuration.
func withoutCounters(s dataplane.State) dataplane.State {
	out := s
	out.IPVS.Services = slices.Clone(s.IPVS.Services)
	for i := range out.IPVS.Services {
		rss := slices.Clone(out.IPVS.Services[i].RealServers)
		for j := range rss {
			rss[j].ActiveConns, rss[j].InactiveConns = 0, 0
		}
		out.IPVS.Services[i].RealServers = rss
	}
	return out
}

// ipvsConns reads IPVS's connection table.
func ipvsConns(t *testing.T) []ipvsConn {
	t.Helper()
	// The calling thread's view: /proc/net follows the process's main thread, whichever
	// namespace that is in.
	data, err := os.ReadFile("/proc/thread-self/net/ip_vs_conn")
	if err != nil {
		t.Fatal(err)
	}
	conns, err := parseIPVSConns(string(data))
	if err != nil {
		t.Fatal(err)
	}
	return conns
}
