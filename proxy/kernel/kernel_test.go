package kernel_test

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/onsi/gomega"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	. "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipset"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
)

const masqRule = `-p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`

// seedNode is the seed's node after service-test1 (10.106.71.137:80, NodePort 30089)
// got its pod 10.244.3.214.
func seedNode() dataplane.State {
	pod := dataplane.RealServer{Address: netip.MustParseAddr("10.244.3.214"), Port: 80, Forward: dataplane.Masq, Weight: 1, ActiveConns: 2}
	return dataplane.State{
		IPVS: dataplane.IPVS{
			Services: []dataplane.VirtualServer{
				{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.106.71.137"), Port: 80, Scheduler: "rr", RealServers: []dataplane.RealServer{pod}},
				{Protocol: dataplane.TCP, Address: netip.MustParseAddr("172.18.0.2"), Port: 30089, Scheduler: "rr", RealServers: []dataplane.RealServer{pod}},
			},
			Timeouts: dataplane.Timeouts{TCP: 900, TCPFin: 120, UDP: 300},
		},
		Links: []dataplane.Link{
			{Name: "eth0", Index: 9, Kind: "veth", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("172.18.0.2/16")}},
			{Name: "kube-ipvs0", Index: 3, Kind: "dummy", Addrs: []netip.Prefix{netip.MustParsePrefix("10.106.71.137/32")}},
		},
		IPSets: []dataplane.IPSet{
			{Name: "KUBE-NODE-PORT-TCP", Type: "bitmap:port", PortRange: "0-65535", Members: []dataplane.Member{{Port: 30089}}},
		},
		IPTables: dataplane.Ruleset{Tables: []dataplane.Table{{Name: "nat", Chains: []dataplane.Chain{
			{Name: "KUBE-MARK-MASQ", Policy: "-", Rules: []dataplane.Rule{{Spec: "-j MARK --set-xmark 0x4000/0x4000"}}},
			{Name: "KUBE-NODE-PORT", Policy: "-", Rules: []dataplane.Rule{{Spec: masqRule}}},
		}}}},
	}
}

func TestReadEverything(t *testing.T) {
	g := gomega.NewWithT(t)
	k, err := kernel.FakeWith(seedNode())
	g.Expect(err).NotTo(gomega.HaveOccurred())

	s, err := kernel.Read(k, kernel.Everything("node1"))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(s.Node).To(gomega.Equal("node1"))
	g.Expect(s).To(HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithScheduler("rr"),
		WithRealServer("10.244.3.214:80", dataplane.Masq, 1), WithRealServerCount(1)))
	g.Expect(s.IPVS.Services[0].RealServers[0].ActiveConns).To(gomega.Equal(2), "connection counters are read")
	g.Expect(s.IPVS.Timeouts).To(gomega.Equal(dataplane.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}))
	g.Expect(s).To(HaveAddressOn("kube-ipvs0", "10.106.71.137"))
	g.Expect(s).To(HaveIPSetMember("KUBE-NODE-PORT-TCP", "30089"))
	g.Expect(s).To(HaveRule("nat", "KUBE-NODE-PORT", masqRule))
	// The fake starts with the built-in tables, so both families hold them all.
	g.Expect(s.IPTables.Tables).To(gomega.HaveLen(4))
	g.Expect(s.IP6Tables.Tables).To(gomega.HaveLen(4))
	g.Expect(s).To(HaveAtMostRules("nat", "", 2))

	// What was read is what was programmed, but for the built-in chains the fake adds.
	want := seedNode()
	want.IPTables, want.IP6Tables = s.IPTables, s.IP6Tables
	g.Expect(s).To(MatchState(want))
}

func TestReadParts(t *testing.T) {
	k, err := kernel.FakeWith(seedNode())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		opts  kernel.ReadOptions
		parts string // which parts are non-empty, in State order
	}{
		{"nothing", kernel.ReadOptions{}, ""},
		{"ipvs", kernel.ReadOptions{IPVS: true}, "ipvs"},
		{"timeouts", kernel.ReadOptions{Timeouts: true}, "timeouts"},
		{"links", kernel.ReadOptions{Links: true}, "links"},
		{"ipsets", kernel.ReadOptions{IPSets: true}, "ipsets"},
		{"iptables", kernel.ReadOptions{IPTables: true}, "iptables"},
		{"ip6tables nat only", kernel.ReadOptions{IP6Tables: true, Tables: []string{"nat"}}, "ip6tables"},
		{"what ipvsdump reads on a kind node", kernel.ReadOptions{IPVS: true, Links: true}, "ipvs links"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := kernel.Read(k, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, p := range []struct {
				name string
				read bool
			}{
				{"ipvs", len(s.IPVS.Services) > 0},
				{"timeouts", s.IPVS.Timeouts != dataplane.Timeouts{}},
				{"links", len(s.Links) > 0},
				{"ipsets", len(s.IPSets) > 0},
				{"iptables", len(s.IPTables.Tables) > 0},
				{"ip6tables", len(s.IP6Tables.Tables) > 0},
			} {
				if p.read {
					parts = append(parts, p.name)
				}
			}
			if got := strings.Join(parts, " "); got != tc.parts {
				t.Errorf("read parts %q, want %q", got, tc.parts)
			}
		})
	}
	s, err := kernel.Read(k, kernel.ReadOptions{IP6Tables: true, Tables: []string{"nat"}})
	if err != nil || len(s.IP6Tables.Tables) != 1 || s.IP6Tables.Tables[0].Name != "nat" {
		t.Errorf("Tables: [nat] read %+v, %v; want the nat table alone", s.IP6Tables, err)
	}
}

// A part that fails is named in the error; the other parts are still read.
func TestReadErrors(t *testing.T) {
	boom := errors.New("netlink: operation not permitted")
	cases := []struct {
		name   string
		breakK func(k *kernel.Kernel)
		want   string
		still  func(s dataplane.State) bool
	}{
		{
			name:   "ipvs",
			breakK: func(k *kernel.Kernel) { k.IPVS.(*ipvs.Fake).FailNext("Services", boom) },
			want:   "reading IPVS services: netlink: operation not permitted",
			still:  func(s dataplane.State) bool { return len(s.Links) == 2 && len(s.IPSets) == 1 },
		},
		{
			name:   "links",
			breakK: func(k *kernel.Kernel) { k.Links.(*netif.Fake).FailNext("Links", boom) },
			want:   "reading links: netlink: operation not permitted",
			still:  func(s dataplane.State) bool { return len(s.IPVS.Services) == 2 },
		},
		{
			name:   "ipsets",
			breakK: func(k *kernel.Kernel) { k.IPSets.(*ipset.Fake).FailNext("List", boom) },
			want:   "reading ipsets: netlink: operation not permitted",
			still:  func(s dataplane.State) bool { return len(s.IPTables.Tables) == 4 },
		},
		{
			name:   "iptables",
			breakK: func(k *kernel.Kernel) { k.IPTables.(*iptables.Fake).FailNext("Save", boom) },
			want:   "reading iptables (IPv4): netlink: operation not permitted",
			still:  func(s dataplane.State) bool { return len(s.IP6Tables.Tables) == 4 && len(s.IPSets) == 1 },
		},
		{
			name:   "a part the Kernel lacks",
			breakK: func(k *kernel.Kernel) { k.IPSets = nil },
			want:   "reading ipsets: this Kernel has no interface for it",
			still:  func(s dataplane.State) bool { return len(s.IPVS.Services) == 2 },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := kernel.FakeWith(seedNode())
			if err != nil {
				t.Fatal(err)
			}
			tc.breakK(k)
			s, err := kernel.Read(k, kernel.Everything(""))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Read error = %v, want %q", err, tc.want)
			}
			if !errors.Is(err, boom) && tc.name != "a part the Kernel lacks" {
				t.Errorf("Read error %v does not wrap the part's error", err)
			}
			if !tc.still(s) {
				t.Errorf("the other parts were not read: %+v", s)
			}
		})
	}
}

func TestFakeWithRefusesWhatTheKernelRefuses(t *testing.T) {
	s := seedNode()
	s.IPVS.Services[0].Scheduler = "nosuch"
	if _, err := kernel.FakeWith(s); err == nil {
		t.Error("FakeWith accepted a scheduler the kernel does not have")
	}
}

func TestClose(t *testing.T) {
	k := kernel.Fake()
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("close: bad file descriptor")
	k.IPVS.(*ipvs.Fake).FailNext("Close", boom)
	if err := k.Close(); !errors.Is(err, boom) {
		t.Errorf("Close() = %v, want the IPVS handle's error", err)
	}
}

// On a host whose kernel has no IPVS (this one, and CI's), Linux must refuse with
// CheckKernel's explanation instead of opening a netlink socket that reads nothing.
func TestLinuxWithoutIPVS(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has IPVS; TestLinuxRead covers it")
	}
	if labtest.InLab() {
		t.Fatal("kernel lab guest without /proc/net/ip_vs: the lab's module list is broken")
	}
	_, err := kernel.Linux()
	if !errors.Is(err, ipvs.ErrNoIPVS) {
		t.Fatalf("Linux() error = %v, want one wrapping ipvs.ErrNoIPVS", err)
	}
	fixture.Contains(t, "Linux() error", err.Error(), "ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack", "/etc/modules-load.d/")
}
