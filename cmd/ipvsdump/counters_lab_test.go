//go:build lab

package main

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
)

// The counter listings are compared after real traffic: a pod serving HTTP behind a
// virtual server whose address is bound to a dummy link, as kube-proxy binds a ClusterIP
// to kube-ipvs0, and requests from the root namespace, each a new connection.
const (
	countersVIP      = "10.96.77.7"
	countersPodIP    = "10.244.77.2"
	countersRequests = 5
)

// TestCountersMatchIPVSAdmInLab requires ipvsdump --stats and --rate, with and without
// --exact, to equal Debian's ipvsadm byte for byte over a table with non-zero counters.
func TestCountersMatchIPVSAdmInLab(t *testing.T) {
	labtest.Require(t)
	h := openIPVS(t)
	pod, err := pods.Create(pods.Spec{Name: "counters", IPs: []netip.Addr{netip.MustParseAddr(countersPodIP)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pod.Delete(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := pod.Serve(8080); err != nil {
		t.Fatal(err)
	}
	bindVIP(t, "ipvsdump0", netip.MustParsePrefix(countersVIP+"/32"))
	table := append(labTable(), dataplane.VirtualServer{
		Protocol: dataplane.TCP, Address: netip.MustParseAddr(countersVIP), Port: 80, Scheduler: "rr",
		RealServers: []dataplane.RealServer{{Address: netip.MustParseAddr(countersPodIP), Port: 8080, Forward: dataplane.Masq, Weight: 1}},
	})
	programIPVS(t, h, table)

	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range countersRequests {
		if name, err := pods.AskName(context.Background(), c, "http://"+countersVIP+"/"); err != nil || name != "counters" {
			t.Fatalf("GET http://%s/ = %q, %v; expected the pod's name through IPVS", countersVIP, name, err)
		}
	}
	// The kernel adds its per-CPU counters into the listed ones every 2 seconds.
	time.Sleep(3 * time.Second)

	stats, err := dataplane.ParseIPVSAdmStats(ipvsadmOutput(t, "-Ln", "--stats", "--exact"))
	if err != nil {
		t.Fatal(err)
	}
	vs, ok := stats.Service(dataplane.ServiceKey{Protocol: dataplane.TCP, Address: netip.MustParseAddr(countersVIP), Port: 80})
	if !ok || vs.Stats.Conns != countersRequests || vs.Stats.InPkts < 3*countersRequests || vs.Stats.OutPkts < 2*countersRequests {
		t.Fatalf("ipvsadm -Ln --stats lists %s with %+v: expected %d connections and their packets", countersVIP, vs.Stats, countersRequests)
	}

	for _, args := range [][]string{{"--stats"}, {"--stats", "--exact"}, {"--rate"}, {"--rate", "--exact"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// The rates change at each 2-second tick of the kernel's estimator: a tick
			// between the two reads makes them differ, so each pair is tried a few times.
			var want, got string
			for range 3 {
				want = ipvsadmOutput(t, append([]string{"-Ln"}, args...)...)
				var stderr string
				var code int
				got, stderr, code = runArgs(t, kernel.Linux, args...)
				if code != exitOK || stderr != "" {
					t.Fatalf("ipvsdump %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, stderr)
				}
				if got == want {
					return
				}
			}
			t.Errorf("ipvsdump %s differs from ipvsadm -Ln %[1]s (- ipvsadm, + ipvsdump):\n%s", strings.Join(args, " "), lineDiff(want, got))
		})
	}
}

// bindVIP puts the prefix on a new dummy link, down as kube-ipvs0 is: its address is
// local all the same, so the root namespace's packets to it go through IPVS.
func bindVIP(t *testing.T, link string, p netip.Prefix) {
	t.Helper()
	d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: link}}
	if err := netlink.LinkAdd(d); err != nil {
		t.Fatalf("create dummy %s: %v", link, err)
	}
	t.Cleanup(func() { netlink.LinkDel(d) })
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, Flags: unix.IFA_F_NODAD}
	if err := netlink.AddrAdd(d, addr); err != nil {
		t.Fatalf("add %s to %s: %v", p, link, err)
	}
}
