//go:build lab

package labe2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"testing"

	"github.com/onsi/gomega"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	. "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
)

// Real traffic through the virtual servers the proxier programs: the seed's Service, a
// two-pod Service with rr and one with ClientIP affinity, reached from the node and from a
// pod, by ClusterIP and by NodePort, and a pod reaching itself through its Service.
func TestServiceTrafficInLab(t *testing.T) {
	n := newNode(t)
	nginx := seedObjects(n)
	a := n.pod("backend-a", "10.244.3.10", 8080)
	b := n.pod("backend-b", "10.244.3.11", 8080)
	client := n.pod("client", "10.244.3.20", 0)
	n.create(
		service("backends", "10.96.20.10", 80, 8080, withNodePort(30090)),
		endpointSlice("backends", "abcde", 8080, endpoint{a, ready}, endpoint{b, ready}),
		service("sticky", "10.96.20.11", 80, 8080, withNodePort(30091), withClientIPAffinity(10800)),
		endpointSlice("sticky", "fghij", 8080, endpoint{a, ready}, endpoint{b, ready}),
	)
	n.startProxier("proxier", n.k)
	n.eventually(func(g gomega.Gomega) {
		s := n.state(g)
		for _, vs := range []string{"10.96.20.10:80", nodeIP + ":30090"} {
			g.Expect(s).To(HaveVirtualServer(dataplane.TCP, vs, WithScheduler("rr"), WithRealServerCount(2),
				WithRealServer("10.244.3.10:8080", dataplane.Masq, 1), WithRealServer("10.244.3.11:8080", dataplane.Masq, 1)))
		}
		for _, vs := range []string{"10.96.20.11:80", nodeIP + ":30091"} {
			g.Expect(s).To(HaveVirtualServer(dataplane.TCP, vs, WithScheduler("rr"), WithPersistence(10800), WithRealServerCount(2),
				WithRealServer("10.244.3.10:8080", dataplane.Masq, 1), WithRealServer("10.244.3.11:8080", dataplane.Masq, 1)))
		}
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithRealServer("10.244.3.214:80", dataplane.Masq, 1)))
		g.Expect(s).To(HaveIPSetMember("KUBE-LOOP-BACK", "10.244.3.10,tcp:8080,10.244.3.10"))
	})

	ctx := context.Background()
	clients := []struct {
		from string
		c    *http.Client
	}{
		{"the node", rootClient()},
		{"pod client", pods.HTTPClient(client, askTimeout)},
	}

	t.Run("ClusterIP and NodePort", func(t *testing.T) {
		for _, c := range clients {
			for _, url := range []string{"http://10.106.71.137/", "http://" + hostPort(nodeIP, 30089) + "/"} {
				if got, err := pods.AskName(ctx, c.c, url); err != nil || got != "nginx-test" {
					t.Errorf("GET %s from %s = %q, %v; expected nginx-test", url, c.from, got, err)
				}
			}
		}
	})

	// tenFromEach makes 10 fresh connections from each client to a Service's ClusterIP
	// and NodePort and hands the answers of each client and URL to check.
	tenFromEach := func(t *testing.T, clusterIP string, nodePort uint16, check func(from, url string, answers []string)) {
		for _, c := range clients {
			for _, url := range []string{"http://" + clusterIP + "/", "http://" + hostPort(nodeIP, nodePort) + "/"} {
				answers, err := askMany(ctx, c.c, url, 10)
				if err != nil {
					t.Errorf("from %s: %v", c.from, err)
					continue
				}
				check(c.from, url, answers)
			}
		}
	}

	t.Run("rr alternates over two pods", func(t *testing.T) {
		tenFromEach(t, "10.96.20.10", 30090, func(from, url string, answers []string) {
			if tl := tally(answers); tl["backend-a"] != 5 || tl["backend-b"] != 5 || !alternates(answers) {
				t.Errorf("10 fresh connections from %s to %s reached %s in the order %v; expected rr to alternate, 5 each", from, url, tl, answers)
			}
		})
	})

	t.Run("ClientIP affinity keeps a client on one pod", func(t *testing.T) {
		tenFromEach(t, "10.96.20.11", 30091, func(from, url string, answers []string) {
			if tl := tally(answers); len(tl) != 1 {
				t.Errorf("10 connections from %s to %s (persistent 10800) reached %s; expected one pod for all", from, url, tl)
			}
		})
	})

	t.Run("hairpin: a pod reaches itself through its Service", func(t *testing.T) {
		fromNginx := pods.HTTPClient(nginx, askTimeout)
		for _, url := range []string{"http://10.106.71.137/", "http://" + hostPort(nodeIP, 30089) + "/"} {
			if got, err := pods.AskName(ctx, fromNginx, url); err != nil || got != "nginx-test" {
				t.Errorf("GET %s from nginx-test itself = %q, %v; expected nginx-test (KUBE-LOOP-BACK masquerade)", url, got, err)
			}
		}
		// backend-a through rr: half of its connections come back to itself.
		answers, err := askMany(ctx, pods.HTTPClient(a, askTimeout), "http://10.96.20.10/", 4)
		if err != nil {
			t.Fatalf("from backend-a: %v", err)
		}
		if !slices.Contains(answers, "backend-a") || !slices.Contains(answers, "backend-b") {
			t.Errorf("4 connections from backend-a to its own Service reached %v; expected both pods, itself included", answers)
		}
	})
}

// A pod that starts terminating keeps the connections it has (its real server drops to
// weight 0 while they last) and gets no new ones.
func TestTerminatingEndpointInLab(t *testing.T) {
	n := newNode(t)
	a := n.pod("backend-a", "10.244.3.10", 8080)
	b := n.pod("backend-b", "10.244.3.11", 8080)
	client := n.pod("client", "10.244.3.20", 0)
	byName := map[string]*pods.Pod{a.Name(): a, b.Name(): b}
	n.create(
		service("drain", "10.96.30.10", 80, 8080),
		endpointSlice("drain", "klmno", 8080, endpoint{a, ready}, endpoint{b, ready}),
	)
	n.startProxier("proxier", n.k)
	n.eventually(func(g gomega.Gomega) {
		g.Expect(n.state(g)).To(HaveVirtualServer(dataplane.TCP, "10.96.30.10:80", WithRealServerCount(2),
			WithRealServer("10.244.3.10:8080", dataplane.Masq, 1), WithRealServer("10.244.3.11:8080", dataplane.Masq, 1)))
	})

	session, first := openSession(t, client, "10.96.30.10:80")
	leaving := byName[first]
	staying := a
	if leaving == a {
		staying = b
	}
	leavingRS := hostPort(leaving.IP(4).String(), 8080)
	stayingRS := hostPort(staying.IP(4).String(), 8080)
	t.Logf("the session %s -> %s reached %s, which now starts terminating", session.LocalAddr(), session.RemoteAddr(), leaving.Name())

	// The EndpointSlice controller's view of a pod being deleted: not ready, terminating,
	// still serving.
	n.updateSlice(endpointSlice("drain", "klmno", 8080, endpoint{leaving, terminating}, endpoint{staying, ready}))
	n.eventually(func(g gomega.Gomega) {
		s := n.state(g)
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, "10.96.30.10:80", WithRealServerCount(2),
			WithRealServer(leavingRS, dataplane.Masq, 0), WithRealServer(stayingRS, dataplane.Masq, 1)))
		rs, _ := realServer(s, dataplane.TCP, "10.96.30.10:80", leavingRS)
		g.Expect(rs.ActiveConns).To(gomega.BeNumerically(">=", 1), "the terminating real server's active connections (the session)")
	})

	for i := range 3 {
		if got, err := session.AskName(askTimeout); err != nil || got != leaving.Name() {
			t.Fatalf("request %d on the open connection after %s started terminating = %q, %v; expected it to keep answering",
				i+1, leaving.Name(), got, err)
		}
	}
	for _, c := range []struct {
		from string
		c    *http.Client
	}{{"the node", rootClient()}, {"pod client", pods.HTTPClient(client, askTimeout)}} {
		answers, err := askMany(context.Background(), c.c, "http://10.96.30.10/", 6)
		if err != nil {
			t.Fatalf("from %s: %v", c.from, err)
		}
		if tl := tally(answers); tl[staying.Name()] != 6 {
			t.Errorf("6 new connections from %s reached %s; expected all on %s while %s terminates", c.from, tl, staying.Name(), leaving.Name())
		}
	}
}

// openSession opens a connection from client to address, closed when the test ends, and
// returns it with the name of the pod that answered its first request.
func openSession(t *testing.T, client pods.Dialer, address string) (*pods.Session, string) {
	t.Helper()
	session, err := pods.OpenSession(context.Background(), client, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { session.Close() })
	name, err := session.AskName(askTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return session, name
}

// rootClient sends requests from the node itself, a fresh connection each.
func rootClient() *http.Client { return pods.HTTPClient(&net.Dialer{}, askTimeout) }

// askMany sends n requests, each on a fresh connection, and returns who answered, in order.
func askMany(ctx context.Context, c *http.Client, url string, n int) ([]string, error) {
	answers := make([]string, 0, n)
	for i := range n {
		name, err := pods.AskName(ctx, c, url)
		if err != nil {
			return answers, fmt.Errorf("request %d of %d to %s: %w", i+1, n, url, err)
		}
		answers = append(answers, name)
	}
	return answers, nil
}

// tally counts answers by name.
func tally(answers []string) pods.Tally {
	t := pods.Tally{}
	for _, a := range answers {
		t[a]++
	}
	return t
}

// alternates tells whether no two answers in a row came from the same pod, which is what
// rr does with fresh connections from one client and nothing else on the virtual server.
func alternates(answers []string) bool {
	for i := 1; i < len(answers); i++ {
		if answers[i] == answers[i-1] {
			return false
		}
	}
	return true
}

// realServer finds a real server ("10.244.3.10:8080") of a virtual server ("10.96.0.1:80").
func realServer(s dataplane.State, proto dataplane.Protocol, vs, rs string) (dataplane.RealServer, bool) {
	ap := netip.MustParseAddrPort(vs)
	v, ok := s.IPVS.Service(dataplane.ServiceKey{Protocol: proto, Address: ap.Addr(), Port: ap.Port()})
	if !ok {
		return dataplane.RealServer{}, false
	}
	return v.RealServer(netip.MustParseAddrPort(rs))
}
