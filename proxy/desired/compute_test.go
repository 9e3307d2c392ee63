package desired

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// checkState compares the whole state: Diff for a readable report, then DeepEqual so
// that order and empty-versus-nil differences fail too.
func checkState(t *testing.T, want, got dataplane.State) {
	t.Helper()
	if d := dataplane.Diff(want, got); len(d) > 0 {
		t.Errorf("state differs from upstream's:\n%s", d)
		return
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("states agree for Diff but not field by field:\nwant %+v\n got %+v", want, got)
	}
}

// seedInput is the seed tutorial's section 4.1 on node1.
func seedInput(t testing.TB) Input {
	cfg, err := config.Load([]byte(fixture.ReadRepo(t, "proxy/config/testdata/kubeadm-config.conf")), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc := service("service-test1", "10.106.71.137", nodePort(30089))
	svc.Spec.Selector = map[string]string{"app": "my-nginx"}
	return Input{
		Services:      []*corev1.Service{svc},
		Slices:        []*discoveryv1.EndpointSlice{endpointSlice("service-test1", "service-test1-x7k2p", 80, ep("10.244.3.214", "node1"))},
		NodeName:      "node1",
		NodeIP:        addr("172.18.0.3"),
		NodeAddresses: addrs("172.18.0.3", "127.0.0.1", "10.244.3.1", "fe80::42:acff:fe12:3"),
		Family:        4,
		Config:        cfg,
	}
}

// seedCapture is the seed's output in testdata/seed/name, read with parse.
func seedCapture[T any](t *testing.T, parse func(string) (T, error), name string) T {
	t.Helper()
	v, err := parse(fixture.Read(t, "seed/"+name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSeedFixture(t *testing.T) {
	in := seedInput(t)
	// The pod network's gateway (cni0's 10.244.3.1) is a node address too; only 172.18.0.3
	// is in the seed's output because the seed's node has no pod on cni0. Keep the node's
	// addresses to the one the seed shows.
	in.NodeAddresses = addrs("172.18.0.3", "127.0.0.1", "fe80::42:acff:fe12:3")
	res := Compute(in)
	if len(res.Skipped) != 0 {
		t.Errorf("skipped %v", res.Skipped)
	}

	ipvs := seedCapture(t, dataplane.ParseIPVSAdm, "ipvsadm-Ln.txt")
	links := seedCapture(t, dataplane.ParseIPAddr, "ip-addr-kube-ipvs0.txt")
	sets := seedCapture(t, dataplane.ParseIPSetSave, "ipset-save.txt")
	rules := seedCapture(t, dataplane.ParseIPTablesSave, "iptables-save.txt")
	links[0].Index = 0 // the kernel's choice
	want := dataplane.State{Node: "node1", IPVS: ipvs, Links: links, IPSets: sets, IPTables: rules}
	if d := dataplane.Diff(want, res.State); len(d) > 0 {
		t.Errorf("the seed's node1 differs:\n%s", d)
	}

	// The seed's own lines, word for word.
	var lines []string
	for _, l := range strings.Split(dataplane.FormatIPVSAdm(res.State.IPVS, false), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	got := strings.Join(lines, "\n")
	for _, line := range []string{"TCP 10.106.71.137:80 rr", "TCP 172.18.0.3:30089 rr"} {
		if !strings.Contains(got, line+"\n-> 10.244.3.214:80 Masq 1 0 0\n") {
			t.Errorf("ipvsadm -Ln lacks %q with the pod behind it:\n%s", line, got)
		}
	}
	const seedRule = `-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`
	if s := dataplane.FormatIPTablesS(res.State.IPTables, "nat", "KUBE-NODE-PORT"); s != "-N KUBE-NODE-PORT\n"+seedRule+"\n" {
		t.Errorf("iptables -t nat -S KUBE-NODE-PORT:\n%s\nwant the seed's\n%s", s, seedRule)
	}
	if n := res.State.IPTables.RuleCount("nat"); n > 20 || n != 14 {
		t.Errorf("nat holds %d rules; want 14 (3 jumps + 11), and the seed promises no more than 20", n)
	}
	if n := res.State.IPTables.RuleCount("filter"); n != 16 {
		t.Errorf("filter holds %d rules; want 16 (6 jumps + 10)", n)
	}
	for _, prefix := range []string{"KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-FW-"} {
		if c := res.State.IPTables.ChainsWithPrefix("nat", prefix); len(c) != 0 {
			t.Errorf("iptables-mode chains in ipvs mode: %v", c)
		}
	}
	if set, _ := res.State.IPSet("KUBE-CLUSTER-IP"); !slices.Equal(set.Members, []dataplane.Member{{IP: netip.MustParseAddr("10.106.71.137"), Proto: "tcp", Port: 80}}) {
		t.Errorf("KUBE-CLUSTER-IP = %q", set.Members)
	}
	if set, _ := res.State.IPSet("KUBE-NODE-PORT-TCP"); !slices.Equal(set.Members, []dataplane.Member{{Port: 30089}}) {
		t.Errorf("KUBE-NODE-PORT-TCP = %q", set.Members)
	}
	if l, _ := res.State.Link("kube-ipvs0"); !slices.Equal(l.Addrs, []netip.Prefix{netip.MustParsePrefix("10.106.71.137/32")}) {
		t.Errorf("kube-ipvs0 = %v", l.Addrs)
	}
}

// computeCase is Services and EndpointSlices on node1 (172.18.0.3) and the state expected
// of them.
type computeCase struct {
	name   string
	cfg    []string // lines after mode: ipvs; nil means clusterCIDR 10.244.0.0/16
	svcs   []*corev1.Service
	slices []*discoveryv1.EndpointSlice
	// node tweaks the default node (node1, 172.18.0.3) when set.
	node func(*Input)
	want expect
}

func (tt computeCase) run(t *testing.T) {
	t.Run(tt.name, func(t *testing.T) {
		cfg := defaultConfig(t)
		if tt.cfg != nil {
			cfg = loadConfig(t, tt.cfg...)
		}
		in := Input{
			Services: tt.svcs, Slices: tt.slices, NodeName: "node1", NodeIP: addr("172.18.0.3"),
			NodeAddresses: addrs("172.18.0.3", "127.0.0.1"), Family: 4, Config: cfg,
		}
		if tt.node != nil {
			tt.node(&in)
		}
		res := Compute(in)
		if len(res.Skipped) != 0 {
			t.Errorf("skipped: %v", res.Skipped)
		}
		checkState(t, tt.want.state("node1"), res.State)
	})
}

func TestCompute(t *testing.T) {
	const cip = "10.96.0.10"
	tests := []computeCase{{
		name: "cluster IP: ready endpoints only; a local not-ready one still hairpins",
		svcs: []*corev1.Service{service("web", cip)},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("web", "web-1", 8080,
			ep("10.244.1.5", "node2"), ep("10.244.2.6", "node3"), ep("10.244.3.7", "node1", notReady))},
		want: expect{
			vs:   []dataplane.VirtualServer{tcp(cip+":80", rs("10.244.1.5:8080", "10.244.2.6:8080")...)},
			bind: []string{cip},
			members: map[SetID][]string{
				SetClusterIP: {cip + ",tcp:80"},
				SetLoopBack:  {"10.244.3.7,tcp:8080,10.244.3.7"},
			},
		},
	}, {
		name: "no endpoints: the virtual server exists without real servers",
		svcs: []*corev1.Service{service("web", cip)},
		want: expect{vs: []dataplane.VirtualServer{tcp(cip + ":80")}, bind: []string{cip},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}}},
	}, {
		name: "terminating endpoints serve only when none is ready",
		svcs: []*corev1.Service{service("a", "10.96.0.1"), service("b", "10.96.0.2")},
		slices: []*discoveryv1.EndpointSlice{
			endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2"), ep("10.244.1.2", "node2", servingTerminating)),
			endpointSlice("b", "b-1", 80, ep("10.244.2.1", "node2", servingTerminating), ep("10.244.2.2", "node2", terminatingNotServing), ep("10.244.2.3", "node2", notReady)),
		},
		want: expect{
			vs:      []dataplane.VirtualServer{tcp("10.96.0.1:80", rs("10.244.1.1:80")...), tcp("10.96.0.2:80", rs("10.244.2.1:80")...)},
			bind:    []string{"10.96.0.1", "10.96.0.2"},
			members: map[SetID][]string{SetClusterIP: {"10.96.0.1,tcp:80", "10.96.0.2,tcp:80"}},
		},
	}, {
		name: "internalTrafficPolicy Local: local endpoints; none local and not external: no real server",
		svcs: []*corev1.Service{service("a", "10.96.0.1", iTPLocal), service("b", "10.96.0.2", iTPLocal)},
		slices: []*discoveryv1.EndpointSlice{
			endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2"), ep("10.244.3.1", "node1")),
			endpointSlice("b", "b-1", 80, ep("10.244.2.1", "node2")),
		},
		want: expect{
			vs:   []dataplane.VirtualServer{tcp("10.96.0.1:80", rs("10.244.3.1:80")...), tcp("10.96.0.2:80")},
			bind: []string{"10.96.0.1", "10.96.0.2"},
			members: map[SetID][]string{
				SetClusterIP: {"10.96.0.1,tcp:80", "10.96.0.2,tcp:80"},
				SetLoopBack:  {"10.244.3.1,tcp:80,10.244.3.1"},
			},
		},
	}, {
		name:   "internalTrafficPolicy Local on a NodePort with no local endpoint falls back to all (ipvs quirk)",
		svcs:   []*corev1.Service{service("a", cip, iTPLocal, nodePort(30080))},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2"))},
		want: expect{
			vs:      []dataplane.VirtualServer{tcp(cip+":80", rs("10.244.1.1:80")...), tcp("172.18.0.3:30080", rs("10.244.1.1:80")...)},
			bind:    []string{cip},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}, SetNodePortTCP: {"30080"}},
		},
	}, {
		name: "externalTrafficPolicy Local NodePort: local endpoints on the node port, all on the cluster IP",
		svcs: []*corev1.Service{service("a", cip, nodePort(30080), eTPLocal)},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("a", "a-1", 80,
			ep("10.244.1.1", "node2"), ep("10.244.3.1", "node1"))},
		want: expect{
			vs: []dataplane.VirtualServer{
				tcp(cip+":80", rs("10.244.1.1:80", "10.244.3.1:80")...),
				tcp("172.18.0.3:30080", rs("10.244.3.1:80")...),
			},
			bind: []string{cip},
			members: map[SetID][]string{
				SetClusterIP:        {cip + ",tcp:80"},
				SetLoopBack:         {"10.244.3.1,tcp:80,10.244.3.1"},
				SetNodePortTCP:      {"30080"},
				SetNodePortLocalTCP: {"30080"},
			},
		},
	}, {
		name:   "externalTrafficPolicy Local without a local endpoint: every endpoint (kubernetes#97081)",
		svcs:   []*corev1.Service{service("a", cip, nodePort(30080), eTPLocal)},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2"))},
		want: expect{
			vs:      tcpOn(rs("10.244.1.1:80"), cip+":80", "172.18.0.3:30080"),
			bind:    []string{cip},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}, SetNodePortTCP: {"30080"}, SetNodePortLocalTCP: {"30080"}},
		},
	}, {
		name:   "externalIPs: bound unless another interface holds them",
		svcs:   []*corev1.Service{service("a", cip, externalIPs("192.0.2.10", "172.18.0.3", "2001:db8::1"))},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2"))},
		want: expect{
			vs:      tcpOn(rs("10.244.1.1:80"), cip+":80", "172.18.0.3:80", "192.0.2.10:80"),
			bind:    []string{cip, "192.0.2.10"},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}, SetExternalIP: {"172.18.0.3,tcp:80", "192.0.2.10,tcp:80"}},
		},
	}, {
		name:   "externalIPs with externalTrafficPolicy Local",
		svcs:   []*corev1.Service{service("a", cip, externalIPs("192.0.2.10"), eTPLocal)},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2"), ep("10.244.3.1", "node1"))},
		want: expect{
			vs: []dataplane.VirtualServer{
				tcp(cip+":80", rs("10.244.1.1:80", "10.244.3.1:80")...),
				tcp("192.0.2.10:80", rs("10.244.3.1:80")...),
			},
			bind: []string{cip, "192.0.2.10"},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}, SetExternalIPLocal: {"192.0.2.10,tcp:80"},
				SetLoopBack: {"10.244.3.1,tcp:80,10.244.3.1"}},
		},
	}, {
		name:   "AllowServiceExternalIPs=false ignores externalIPs",
		cfg:    []string{"clusterCIDR: 10.244.0.0/16", "featureGates: {AllowServiceExternalIPs: false}"},
		svcs:   []*corev1.Service{service("a", cip, externalIPs("192.0.2.10"))},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2"))},
		want: expect{
			vs:      []dataplane.VirtualServer{tcp(cip+":80", rs("10.244.1.1:80")...)},
			bind:    []string{cip},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}},
		},
	}, {
		name: "LoadBalancer with externalTrafficPolicy Local and a health check node port",
		svcs: []*corev1.Service{service("a", cip, loadBalancer("203.0.113.10"), nodePort(30080), eTPLocal, func(s *corev1.Service) {
			s.Spec.HealthCheckNodePort = 32000
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress,
				corev1.LoadBalancerIngress{Hostname: "lb.example.com"},
				corev1.LoadBalancerIngress{IP: "203.0.113.11", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)})
		})},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("a", "a-1", 80, ep("10.244.3.1", "node1"))},
		want: expect{
			vs:   tcpOn(rs("10.244.3.1:80"), cip+":80", "172.18.0.3:30080", "203.0.113.10:80"),
			bind: []string{cip, "203.0.113.10"},
			members: map[SetID][]string{
				SetClusterIP:           {cip + ",tcp:80"},
				SetLoopBack:            {"10.244.3.1,tcp:80,10.244.3.1"},
				SetLoadBalancer:        {"203.0.113.10,tcp:80"},
				SetLoadBalancerLocal:   {"203.0.113.10,tcp:80"},
				SetNodePortTCP:         {"30080"},
				SetNodePortLocalTCP:    {"30080"},
				SetHealthCheckNodePort: {"32000"},
			},
		},
	}, {
		name: "UDP and SCTP node ports; SCTP's set holds one entry per node address",
		svcs: []*corev1.Service{service("dns", cip, ports(
			corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, NodePort: 30053},
			corev1.ServicePort{Name: "sig", Protocol: corev1.ProtocolSCTP, Port: 9999, NodePort: 30999},
		), func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })},
		node: func(in *Input) { in.NodeAddresses = addrs("172.18.0.3", "192.168.1.3") },
		want: expect{
			vs: []dataplane.VirtualServer{
				vs(dataplane.SCTP, cip+":9999", "rr"), vs(dataplane.SCTP, "172.18.0.3:30999", "rr"), vs(dataplane.SCTP, "192.168.1.3:30999", "rr"),
				vs(dataplane.UDP, cip+":53", "rr"), vs(dataplane.UDP, "172.18.0.3:30053", "rr"), vs(dataplane.UDP, "192.168.1.3:30053", "rr"),
			},
			bind: []string{cip},
			members: map[SetID][]string{
				SetClusterIP:    {cip + ",udp:53", cip + ",sctp:9999"},
				SetNodePortUDP:  {"30053"},
				SetNodePortSCTP: {"172.18.0.3,sctp:30999", "192.168.1.3,sctp:30999"},
			},
		},
	}, {
		name:   "ClientIP session affinity: persistent with the Service's timeout",
		svcs:   []*corev1.Service{service("a", cip, clientIPAffinity(300), nodePort(30080))},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2"))},
		want: expect{
			vs: []dataplane.VirtualServer{
				{Protocol: dataplane.TCP, Address: addr(cip), Port: 80, Scheduler: "rr", Persistent: true, Timeout: 300, RealServers: rs("10.244.1.1:80")},
				{Protocol: dataplane.TCP, Address: addr("172.18.0.3"), Port: 30080, Scheduler: "rr", Persistent: true, Timeout: 300, RealServers: rs("10.244.1.1:80")},
			},
			bind:    []string{cip},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}, SetNodePortTCP: {"30080"}},
		},
	}, {
		name: "scheduler mh sets mh-port (IP_VS_SVC_F_SCHED2)",
		cfg:  []string{"clusterCIDR: 10.244.0.0/16", "ipvs: {scheduler: mh}"},
		svcs: []*corev1.Service{service("a", cip)},
		want: expect{
			vs:      []dataplane.VirtualServer{{Protocol: dataplane.TCP, Address: addr(cip), Port: 80, Scheduler: "mh", SchedFlags: dataplane.SchedFlag2}},
			bind:    []string{cip},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}},
		},
	}, {
		name: "masqueradeAll, another mark bit, IPVS timeouts",
		cfg:  []string{"iptables: {masqueradeAll: true, masqueradeBit: 3}", "ipvs: {scheduler: wrr, tcpTimeout: 900s, tcpFinTimeout: 120s, udpTimeout: 1500ms}"},
		svcs: []*corev1.Service{service("a", cip)},
		want: expect{
			vs:          []dataplane.VirtualServer{vs(dataplane.TCP, cip+":80", "wrr")},
			bind:        []string{cip},
			members:     map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}},
			clusterMasq: "all",
			mark:        "0x8",
			timeouts:    dataplane.Timeouts{TCP: 900, TCPFin: 120, UDP: 1},
		},
	}, {
		name: "nodePortAddresses pick the node addresses node ports listen on",
		cfg:  []string{"clusterCIDR: 10.244.0.0/16", "nodePortAddresses: [192.168.1.0/24]"},
		svcs: []*corev1.Service{service("a", cip, nodePort(30080))},
		node: func(in *Input) { in.NodeAddresses = addrs("172.18.0.3", "192.168.1.3") },
		want: expect{
			vs:      []dataplane.VirtualServer{tcp(cip + ":80"), tcp("192.168.1.3:30080")},
			bind:    []string{cip},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}, SetNodePortTCP: {"30080"}},
		},
	}, {
		name: "nodePortAddresses matching no address: no node port at all, set entry included",
		cfg:  []string{"clusterCIDR: 10.244.0.0/16", "nodePortAddresses: [192.168.9.0/24]"},
		svcs: []*corev1.Service{service("a", cip, nodePort(30080))},
		want: expect{
			vs:      []dataplane.VirtualServer{tcp(cip + ":80")},
			bind:    []string{cip},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}},
		},
	}, {
		name: "zone hints: only endpoints hinted for this node's zone",
		svcs: []*corev1.Service{service("a", "10.96.0.1"), service("b", "10.96.0.2")},
		slices: []*discoveryv1.EndpointSlice{
			endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2", zoneHint("zone-a")), ep("10.244.2.1", "node3", zoneHint("zone-b"))),
			// One endpoint without a hint: hints are ignored.
			endpointSlice("b", "b-1", 80, ep("10.244.1.2", "node2", zoneHint("zone-a")), ep("10.244.2.2", "node3")),
		},
		node: func(in *Input) { in.NodeLabels = map[string]string{"topology.kubernetes.io/zone": "zone-a"} },
		want: expect{
			vs: []dataplane.VirtualServer{
				tcp("10.96.0.1:80", rs("10.244.1.1:80")...),
				tcp("10.96.0.2:80", rs("10.244.1.2:80", "10.244.2.2:80")...),
			},
			bind:    []string{"10.96.0.1", "10.96.0.2"},
			members: map[SetID][]string{SetClusterIP: {"10.96.0.1,tcp:80", "10.96.0.2,tcp:80"}},
		},
	}, {
		name: "node hints (PreferSameNode) win over zone hints",
		svcs: []*corev1.Service{service("a", "10.96.0.1")},
		slices: []*discoveryv1.EndpointSlice{endpointSlice("a", "a-1", 80,
			ep("10.244.3.1", "node1", nodeHint("node1"), zoneHint("zone-a")),
			ep("10.244.1.1", "node2", nodeHint("node2"), zoneHint("zone-a")))},
		node: func(in *Input) { in.NodeLabels = map[string]string{"topology.kubernetes.io/zone": "zone-a"} },
		want: expect{
			vs:      []dataplane.VirtualServer{tcp("10.96.0.1:80", rs("10.244.3.1:80")...)},
			bind:    []string{"10.96.0.1"},
			members: map[SetID][]string{SetClusterIP: {"10.96.0.1,tcp:80"}, SetLoopBack: {"10.244.3.1,tcp:80,10.244.3.1"}},
		},
	}, {
		name: "several ports, endpoints matched by port name",
		svcs: []*corev1.Service{service("a", cip, ports(
			corev1.ServicePort{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80},
			corev1.ServicePort{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443},
		))},
		slices: []*discoveryv1.EndpointSlice{func() *discoveryv1.EndpointSlice {
			s := endpointSlice("a", "a-1", 8080, ep("10.244.1.1", "node2"))
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To("https"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](8443)})
			return s
		}()},
		want: expect{
			vs:      []dataplane.VirtualServer{tcp(cip+":80", rs("10.244.1.1:8080")...), tcp(cip+":443", rs("10.244.1.1:8443")...)},
			bind:    []string{cip},
			members: map[SetID][]string{SetClusterIP: {cip + ",tcp:443", cip + ",tcp:80"}},
		},
	}}
	for _, tt := range tests {
		tt.run(t)
	}
}

// TestComputeSourceRanges: a LoadBalancer's loadBalancerSourceRanges fill the firewall sets,
// and a node the ranges leave out gets a drop.
func TestComputeSourceRanges(t *testing.T) {
	const cip, lb = "10.96.0.10", "203.0.113.10"
	for _, tt := range []struct {
		name   string
		ranges []string
		// cidrs and ips are the members of SOURCE-CIDR and SOURCE-IP; with cidrs the load
		// balancer is in KUBE-LOAD-BALANCER-FW too.
		cidrs, ips []string
		drops      []string
	}{{
		name:   "loadBalancerSourceRanges that admit the node: SOURCE-IP entry, no drop",
		ranges: []string{" 172.18.0.0/16", "198.51.100.0/24", "2001:db8::/32"},
		cidrs:  []string{lb + ",tcp:80,172.18.0.0/16", lb + ",tcp:80,198.51.100.0/24"},
		ips:    []string{lb + ",tcp:80," + lb},
	}, {
		name:   "loadBalancerSourceRanges that exclude the node: KUBE-IPVS-OUT-FILTER drop (kubernetes#119656)",
		ranges: []string{"198.51.100.0/24", "192.0.2.7/32"},
		cidrs:  []string{lb + ",tcp:80,192.0.2.7", lb + ",tcp:80,198.51.100.0/24"},
		drops:  []string{"-s 203.0.113.10/32 -m ipvs --vaddr 203.0.113.10/32 --vproto 6 --vport 80 -j DROP"},
	}, {
		name:   "a source range of 0.0.0.0/0 means no restriction",
		ranges: []string{"198.51.100.0/24", "0.0.0.0/0"},
	}} {
		members := map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}, SetLoadBalancer: {lb + ",tcp:80"}, SetLoadBalancerSourceIP: tt.ips}
		if tt.cidrs != nil {
			members[SetLoadBalancerFW] = []string{lb + ",tcp:80"}
			members[SetLoadBalancerSourceCIDR] = tt.cidrs
		}
		computeCase{
			name: tt.name,
			svcs: []*corev1.Service{service("a", cip, loadBalancer(lb), func(s *corev1.Service) {
				s.Spec.LoadBalancerSourceRanges = tt.ranges
			})},
			want: expect{vs: []dataplane.VirtualServer{tcp(cip + ":80"), tcp(lb + ":80")}, bind: []string{cip, lb}, members: members, drops: tt.drops},
		}.run(t)
	}
}

// TestComputeClusterMasquerade: the traffic to cluster IPs that is masqueraded is the traffic
// the configured local-traffic detection calls not local.
func TestComputeClusterMasquerade(t *testing.T) {
	const cip = "10.96.0.10"
	for _, tt := range []struct {
		name     string
		cfg      []string
		podCIDRs []netip.Prefix // the Node's
		masq     string         // as expect.clusterMasq
	}{
		{"no cluster CIDR: masquerade VIP-sourced traffic", []string{}, nil, "src,dst"},
		{"detectLocalMode BridgeInterface", []string{"detectLocalMode: BridgeInterface", "detectLocal: {bridgeInterface: cni0}"}, nil, "! -i cni0"},
		{"detectLocalMode InterfaceNamePrefix", []string{"detectLocalMode: InterfaceNamePrefix", "detectLocal: {interfaceNamePrefix: veth}"}, nil, "! -i veth+"},
		{"detectLocalMode NodeCIDR uses the Node's pod CIDR", []string{"detectLocalMode: NodeCIDR", "clusterCIDR: 10.244.0.0/16"},
			[]netip.Prefix{netip.MustParsePrefix("fd00:10:244:3::/64"), netip.MustParsePrefix("10.244.3.0/24")}, "! -s 10.244.3.0/24"},
	} {
		computeCase{
			name: tt.name,
			cfg:  tt.cfg,
			svcs: []*corev1.Service{service("a", cip)},
			node: func(in *Input) { in.NodePodCIDRs = tt.podCIDRs },
			want: expect{vs: []dataplane.VirtualServer{tcp(cip + ":80")}, bind: []string{cip},
				members: map[SetID][]string{SetClusterIP: {cip + ",tcp:80"}}, clusterMasq: tt.masq},
		}.run(t)
	}
}

func TestComputeIPv6(t *testing.T) {
	dual := service("web", "10.96.0.10", nodePort(30080), externalIPs("192.0.2.10", "2001:db8::10"), func(s *corev1.Service) {
		s.Spec.ClusterIPs = []string{"10.96.0.10", "fd00:10:96::10"}
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	})
	in := Input{
		Services: []*corev1.Service{dual, service("v4only", "10.96.0.11")},
		Slices: []*discoveryv1.EndpointSlice{
			endpointSlice("web", "web-v4", 80, ep("10.244.3.5", "node1")),
			endpointSlice("web", "web-v6", 80, ep("fd00:10:244:3::5", "node1"), ep("fd00:10:244:1::7", "node2")),
		},
		NodeName:      "node1",
		NodeIP:        addr("fc00:f853:ccd:e793::3"),
		NodeAddresses: addrs("172.18.0.3", "fc00:f853:ccd:e793::3", "fe80::42:acff:fe12:3", "::1"),
		Family:        6,
		Config:        loadConfig(t, "clusterCIDR: 10.244.0.0/16,fd00:10:244::/56"),
	}
	res := Compute(in)
	want := expect{
		family: 6,
		vs:     tcpOn(rs("[fd00:10:244:1::7]:80", "[fd00:10:244:3::5]:80"), "[2001:db8::10]:80", "[fc00:f853:ccd:e793::3]:30080", "[fd00:10:96::10]:80"),
		bind:   []string{"2001:db8::10", "fd00:10:96::10"},
		members: map[SetID][]string{
			SetClusterIP:   {"fd00:10:96::10,tcp:80"},
			SetExternalIP:  {"2001:db8::10,tcp:80"},
			SetLoopBack:    {"fd00:10:244:3::5,tcp:80,fd00:10:244:3::5"},
			SetNodePortTCP: {"30080"},
		},
		clusterMasq: "! -s fd00:10:244::/56",
	}
	checkState(t, want.state("node1"), res.State)
	wantSkip := []Skip{{Kind: "Service", Namespace: "default", Name: "v4only", Reason: "no IPv6 cluster IP; only the other family's computation covers it"}}
	if !reflect.DeepEqual(res.Skipped, wantSkip) {
		t.Errorf("skipped:\n got %v\nwant %v", res.Skipped, wantSkip)
	}
	for _, set := range res.State.IPSets {
		if len(set.Name) > 31 || !strings.HasPrefix(set.Name, "KUBE-6-") {
			t.Errorf("IPv6 set %q: want a KUBE-6- name of at most 31 characters", set.Name)
		}
	}
	if !reflect.DeepEqual(res.State.IPTables, dataplane.Ruleset{}) {
		t.Errorf("an IPv6 computation wrote IPv4 rules")
	}
}

func TestOddContent(t *testing.T) {
	withLabel := func(k, v string) svcOpt {
		return func(s *corev1.Service) { s.Labels = map[string]string{k: v} }
	}
	svcs := []*corev1.Service{
		service("good", "10.96.0.10"),
		service("noports", "10.96.0.11", ports()),
		service("headless", "None"),
		service("external", "10.96.0.12", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName }),
		service("other-proxy", "10.96.0.13", withLabel(LabelServiceProxyName, "cilium")),
		service("ipv6only", "fd00::13"),
		service("badport", "10.96.0.14", ports(
			corev1.ServicePort{Name: "x", Protocol: "ICMP", Port: 1},
			corev1.ServicePort{Name: "y", Protocol: corev1.ProtocolTCP, Port: 0},
			corev1.ServicePort{Name: "z", Protocol: corev1.ProtocolTCP, Port: 81, NodePort: 70000},
			corev1.ServicePort{Name: "ok", Protocol: corev1.ProtocolTCP, Port: 82},
		)),
		service("badip", "10.96.0.300"),
		service("legacy", "", func(s *corev1.Service) { s.Spec.ClusterIP = "010.096.000.015" }),
		service("badexternal", "10.96.0.16", externalIPs("not-an-ip"), func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.LoadBalancerSourceRanges = []string{"10.0.0/8"}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "lb"}}
		}),
		nil,
	}
	noLabel := endpointSlice("good", "orphan", 80, ep("10.244.9.9", "node2"))
	noLabel.Labels = nil
	headlessSlice := endpointSlice("headless", "headless-1", 80, ep("10.244.9.8", "node2"))
	headlessSlice.Labels[LabelHeadless] = ""
	fqdn := endpointSlice("good", "good-fqdn", 80, discoveryv1.Endpoint{Addresses: []string{"pod.example.com"}})
	fqdn.AddressType = discoveryv1.AddressTypeFQDN
	odd := endpointSlice("good", "good-2", 80,
		discoveryv1.Endpoint{}, // no address
		ep("fd00::5", "node2"),
		ep("banana", "node2"),
		ep("10.244.1.1", "node2", servingTerminating), // duplicate of good-1's, terminating: loses
		ep("10.244.1.2", "node2"),                     // duplicate of good-1's
	)
	odd.Ports = append(odd.Ports, discoveryv1.EndpointPort{Name: nil, Port: ptr.To[int32](1)}, discoveryv1.EndpointPort{Name: ptr.To("zero"), Port: ptr.To[int32](0)})
	slicesIn := []*discoveryv1.EndpointSlice{
		endpointSlice("good", "good-1", 80, ep("10.244.1.1", "node2"), ep("10.244.1.2", "node2", notReady)),
		odd, noLabel, headlessSlice, fqdn, nil,
		endpointSlice("badport", "badport-1", 80, ep("10.244.1.3", "node2")),
	}
	res := Compute(Input{Services: svcs, Slices: slicesIn, NodeName: "node1", NodeIP: addr("172.18.0.3"),
		NodeAddresses: addrs("172.18.0.3"), Family: 4, Config: defaultConfig(t)})

	want := expect{
		vs: []dataplane.VirtualServer{
			tcp("10.96.0.10:80", rs("10.244.1.1:80", "10.244.1.2:80")...),
			tcp("10.96.0.14:82"),
			tcp("10.96.0.15:80"),
			tcp("10.96.0.16:80"),
		},
		bind:    []string{"10.96.0.10", "10.96.0.14", "10.96.0.15", "10.96.0.16"},
		members: map[SetID][]string{SetClusterIP: {"10.96.0.10,tcp:80", "10.96.0.14,tcp:82", "10.96.0.15,tcp:80", "10.96.0.16,tcp:80"}},
	}
	checkState(t, want.state("node1"), res.State)

	wantSkips := []string{
		`EndpointSlice default/orphan: no kubernetes.io/service-name label: kube-proxy cannot tell which Service it belongs to`,
		`EndpointSlice default/good-2: a port has no name (nil); ignored`,
		`EndpointSlice default/good-2: port "zero" has no valid number; ignored`,
		`EndpointSlice default/good-2: an endpoint has no address; ignored`,
		`EndpointSlice default/good-2: endpoint address "fd00::5" is not of the slice's address type IPv4; ignored`,
		`EndpointSlice default/good-2: endpoint address "banana" is not an IP; ignored`,
		`EndpointSlice default/good-fqdn: addressType FQDN: kube-proxy only proxies IP endpoints`,
		`Service default/badexternal: externalIP "not-an-ip" is not an IP address; ignored`,
		`Service default/badexternal: load balancer ingress IP "lb" is not an IP address; ignored`,
		`Service default/badexternal: loadBalancerSourceRanges entry "10.0.0/8" is not a CIDR; ignored`,
		`Service default/badip: cluster IP "10.96.0.300" is not an IPv4 address`,
		`Service default/badport: port "x": protocol "ICMP" is not TCP, UDP or SCTP; ignored`,
		`Service default/badport: port "y": port number 0 is outside 1-65535; ignored`,
		`Service default/badport: port "z": nodePort 70000 is outside 0-65535; ignored`,
		`Service default/external: type ExternalName: DNS serves it, no virtual server`,
		`Service default/headless: headless (clusterIP "None"): DNS serves it, no virtual server`,
		`Service default/ipv6only: no IPv4 cluster IP; only the other family's computation covers it`,
		`Service default/noports: no ports`,
		`Service default/other-proxy: label service.kubernetes.io/service-proxy-name="cilium": another proxy serves it`,
	}
	var got []string
	for _, s := range res.Skipped {
		got = append(got, s.String())
	}
	slices.Sort(got)
	slices.Sort(wantSkips)
	if !slices.Equal(got, wantSkips) {
		t.Errorf("skipped:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(wantSkips, "\n     "))
	}
}

func TestConflictingVirtualServers(t *testing.T) {
	// Two Services list the same externalIP and port: the first (by namespace/name) keeps it.
	a := service("a", "10.96.0.1", externalIPs("192.0.2.10"))
	b := service("b", "10.96.0.2", externalIPs("192.0.2.10"))
	res := Compute(Input{
		Services: []*corev1.Service{b, a},
		Slices: []*discoveryv1.EndpointSlice{
			endpointSlice("a", "a-1", 80, ep("10.244.1.1", "node2")),
			endpointSlice("b", "b-1", 80, ep("10.244.2.2", "node2")),
		},
		NodeName: "node1", Family: 4, Config: defaultConfig(t),
	})
	got, ok := res.State.IPVS.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: addr("192.0.2.10"), Port: 80})
	if !ok || !reflect.DeepEqual(got.RealServers, rs("10.244.1.1:80")) {
		t.Errorf("192.0.2.10:80 = %+v, want Service a's endpoint", got)
	}
	want := []Skip{{Kind: "Service", Namespace: "default", Name: "b", Reason: "virtual server TCP 192.0.2.10:80 is already default/a's; ignored"}}
	if !reflect.DeepEqual(res.Skipped, want) {
		t.Errorf("skipped %v, want %v", res.Skipped, want)
	}
}

func TestDuplicateEndpointsAcrossSlices(t *testing.T) {
	// The same address:port in two slices, ready in one and terminating in the other: the
	// ready copy wins whichever slice comes first, as in kube-proxy's EndpointSliceCache.
	for _, order := range [][2]string{{"s-1", "s-2"}, {"s-2", "s-1"}} {
		first := endpointSlice("a", order[0], 80, ep("10.244.1.1", "node2", servingTerminating))
		second := endpointSlice("a", order[1], 80, ep("10.244.1.1", "node2"), ep("10.244.1.2", "node2", servingTerminating))
		res := Compute(Input{Services: []*corev1.Service{service("a", "10.96.0.1")},
			Slices: []*discoveryv1.EndpointSlice{first, second}, NodeName: "node1", Family: 4, Config: defaultConfig(t)})
		got := res.State.IPVS.Services[0].RealServers
		if !reflect.DeepEqual(got, rs("10.244.1.1:80")) {
			t.Errorf("slices %v: real servers %v, want only the ready 10.244.1.1:80 once", order, got)
		}
	}
}

// TestDeterministic shuffles the input: the output must not change.
func TestDeterministic(t *testing.T) {
	in := scaleInput(t, 200, 3)
	want := Compute(in)
	r := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		shuffled := in
		shuffled.Services = slices.Clone(in.Services)
		shuffled.Slices = slices.Clone(in.Slices)
		shuffled.NodeAddresses = slices.Clone(in.NodeAddresses)
		r.Shuffle(len(shuffled.Services), func(i, j int) {
			shuffled.Services[i], shuffled.Services[j] = shuffled.Services[j], shuffled.Services[i]
		})
		r.Shuffle(len(shuffled.Slices), func(i, j int) { shuffled.Slices[i], shuffled.Slices[j] = shuffled.Slices[j], shuffled.Slices[i] })
		r.Shuffle(len(shuffled.NodeAddresses), func(i, j int) {
			shuffled.NodeAddresses[i], shuffled.NodeAddresses[j] = shuffled.NodeAddresses[j], shuffled.NodeAddresses[i]
		})
		if got := Compute(shuffled); !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffled input changed the result:\n%s", dataplane.Diff(want.State, got.State))
		}
	}
	if !slices.IsSortedFunc(want.State.IPVS.Services, func(a, b dataplane.VirtualServer) int { return a.Key().Compare(b.Key()) }) {
		t.Errorf("virtual servers are not sorted by key")
	}
}

// TestRuleCountFlat: the point of ipvs mode is that rules do not grow with Services.
func TestRuleCountFlat(t *testing.T) {
	one, many := Compute(scaleInput(t, 1, 2)).State.IPTables, Compute(scaleInput(t, 1000, 2)).State.IPTables
	for _, table := range []string{"nat", "filter"} {
		if a, b := one.RuleCount(table), many.RuleCount(table); a != b {
			t.Errorf("%s: %d rules for 1 Service, %d for 1,000", table, a, b)
		}
		t1, _ := one.Table(table)
		for _, c := range t1.Chains {
			if a, b := len(c.Rules), len(many.Rules(table, c.Name)); a != b {
				t.Errorf("%s %s: %d rules for 1 Service, %d for 1,000", table, c.Name, a, b)
			}
		}
	}
	if n := many.RuleCount("nat"); n > 20 {
		t.Errorf("nat: %d rules for 1,000 Services", n)
	}
}

// TestServiceMatchesCompute: Env.Service plus Assemble is what Compute returns, so an
// incremental proxier may cache per-Service results.
func TestServiceMatchesCompute(t *testing.T) {
	in := scaleInput(t, 50, 2)
	want := Compute(in)
	env := NewEnv(in)
	bySvc, _ := SlicesByService(in.Slices)
	sorted := slices.Clone(in.Services)
	slices.SortFunc(sorted, func(a, b *corev1.Service) int { return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) })
	var states []ServiceState
	for _, s := range sorted {
		states = append(states, env.Service(s, bySvc[namespacedName(s)]))
	}
	if got := env.Assemble(states); !reflect.DeepEqual(got, want) {
		t.Errorf("Assemble(Service...) differs from Compute:\n%s", dataplane.Diff(want.State, got.State))
	}
}

func TestSetNames(t *testing.T) {
	if len(IPSets()) != 17 {
		t.Fatalf("%d sets, want kube-proxy's 17", len(IPSets()))
	}
	for i, s := range IPSets() {
		if s.ID != SetID(i) || s.Name != testSets[i].name || s.Type != testSets[i].typ {
			t.Errorf("set %d: %+v, want %+v", i, s, testSets[i])
		}
		x := expect{family: 6}
		if got, want := s.NameFor(6), x.setName(s.ID); got != want {
			t.Errorf("IPv6 name of %s: %q, want %q", s.Name, got, want)
		}
	}
	if len(Chains()) != 11 || len(Jumps()) != 9 {
		t.Errorf("%d chains and %d jumps, want 11 and 9", len(Chains()), len(Jumps()))
	}
}

func TestSaveString(t *testing.T) {
	for in, want := range map[string]string{
		"x":              "x",
		"a_b-9":          "a_b-9",
		"":               `""`,
		"two words":      `"two words"`,
		`it's "quoted"\`: `"it\'s \"quoted\"\\"`,
	} {
		if got := saveString(in); got != want {
			t.Errorf("saveString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseIP(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1": "10.0.0.1", "010.000.000.001": "10.0.0.1", "::ffff:10.0.0.1": "10.0.0.1", "fd00::1": "fd00::1",
		"": "", "1.2.3": "", "1.2.3.4.5": "", "256.0.0.1": "", "fe80::1%eth0": "", "1..2.3": "",
	} {
		got, ok := parseIP(in)
		if (want == "") == ok || (ok && got.String() != want) {
			t.Errorf("parseIP(%q) = %v, %v; want %q", in, got, ok, want)
		}
	}
	for in, want := range map[string]string{
		"10.1.2.3/8": "10.0.0.0/8", "fd00::1/64": "fd00::/64", "10.0.0/8": "", "10.0.0.0/33": "", "10.0.0.0/-1": "", "10.0.0.0": "",
	} {
		got, ok := parseCIDR(in)
		if (want == "") == ok || (ok && got.String() != want) {
			t.Errorf("parseCIDR(%q) = %v, %v; want %q", in, got, ok, want)
		}
	}
}

// scaleInput builds n ClusterIP Services (every third a NodePort, every fifth with
// externalTrafficPolicy Local) with eps endpoints each, half of them on this node.
func scaleInput(t testing.TB, n, eps int) Input {
	svcs := make([]*corev1.Service, 0, n)
	sl := make([]*discoveryv1.EndpointSlice, 0, n)
	for i := range n {
		name := fmt.Sprintf("svc-%05d", i)
		ip := fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)
		var opts []svcOpt
		if i%3 == 0 && i/3 < 2768 {
			opts = append(opts, nodePort(int32(30000+i/3)))
		}
		if i%5 == 0 {
			opts = append(opts, func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			})
		}
		svcs = append(svcs, service(name, ip, opts...))
		var es []discoveryv1.Endpoint
		for j := range eps {
			nodeName := "node2"
			if j%2 == 0 {
				nodeName = "node1"
			}
			es = append(es, ep(fmt.Sprintf("10.%d.%d.%d", 128+j, i/250, i%250+1), nodeName))
		}
		sl = append(sl, endpointSlice(name, name+"-abcde", 8080, es...))
	}
	return Input{Services: svcs, Slices: sl, NodeName: "node1", NodeIP: addr("172.18.0.3"),
		NodeAddresses: addrs("172.18.0.3", "10.244.3.1"), Family: 4, Config: defaultConfig(t)}
}

func namespacedName(s *corev1.Service) types.NamespacedName {
	return types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
}
