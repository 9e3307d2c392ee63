//go:build lab

package kernellab_test

import (
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
)

// These tests prove the guest is what the lab promises: real IPVS that moby/ipvs programs and
// ipvsadm reads back, schedulers loaded on demand, and the iptables, ipset and iproute2
// tools of a kube-proxy node. They run only in the lab (`make lab-test`).

// guestTool runs a tool inside the guest and returns its output; failure fails the test.
func guestTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func ipvsHandle(t *testing.T) *ipvs.Handle {
	t.Helper()
	h, err := ipvs.New("")
	if err != nil {
		t.Fatalf("ipvs.New: %v", err)
	}
	if err := h.Flush(); err != nil {
		t.Fatalf("flushing IPVS: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Flush(); err != nil {
			t.Errorf("flushing IPVS after the test: %v", err)
		}
		h.Close()
	})
	return h
}

func TestGuestHasIPVS(t *testing.T) {
	labtest.Require(t)
	b, err := os.ReadFile("/proc/net/ip_vs")
	if err != nil {
		t.Fatalf("reading /proc/net/ip_vs: %v", err)
	}
	if !strings.HasPrefix(string(b), "IP Virtual Server version") {
		t.Fatalf("/proc/net/ip_vs starts with %q; expected the IPVS version banner", firstLine(string(b)))
	}
}

func TestVirtualServerVisibleToIpvsadm(t *testing.T) {
	labtest.Require(t)
	h := ipvsHandle(t)
	svc := &ipvs.Service{
		AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP,
		Address: net.ParseIP("10.96.0.10"), Port: 80, SchedName: ipvs.RoundRobin, Netmask: 0xffffffff,
	}
	if err := h.NewService(svc); err != nil {
		t.Fatalf("creating virtual server 10.96.0.10:80: %v", err)
	}
	dst := &ipvs.Destination{AddressFamily: syscall.AF_INET, Address: net.ParseIP("10.244.1.5"), Port: 8080, Weight: 1,
		ConnectionFlags: ipvs.ConnFwdMasq}
	if err := h.NewDestination(svc, dst); err != nil {
		t.Fatalf("adding real server 10.244.1.5:8080: %v", err)
	}
	got, err := h.GetServices()
	if err != nil || len(got) != 1 || !got[0].Address.Equal(svc.Address) || got[0].SchedName != "rr" {
		t.Fatalf("GetServices = %+v, %v; expected the one rr service at 10.96.0.10:80", got, err)
	}

	out := guestTool(t, "ipvsadm", "-Ln")
	for _, want := range []string{
		`(?m)^TCP  10\.96\.0\.10:80 rr\s*$`,
		`(?m)^  -> 10\.244\.1\.5:8080\s+Masq\s+1\s+0\s+0\s*$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("ipvsadm -Ln does not match %s:\n%s", want, out)
		}
	}
}

// TestSchedulerLoadsOnDemand uses a scheduler /init does not preload: creating the service
// works only if the kernel can load ip_vs_mh through modprobe and the packed module index.
func TestSchedulerLoadsOnDemand(t *testing.T) {
	labtest.Require(t)
	h := ipvsHandle(t)
	svc := &ipvs.Service{AddressFamily: syscall.AF_INET6, Protocol: syscall.IPPROTO_UDP,
		Address: net.ParseIP("fd00:10:96::a"), Port: 53, SchedName: "mh", Netmask: 128}
	if err := h.NewService(svc); err != nil {
		t.Fatalf("creating an mh virtual server (needs ip_vs_mh loaded on demand): %v", err)
	}
	out := guestTool(t, "ipvsadm", "-Ln", "-u", "[fd00:10:96::a]:53")
	if !strings.Contains(out, "UDP  [fd00:10:96::a]:53 mh") {
		t.Fatalf("ipvsadm -Ln does not list the mh service:\n%s", out)
	}
	if mods, _ := os.ReadFile("/proc/modules"); !strings.Contains(string(mods), "ip_vs_mh ") {
		t.Fatalf("ip_vs_mh is not in /proc/modules after use:\n%s", mods)
	}
}

func TestIptablesRulesRoundTrip(t *testing.T) {
	labtest.Require(t)
	for _, args := range [][]string{
		{"-t", "nat", "-N", "LAB-TEST"},
		{"-t", "nat", "-A", "LAB-TEST", "-m", "comment", "--comment", "lab test rule", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "RETURN"},
	} {
		guestTool(t, "iptables", args...)
	}
	t.Cleanup(func() {
		exec.Command("iptables", "-t", "nat", "-F", "LAB-TEST").Run()
		exec.Command("iptables", "-t", "nat", "-X", "LAB-TEST").Run()
	})
	save := guestTool(t, "iptables-save", "-t", "nat")
	want := `-A LAB-TEST -m comment --comment "lab test rule" -m addrtype --dst-type LOCAL -j RETURN`
	if !strings.Contains(save, want) {
		t.Fatalf("iptables-save -t nat lacks %q:\n%s", want, save)
	}
	if v := guestTool(t, "iptables", "--version"); !strings.Contains(v, "nf_tables") {
		t.Errorf("iptables --version = %q; expected the nft back end by default", v)
	}
}

func TestIpsetMembers(t *testing.T) {
	labtest.Require(t)
	guestTool(t, "ipset", "create", "LAB-TEST", "hash:ip,port", "-exist")
	t.Cleanup(func() { exec.Command("ipset", "destroy", "LAB-TEST").Run() })
	guestTool(t, "ipset", "add", "LAB-TEST", "10.96.0.10,tcp:80", "-exist")
	out := guestTool(t, "ipset", "list", "LAB-TEST")
	if !strings.Contains(out, "Type: hash:ip,port") || !regexp.MustCompile(`(?m)^10\.96\.0\.10,tcp:80$`).MatchString(out) {
		t.Fatalf("ipset list LAB-TEST lacks the type or the member:\n%s", out)
	}
}

func TestDummyLinkAddresses(t *testing.T) {
	labtest.Require(t)
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "lab-ipvs0"}}
	if err := netlink.LinkAdd(link); err != nil {
		t.Fatalf("adding dummy link lab-ipvs0: %v", err)
	}
	t.Cleanup(func() { netlink.LinkDel(link) })
	addr, _ := netlink.ParseAddr("10.96.0.10/32")
	if err := netlink.AddrAdd(link, addr); err != nil {
		t.Fatalf("adding 10.96.0.10/32: %v", err)
	}
	out := guestTool(t, "ip", "addr", "show", "dev", "lab-ipvs0")
	if !strings.Contains(out, "inet 10.96.0.10/32 scope global lab-ipvs0") {
		t.Fatalf("ip addr show (iproute2) lacks the address:\n%s", out)
	}
	if js := guestTool(t, "ip", "-j", "addr", "show", "dev", "lab-ipvs0"); !strings.Contains(js, `"local":"10.96.0.10"`) {
		t.Fatalf("ip -j addr show lacks the address; is ip iproute2's?\n%s", js)
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
