package labe2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
)

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
