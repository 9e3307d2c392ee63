package node

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// kindWorker scripts a kind worker in ipvs mode with ipvsdump installed and ipset present.
func kindWorker(t *testing.T) *Fake {
	return NewFake("ipvs-e2e-worker").
		Stdout(ipvsdumpIPVS, fixture.Read(t, "ipvsdump-state.json")).
		Stdout("ip -j addr show", fixture.Read(t, "ip-j-addr.json")).
		Stdout("ipset save", fixture.Read(t, "ipset-save.txt")).
		Stdout("iptables-save", fixture.Read(t, "iptables-save.txt"))
}

const ipvsdumpIPVS = DefaultIPVSDumpPath + " -o state --links=false --ipsets=false --iptables=false"

const seedNodePortRule = `-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`

func TestReadStateKindNodeWithIPVSDump(t *testing.T) {
	st, err := ReadState(context.Background(), kindWorker(t), ReadOptions{})
	if err != nil {
		t.Fatalf("ReadState: %v", err)
	}
	if st.Node != "ipvs-e2e-worker" {
		t.Errorf("Node = %q, want ipvs-e2e-worker", st.Node)
	}

	key := dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.71.137"), Port: 80}
	vs, ok := st.IPVS.Service(key)
	if !ok {
		t.Fatalf("no virtual server %s in %+v", key, st.IPVS.Services)
	}
	want := dataplane.RealServer{Address: netip.MustParseAddr("10.244.1.2"), Port: 80, Forward: dataplane.Masq, Weight: 1}
	if vs.Scheduler != "rr" || len(vs.RealServers) != 1 || !vs.RealServers[0].SameConfig(want) {
		t.Errorf("virtual server %s = %+v, want rr with %+v", key, vs, want)
	}
	if st.IPVS.Timeouts != (dataplane.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}) {
		t.Errorf("timeouts = %+v", st.IPVS.Timeouts)
	}
	// Sorted: ServiceKey order puts TCP before UDP.
	if got := st.IPVS.Services[len(st.IPVS.Services)-1].Protocol; got != dataplane.UDP {
		t.Errorf("services not sorted: last protocol %s", got)
	}

	l, ok := st.Link(dataplane.KubeIPVSInterface)
	if !ok || !l.HasAddr(netip.MustParseAddr("10.96.71.137")) {
		t.Errorf("kube-ipvs0 = %+v (found %v), want 10.96.71.137 on it; links came from ip -j addr, not ipvsdump", l, ok)
	}
	if eth0, ok := st.Link("eth0"); !ok || !eth0.HasAddr(netip.MustParseAddr("172.18.0.3")) {
		t.Errorf("eth0 = %+v, want 172.18.0.3", eth0)
	}

	set, ok := st.IPSet("KUBE-NODE-PORT-TCP")
	if !ok || !set.HasMember("30089") {
		t.Errorf("KUBE-NODE-PORT-TCP = %+v, want member 30089", set)
	}
	if set, _ := st.IPSet("KUBE-CLUSTER-IP"); !set.HasMember("10.96.71.137,tcp:80") {
		t.Errorf("KUBE-CLUSTER-IP = %+v, want 10.96.71.137,tcp:80", set)
	}

	rules := st.IPTables.Rules("nat", "KUBE-NODE-PORT")
	if len(rules) != 1 || rules[0].Spec != seedNodePortRule {
		t.Errorf("nat KUBE-NODE-PORT = %+v, want the seed's rule %s", rules, seedNodePortRule)
	}
	if got := st.IPTables.ChainsWithPrefix("nat", "KUBE-SVC-"); len(got) != 0 {
		t.Errorf("KUBE-SVC- chains in ipvs mode: %v", got)
	}
}

func TestReadStateFallsBackToIPVSAdmAndBusyboxIP(t *testing.T) {
	n := NewFake("lab-node").
		Stdout("ipvsadm -Ln", fixture.Read(t, "ipvsadm-Ln.txt")).
		Script("ip -j addr show", Response{Stderr: "ip: invalid option -- 'j'\n", ExitCode: 1}).
		Stdout("ip addr show", fixture.Read(t, "ip-addr.txt")).
		Stdout("ipset save", fixture.Read(t, "ipset-save.txt")).
		Stdout("iptables-save", fixture.Read(t, "iptables-save.txt"))

	st, err := ReadState(context.Background(), n, ReadOptions{})
	if err != nil {
		t.Fatalf("ReadState: %v", err)
	}
	if len(st.IPVS.Services) != 7 {
		t.Errorf("read %d virtual servers from ipvsadm -Ln, want 7", len(st.IPVS.Services))
	}
	if l, ok := st.Link(dataplane.KubeIPVSInterface); !ok || !l.HasAddr(netip.MustParseAddr("10.96.100.10")) {
		t.Errorf("kube-ipvs0 from busybox ip = %+v", l)
	}
	// ipvsdump was tried first, then ipvsadm.
	calls := strings.Join(n.CallLines(), "\n")
	if !strings.Contains(calls, ipvsdumpIPVS+"\nipvsadm -Ln") {
		t.Errorf("calls:\n%s\nwant ipvsdump tried before ipvsadm", calls)
	}
}

// podIPSet stands in for the kubeproxy package's source that runs ipset in the kube-proxy pod.
type podIPSet struct {
	out   string
	nodes []string
}

func (p *podIPSet) IPSetSave(_ context.Context, n Node) ([]byte, error) {
	p.nodes = append(p.nodes, n.Name())
	return []byte(p.out), nil
}

func TestReadStateIPSetSourceIsPluggable(t *testing.T) {
	// The kind node image has no ipset: the node's own attempt fails like a missing binary.
	n := NewFake("ipvs-e2e-worker").
		Stdout(ipvsdumpIPVS, fixture.Read(t, "ipvsdump-state.json")).
		Stdout("ip -j addr show", fixture.Read(t, "ip-j-addr.json")).
		Stdout("iptables-save", fixture.Read(t, "iptables-save.txt"))
	pod := &podIPSet{out: fixture.Read(t, "ipset-save.txt")}

	st, err := ReadState(context.Background(), n, ReadOptions{IPSets: FirstIPSet{NodeIPSet{}, pod}})
	if err != nil {
		t.Fatalf("ReadState: %v", err)
	}
	if len(pod.nodes) != 1 || pod.nodes[0] != "ipvs-e2e-worker" {
		t.Errorf("pod source asked for nodes %v, want [ipvs-e2e-worker]", pod.nodes)
	}
	if _, ok := st.IPSet("KUBE-LOOP-BACK"); !ok {
		t.Errorf("ipsets from the pod source missing: %+v", st.IPSets)
	}
}

func TestReadStateFromProcIPVS(t *testing.T) {
	// What the kernel prints for the seed's ClusterIP service and its one real server.
	proc := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n" +
		"TCP  0A604789:0050 rr \n" +
		"  -> 0AF40102:0050      Masq    1      0          0         \n"
	n := NewFake("ipvs-e2e-worker").
		Stdout("cat /proc/net/ip_vs", proc).
		Stdout("ip -j addr show", fixture.Read(t, "ip-j-addr.json")).
		Stdout("ipset save", fixture.Read(t, "ipset-save.txt")).
		Stdout("iptables-save", fixture.Read(t, "iptables-save.txt"))
	st, err := ReadState(context.Background(), n, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vs, ok := st.IPVS.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.71.137"), Port: 80})
	if !ok || len(vs.RealServers) != 1 || vs.RealServers[0].Key() != netip.MustParseAddrPort("10.244.1.2:80") {
		t.Errorf("from /proc/net/ip_vs: %+v", st.IPVS)
	}
}

func TestReadStateIPSetsThroughIPVSDump(t *testing.T) {
	// A kind node: no ipset binary, ipvsdump reads the sets over netlink.
	st, err := ReadState(context.Background(), NewFake("ipvs-e2e-worker").
		Stdout(ipvsdumpIPVS, fixture.Read(t, "ipvsdump-state.json")).
		Stdout(DefaultIPVSDumpPath+" -o state --links=false --iptables=false", fixture.Read(t, "ipvsdump-state.json")).
		Stdout("ip -j addr show", fixture.Read(t, "ip-j-addr.json")).
		Stdout("iptables-save", fixture.Read(t, "iptables-save.txt")), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if set, ok := st.IPSet("KUBE-NODE-PORT-TCP"); !ok || !set.HasMember("30089") {
		t.Errorf("ipsets from ipvsdump: %+v", st.IPSets)
	}
}

func TestReadStateReportsEveryMissingPart(t *testing.T) {
	_, err := ReadState(context.Background(), NewFake("bare"), ReadOptions{IPv6: true})
	if err == nil {
		t.Fatal("ReadState on a node with no tools succeeded")
	}
	fixture.Contains(t, "error", err.Error(), "node bare", "IPVS:", "install ipvsdump", "links:", "ipsets:", "iptables:", "ip6tables:", "exit status 127")
	var ce *CommandError
	if !errors.As(err, &ce) {
		t.Errorf("error %v carries no *CommandError", err)
	}
}

func TestReadStateRejectsGarbage(t *testing.T) {
	n := NewFake("ipvs-e2e-worker").
		Stdout(ipvsdumpIPVS, "IP Virtual Server version 1.2.1 (size=4096)\n").
		Stdout("ip -j addr show", fixture.Read(t, "ip-j-addr.json")).
		Stdout("ipset save", fixture.Read(t, "ipset-save.txt")).
		Stdout("iptables-save", fixture.Read(t, "iptables-save.txt"))
	_, err := ReadState(context.Background(), n, ReadOptions{IPVS: ipvsDump{}})
	wanterr.Check(t, err, "JSON dataplane state") // a complaint about non-JSON ipvsdump output
}

func TestFirstAnswer(t *testing.T) {
	errA, errB := errors.New("a failed"), errors.New("b failed")
	ask := func(s string) (string, error) {
		switch s {
		case "a":
			return "", errA
		case "b":
			return "", errB
		}
		return "answer of " + s, nil
	}
	for _, tc := range []struct {
		sources []string
		want    string
		errs    []error // each must be in the error; none means no error
		errText string
	}{
		{sources: []string{"a", "c", "d"}, want: "answer of c"},
		{sources: []string{"a", "b"}, errs: []error{errA, errB}, errText: "a failed\nb failed"},
		{sources: nil, errText: "no source given"},
	} {
		got, err := firstAnswer(tc.sources, ask)
		if got != tc.want {
			t.Errorf("firstAnswer(%q) = %q, want %q", tc.sources, got, tc.want)
		}
		if tc.errText == "" {
			if err != nil {
				t.Errorf("firstAnswer(%q) error = %v, want none", tc.sources, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.errText {
			t.Errorf("firstAnswer(%q) error = %v, want %q", tc.sources, err, tc.errText)
		}
		for _, e := range tc.errs {
			if !errors.Is(err, e) {
				t.Errorf("firstAnswer(%q) error = %v, does not wrap %v", tc.sources, err, e)
			}
		}
	}
}
