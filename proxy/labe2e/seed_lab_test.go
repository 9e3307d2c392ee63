//go:build lab

package labe2e

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/gomega"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	. "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// The seed's NodePort rule, as `iptables -t nat -S KUBE-NODE-PORT` prints it (section 4.1).
const seedNodePortRule = `-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`

// seedObjects are the seed's nginx Pod (a pod namespace serving HTTP on :80), Service
// service-test1 and the EndpointSlice the controller would write for them.
func seedObjects(n *node) *pods.Pod {
	nginx := n.pod("nginx-test", "10.244.3.214", 80)
	n.create(
		service("service-test1", "10.106.71.137", 80, 80, withNodePort(30089)),
		endpointSlice("service-test1", "x7k2p", 80, endpoint{nginx, ready}),
	)
	return nginx
}

// The seed tutorial's section 4.1 on a real kernel: its Service and Pod in the API, the
// real proxier programming the guest's IPVS, kube-ipvs0, ip sets and iptables; the table
// Debian's ipvsadm prints is the seed's, byte for byte, and real requests reach nginx.
func TestSeedServiceInLab(t *testing.T) {
	n := newNode(t)
	seedObjects(n)
	p := n.startProxier("proxier", n.k)

	n.eventually(func(g gomega.Gomega) {
		s := n.state(g)
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithScheduler("rr"),
			WithRealServer("10.244.3.214:80", dataplane.Masq, 1), WithRealServerCount(1)))
		g.Expect(s).To(HaveVirtualServer(dataplane.TCP, nodeIP+":30089", WithScheduler("rr"),
			WithRealServer("10.244.3.214:80", dataplane.Masq, 1), WithRealServerCount(1)))
		g.Expect(s).To(HaveAddressOn(dataplane.KubeIPVSInterface, "10.106.71.137"))
		g.Expect(s).To(HaveIPSetMember("KUBE-CLUSTER-IP", "10.106.71.137,tcp:80"))
		g.Expect(s).To(HaveIPSetMember("KUBE-NODE-PORT-TCP", "30089"))
		g.Expect(s).To(HaveIPSetMember("KUBE-LOOP-BACK", "10.244.3.214,tcp:80,10.244.3.214"))
		g.Expect(s).To(HaveRule("nat", "KUBE-NODE-PORT", seedNodePortRule))
		g.Expect(s).To(HaveAtMostRules("nat", "", 20))
		g.Expect(s).To(HaveNoChainWithPrefix("nat", "KUBE-SVC-"))
		g.Expect(s).To(HaveNoChainWithPrefix("nat", "KUBE-SEP-"))
		g.Expect(p.synced()).To(gomega.BeTrue(), "the proxier reports a successful sync")
	})

	// Debian's own tools, as a person on the node would look. ipvsadm lists the table in
	// libipvs' order and pads the counter columns; the seed's text has neither, so it is
	// compared twice: its block for the ClusterIP line by line (trailing blanks aside), and
	// the whole table as the project's formatter says ipvsadm prints the seed's table.
	seed := fixture.Read(t, "seed-ipvsadm-Ln.txt")
	got := run(t, "ipvsadm", "-Ln")
	wantBlock := []string{"TCP  10.106.71.137:80 rr", "  -> 10.244.3.214:80              Masq    1      0          0"}
	if block := ipvsadmBlock(got, wantBlock[0]); !slices.Equal(block, wantBlock) {
		t.Errorf("ipvsadm -Ln: the ClusterIP's block is\n%s\nexpected the seed's\n%s\nwhole table:\n%s",
			strings.Join(block, "\n"), strings.Join(wantBlock, "\n"), got)
	}
	seedTable, err := dataplane.ParseIPVSAdm(seed)
	if err != nil {
		t.Fatal(err)
	}
	dataplane.SortIPVSAdm(&seedTable)
	if want := dataplane.FormatIPVSAdm(seedTable, true); got != want {
		t.Errorf("ipvsadm -Ln differs from the seed's table in ipvsadm's order and layout\n--- expected\n%s--- guest\n%s", want, got)
	}
	if got := run(t, "iptables", "-t", "nat", "-S", "KUBE-NODE-PORT"); !containsLine(got, seedNodePortRule) {
		t.Errorf("iptables -t nat -S KUBE-NODE-PORT lacks the seed's rule\n%s\ngot:\n%s", seedNodePortRule, got)
	}
	if got := run(t, "ip", "addr", "show", "kube-ipvs0"); !strings.Contains(got, "inet 10.106.71.137/32 scope global kube-ipvs0") {
		t.Errorf("ip addr show kube-ipvs0 lacks the ClusterIP as /32:\n%s", got)
	}

	// curl from the node, to the ClusterIP and to the NodePort.
	ctx := context.Background()
	c := rootClient()
	for _, url := range []string{"http://10.106.71.137/", "http://" + hostPort(nodeIP, 30089) + "/"} {
		if got, err := pods.AskName(ctx, c, url); err != nil || got != "nginx-test" {
			t.Errorf("GET %s from the node = %q, %v; expected nginx-test to answer", url, got, err)
		}
	}
}

// containsLine tells whether text has line as one of its lines, exactly.
func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}
