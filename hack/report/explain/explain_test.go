package explain

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/explain/paste"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func defaultOptions() Options {
	return Options{ServiceCIDRs: []netip.Prefix{DefaultServiceCIDR}}
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	fixture.Golden(t, filepath.Join("testdata", name), got, *update)
}

func explainText(t *testing.T, in string, o Options) string {
	t.Helper()
	var b strings.Builder
	if err := Explain(paste.Read(in), o).Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestExplainMultiNodeGolden explains the multi-node paste of testdata (README.md says where
// each part comes from): the walk's node after the ConfigMap switch, the tutorial's lab node
// with the seed's addresses and a kernel lab capture, in the odd forms real pastes have.
func TestExplainMultiNodeGolden(t *testing.T) {
	golden(t, "multinode.golden", explainText(t, fixture.Read(t, "multinode.paste"), defaultOptions()))
}

// TestExplainSeedGolden explains the seed tutorial as a student would paste the whole page.
func TestExplainSeedGolden(t *testing.T) {
	golden(t, "seed-tutorial.golden", explainText(t, fixture.ReadRepo(t, "hack/report/explain/paste/testdata/seed-tutorial.txt"), defaultOptions()))
}

// findingsOf explains a paste and returns every node's findings.
func findingsOf(in string, o Options) []string {
	var out []string
	for _, n := range Explain(paste.Read(in), o).Nodes {
		for _, f := range n.Findings {
			out = append(out, fmt.Sprintf("%d: %s", f.Line, f.Text))
		}
	}
	return out
}

func TestFindings(t *testing.T) {
	lab := func(name string) string { return fixture.ReadRepo(t, "framework/tutorial/testdata/lab-node/"+name) }
	walk := func(name string) string { return fixture.Read(t, "walk/"+name) }
	tests := []struct {
		name      string
		in        string
		scheduler string
		want      []string // a piece of each finding, in order
	}{{
		name: "the tutorial's lab node is clean",
		in: "[root@node1 ~]# ipvsadm -Ln\n" + lab("ipvsadm-Ln.txt") + "[root@node1 ~]# ip addr show kube-ipvs0\n" + lab("ip-addr-show-kube-ipvs0.txt") +
			"[root@node1 ~]# iptables-save -t nat\n" + lab("iptables-save-t-nat.txt") + "[root@node1 ~]# ipset list KUBE-NODE-PORT-TCP\n" + lab("ipset-list-KUBE-NODE-PORT-TCP.txt"),
	}, {
		name: "a virtual server without real servers",
		// The seed's block with its real server line removed, as after deleting the Pod.
		in:   "TCP 10.106.71.137:80 rr\nTCP 172.17.0.1:30001 rr\n-> 10.244.4.29:8000 Masq 1 0 0\n",
		want: []string{"1: TCP 10.106.71.137:80 has no real servers"},
	}, {
		name: "real servers cut from the paste are not missing",
		in:   "TCP 10.106.71.137:80 rr\n...\nTCP 172.17.0.1:30001 rr\n-> 10.244.4.29:8000 Masq 1 0 0\n",
	}, {
		name:      "a scheduler other than the configured one",
		in:        lab("ipvsadm-Ln.txt"),
		scheduler: "wrr",
		want:      []string{"4: TCP 10.0.2.15:30089 uses the scheduler rr, not wrr", "6: TCP 10.106.71.137:80 uses the scheduler rr, not wrr"},
	}, {
		name: "a ClusterIP missing from kube-ipvs0",
		in:   walk("ipvsadm.txt") + "# ip addr show kube-ipvs0\n" + strings.ReplaceAll(walk("kube-ipvs0.txt"), "10.96.65.29", "10.96.65.30"),
		want: []string{"8: the ClusterIP 10.96.65.29 is not on kube-ipvs0"},
	}, {
		name: "ip addr without kube-ipvs0",
		// The links of a kind-like node before its kube-ipvs0 (lo and eth0).
		in:   lab("ipvsadm-Ln.txt") + strings.Join(strings.SplitAfter(fixture.ReadRepo(t, "framework/dataplane/testdata/ipaddr/show.txt"), "\n")[:14], ""),
		want: []string{"0: the pasted ip addr output has no kube-ipvs0"},
	}, {
		name: "chains left from iptables mode",
		in:   "# iptables-save -t nat\n" + walk("iptables-save-nat.txt"),
		want: []string{
			"11: nat/KUBE-NODEPORTS (0 rules, 0 jumps to it) is left from iptables mode",
			"13: nat/KUBE-PROXY-CANARY (0 rules, 0 jumps to it) is left",
			"14: nat/KUBE-SEP-AUYHRVTCKFHNRLUC (2 rules, 1 jumps to it) is left",
			"16: nat/KUBE-SVC-NPX46M4PTMTKRN6Y (2 rules, 0 jumps to it) is left",
		},
	}, {
		name: "more nat rules than the tutorial's budget",
		in:   "# iptables -t nat -S\n" + overBudget(lab("iptables-save-t-nat.txt")),
		want: []string{fmt.Sprintf("0: the tutorial's check \"ipvs mode's nat rules number at most %d (%d)\" fails", tutorial.NATBudget, tutorial.NATBudget+1)},
	}, {
		name: "a partial nat dump says nothing of the budget",
		in:   "# iptables -t nat -S KUBE-NODE-PORT\n" + lab("iptables-t-nat-S-KUBE-NODE-PORT.txt"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaultOptions()
			o.Scheduler = tt.scheduler
			got := findingsOf(tt.in, o)
			if len(got) != len(tt.want) {
				t.Fatalf("%d findings, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("finding %d:\n  %s\nwant it to contain\n  %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// overBudget turns the lab node's iptables-save -t nat into `iptables -t nat -S` form with
// rules added to KUBE-SERVICES (copies of its masquerade rule, as a Service's would be) until
// kube-proxy's rules are one more than the tutorial's budget.
func overBudget(save string) string {
	var out []string
	rules := 0
	for l := range strings.Lines(save) {
		l = strings.TrimSuffix(l, "\n")
		switch {
		case strings.HasPrefix(l, ":"):
			f := strings.Fields(l[1:])
			if f[1] == "-" {
				out = append(out, "-N "+f[0])
			} else {
				out = append(out, "-P "+f[0]+" "+f[1])
			}
		case strings.HasPrefix(l, "-A "):
			out = append(out, l)
			rules++
		}
	}
	extra := `-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ`
	for ; rules <= tutorial.NATBudget; rules++ {
		out = append(out, extra)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestRoles(t *testing.T) {
	lab := func(name string) string { return fixture.ReadRepo(t, "framework/dataplane/testdata/lab/"+name) }
	in := lab("ipvsadm-Ln.txt") + lab("ip-addr-show-kube-ipvs0.txt") + lab("ipset-list.txt")
	tests := []struct {
		line int
		want string
	}{
		{4, "NodePort"}, // 172.18.0.2:30089: the set KUBE-NODE-PORT-TCP does not hold 30089...
		{9, "ClusterIP 10.96.0.10 port 80, in the set KUBE-CLUSTER-IP"},
		{13, "not a Service address kube-proxy programs"},
		{19, "ClusterIP 10.96.0.30 port 514, in the service CIDR 10.96.0.0/12"},
		{21, "ClusterIP 10.96.0.20 port 9999, in the set KUBE-CLUSTER-IP"},
		{23, "ClusterIP fd00:10:96::a port 443, in the set KUBE-6-CLUSTER-IP"},
		{29, "firewall-mark service 100"},
	}
	rep := Explain(paste.Read(in), defaultOptions())
	notes := map[int]string{}
	for _, a := range rep.Nodes[0].Lines {
		notes[a.Line] = a.Note
	}
	for _, tt := range tests {
		if !strings.Contains(notes[tt.line], tt.want) {
			t.Errorf("line %d: %q, want it to contain %q", tt.line, notes[tt.line], tt.want)
		}
	}
}

// TestServicesFromCluster names each virtual server's Service from a fake clientset holding
// the walk's Services (get-svc-pods.txt of the v1.37.2-configmap record) and a
// load-balancer and an external IP.
func TestServicesFromCluster(t *testing.T) {
	svc := func(ns, name string, typ corev1.ServiceType, clusterIP string, port, nodePort int32, portName string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP, ClusterIPs: []string{clusterIP},
				Ports: []corev1.ServicePort{{Name: portName, Protocol: corev1.ProtocolTCP, Port: port, NodePort: nodePort}}},
		}
	}
	lb := svc("shop", "front", corev1.ServiceTypeLoadBalancer, "10.96.7.7", 443, 31443, "")
	lb.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}
	ext := svc("shop", "legacy", corev1.ServiceTypeClusterIP, "10.96.8.8", 8080, 0, "http-alt")
	ext.Spec.ExternalIPs = []string{"198.51.100.4"}
	client := fake.NewClientset(
		svc("default", "kubernetes", corev1.ServiceTypeClusterIP, "10.96.0.1", 443, 0, "https"),
		svc("default", "service-test1", corev1.ServiceTypeNodePort, "10.96.65.29", 80, 30089, "http"),
		lb, ext,
	)
	services, err := ListServices(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	walk := fixture.Read(t, "walk/ipvsadm.txt")
	in := ">>> lab-node\n" + walk + "TCP  192.0.2.10:443 rr\n  -> 10.244.0.9:8443 Masq 1 0 0\n" +
		"TCP  198.51.100.4:8080 rr\n  -> 10.244.0.8:8080 Masq 1 0 0\nTCP  10.96.99.99:80 rr\n  -> 10.244.0.7:80 Masq 1 0 0\n"
	o := defaultOptions()
	o.Services = services
	rep := Explain(paste.Read(in), o)
	want := map[int]string{
		5:  "NodePort 30089 on the node address 10.0.2.15, Service default/service-test1 port http (type NodePort)",
		7:  "ClusterIP 10.96.0.1 port 443, Service default/kubernetes port https (type ClusterIP)",
		9:  "ClusterIP 10.96.65.29 port 80, Service default/service-test1 port http (type NodePort)",
		11: "load-balancer IP 192.0.2.10 port 443, Service shop/front port 443 (type LoadBalancer)",
		13: "external IP 198.51.100.4 port 8080, Service shop/legacy port http-alt (type ClusterIP)",
		15: "ClusterIP 10.96.99.99 port 80, in the service CIDR",
	}
	got := map[int]string{}
	for _, a := range rep.Nodes[0].Lines {
		got[a.Line] = a.Note
	}
	for line, w := range want {
		if !strings.Contains(got[line], w) {
			t.Errorf("line %d: %q, want it to contain %q", line, got[line], w)
		}
	}
	var findings []string
	for _, f := range rep.Nodes[0].Findings {
		findings = append(findings, fmt.Sprintf("%d: %s", f.Line, f.Text))
	}
	if len(findings) != 1 || !strings.HasPrefix(findings[0], "15: no Service of the cluster has TCP 10.96.99.99:80") {
		t.Errorf("findings %q, want one: no Service has TCP 10.96.99.99:80 (line 15)", findings)
	}
	if !slices.ContainsFunc(rep.Nodes[0].Lines, func(a Annotation) bool { return a.Line == 6 && strings.HasPrefix(a.Note, "real server") }) {
		t.Errorf("line 6 (a real server) is not explained: %+v", rep.Nodes[0].Lines)
	}
}

// FuzzExplain explains anything the lenient reader reads: no input makes it panic, and
// every node of the paste has its report.
func FuzzExplain(f *testing.F) {
	f.Add(fixture.Read(f, "multinode.paste"))
	f.Add("TCP 10.106.71.137:80 rr\n...\nFWM 1 rr\n  -> 10.244.0.1:0 Route 1 0 0\n[root@n ~]# ip addr show kube-ipvs0 | grep inet\n    inet 10.96.0.1/32 scope global kube-ipvs0\n")
	f.Fuzz(func(t *testing.T, in string) {
		p := paste.Read(in)
		r := Explain(p, defaultOptions())
		if len(r.Nodes) != len(p.Nodes) {
			t.Fatalf("%d node reports for %d nodes", len(r.Nodes), len(p.Nodes))
		}
		var b strings.Builder
		if err := r.Write(&b); err != nil {
			t.Fatal(err)
		}
	})
}
