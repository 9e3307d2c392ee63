//go:build lab && linux

package pods_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
)

// setSysctl writes a /proc/sys value for the test and restores the old one after.
func setSysctl(t *testing.T, path, value string) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Fatalf("write %s=%s: %v", path, value, err)
	}
	t.Cleanup(func() { os.WriteFile(path, old, 0o644) })
}

// nodeAddresses gives the root namespace addresses on a dummy link, as a node has them:
// the kernel takes the source of root-to-pod packets from them (the host veths have none).
func nodeAddresses(t *testing.T, link string, prefixes ...netip.Prefix) {
	t.Helper()
	d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: link}}
	if err := netlink.LinkAdd(d); err != nil {
		t.Fatalf("create dummy %s: %v", link, err)
	}
	t.Cleanup(func() { netlink.LinkDel(d) })
	for _, p := range prefixes {
		// No duplicate address detection: the address is usable at once.
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, Flags: unix.IFA_F_NODAD}
		if err := netlink.AddrAdd(d, addr); err != nil {
			t.Fatalf("add %s to %s: %v", p, link, err)
		}
	}
	if err := netlink.LinkSetUp(d); err != nil {
		t.Fatalf("set %s up: %v", link, err)
	}
}

func createPod(t *testing.T, spec pods.Spec) *pods.Pod {
	t.Helper()
	p, err := pods.Create(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Delete(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := p.Serve(8080); err != nil {
		t.Fatal(err)
	}
	return p
}

// threadsIn checks that every thread of the process is in the network namespace ns (as
// /proc/PID/task/TID/ns/net names it).
func threadsIn(t *testing.T, ns string) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		link, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
		if err != nil {
			continue // the thread ended meanwhile
		}
		if link != ns {
			t.Errorf("thread %s is in network namespace %s; expected every thread back in the root one, %s", task.Name(), link, ns)
		}
	}
}

func url(ip netip.Addr, port uint16) string {
	return "http://" + netip.AddrPortFrom(ip, port).String() + "/"
}

// Pods reach each other and the root namespace reaches them, over IPv4 and IPv6, each
// answering with its own name from inside its namespace; Delete takes the pod off the node.
func TestPodsInLab(t *testing.T) {
	labtest.Require(t)
	setSysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
	setSysctl(t, "/proc/sys/net/ipv6/conf/all/forwarding", "1")
	rootNS, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	nodeAddresses(t, "node0", netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("2001:db8::10/64"))
	ctx := context.Background()

	a := createPod(t, pods.Spec{Name: "pod-a", IPs: []netip.Addr{netip.MustParseAddr("10.244.1.2"), netip.MustParseAddr("fd00:10:244:1::2")}})
	b := createPod(t, pods.Spec{Name: "pod-b", IPs: []netip.Addr{netip.MustParseAddr("10.244.1.3"), netip.MustParseAddr("fd00:10:244:1::3")}})

	root := pods.HTTPClient(&net.Dialer{}, 5*time.Second)
	fromA := pods.HTTPClient(a, 5*time.Second)
	fromB := pods.HTTPClient(b, 5*time.Second)
	tests := []struct {
		from   string
		client *http.Client
		url    string
		want   string
	}{
		{"root", root, url(a.IP(4), 8080), "pod-a"},
		{"root", root, url(a.IP(6), 8080), "pod-a"},
		{"root", root, url(b.IP(4), 8080), "pod-b"},
		{"pod-a", fromA, url(b.IP(4), 8080), "pod-b"},
		{"pod-a", fromA, url(b.IP(6), 8080), "pod-b"},
		{"pod-b", fromB, url(a.IP(4), 8080), "pod-a"},
		{"pod-a", fromA, "http://127.0.0.1:8080/", "pod-a"}, // the pod's own loopback
		{"pod-b", fromB, "http://[::1]:8080/", "pod-b"},
	}
	for _, tt := range tests {
		got, err := pods.AskName(ctx, tt.client, tt.url)
		if err != nil || got != tt.want {
			t.Errorf("from %s, GET %s = %q, %v; expected %q", tt.from, tt.url, got, err, tt.want)
		}
	}

	// Every thread of the process is back in the root namespace: the pods' namespaces
	// were entered only on locked threads, for the length of one call.
	threadsIn(t, rootNS)

	// The servers live in the pods' namespaces, not in the root one.
	if got, err := pods.AskName(ctx, root, "http://127.0.0.1:8080/"); err == nil {
		t.Errorf("the root namespace's 127.0.0.1:8080 answered %q; expected nothing listening there", got)
	}

	// One connection, many requests: a session from pod-a to pod-b.
	var s *pods.Session
	s, err = pods.OpenSession(ctx, a, netip.AddrPortFrom(b.IP(4), 8080).String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		if got, err := s.AskName(5 * time.Second); err != nil || got != "pod-b" {
			t.Fatalf("session pod-a -> pod-b: %q, %v", got, err)
		}
	}

	// A second pod may not take an existing pod's veth.
	if _, err := pods.Create(pods.Spec{Name: "pod-c", IPs: []netip.Addr{netip.MustParseAddr("10.244.1.4")}, HostVeth: b.HostVeth()}); err == nil ||
		!strings.Contains(err.Error(), "already exists") {
		t.Errorf("Create with pod-b's veth: %v; expected an error saying it already exists", err)
	}

	// Deleting pod-b removes its veth and its server; pod-a no longer reaches it.
	if err := b.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(b.HostVeth()); !errors.As(err, new(netlink.LinkNotFoundError)) {
		t.Errorf("after Delete, looking up %s: %v; expected it gone", b.HostVeth(), err)
	}
	if got, err := s.AskName(2 * time.Second); err == nil {
		t.Errorf("the session to the deleted pod-b still answered %q", got)
	}
	if got, err := pods.AskName(ctx, fromA, url(b.IP(4), 8080)); err == nil {
		t.Errorf("pod-a still reached the deleted pod-b: %q", got)
	}
	if err := b.Delete(); err != nil {
		t.Errorf("second Delete: %v; expected none", err)
	}
}
