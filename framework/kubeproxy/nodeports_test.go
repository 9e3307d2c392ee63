package kubeproxy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

func TestNodePortAddresses(t *testing.T) {
	links, err := dataplane.ParseIPAddrJSON([]byte(fixture.ReadRepo(t, "framework/node/testdata/ip-j-addr.json")))
	if err != nil {
		t.Fatal(err)
	}
	st := dataplane.State{Links: links}
	// A kind worker: eth0 and the pod veth's gateway address, not lo nor kube-ipvs0's ClusterIPs.
	if got := fmt.Sprint(NodePortAddresses(st, false)); got != "[10.244.1.1 172.18.0.3]" {
		t.Errorf("IPv4 = %s", got)
	}
	// IPv6: the global address only, no ::1, no fe80::.
	if got := fmt.Sprint(NodePortAddresses(st, true)); got != "[fc00:f853:ccd:e793::3]" {
		t.Errorf("IPv6 = %s", got)
	}
	dup := dataplane.State{Links: []dataplane.Link{
		{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.15/24")}},
		{Name: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.15/32")}},
	}}
	if got := NodePortAddresses(dup, false); len(got) != 1 {
		t.Errorf("duplicates kept: %v", got)
	}
}
