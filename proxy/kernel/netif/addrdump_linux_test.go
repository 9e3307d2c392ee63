package netif

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// newAddrPayload is an RTM_NEWADDR payload as the kernel lists an address: struct
// ifaddrmsg, then the attributes given, then a label and flags as the kernel adds them.
func newAddrPayload(family, prefixLen byte, index uint32, attrs ...[]byte) []byte {
	b := []byte{family, prefixLen, 0, unix.RT_SCOPE_UNIVERSE}
	b = binary.NativeEndian.AppendUint32(b, index)
	for _, a := range attrs {
		b = append(b, a...)
	}
	b = nlbatch.AppendAttr(b, unix.IFA_LABEL, []byte("kube-ipvs0\x00"))
	return nlbatch.AppendU32Attr(b, unix.IFA_FLAGS, unix.IFA_F_PERMANENT)
}

func ifaAttr(typ uint16, addr string) []byte {
	return nlbatch.AppendAttr(nil, typ, netip.MustParseAddr(addr).AsSlice())
}

func TestDecodeAddrMsg(t *testing.T) {
	v4Mapped := net.ParseIP("10.0.0.1") // 16 bytes
	tests := []struct {
		name    string
		payload []byte
		want    string // "" for no address
		wantErr bool
	}{
		{"plain IPv4", newAddrPayload(unix.AF_INET, 24, 3, ifaAttr(unix.IFA_LOCAL, "10.244.1.5"), ifaAttr(unix.IFA_ADDRESS, "10.244.1.5")), "10.244.1.5/24", false},
		{"IPv4 service address", newAddrPayload(unix.AF_INET, 32, 3, ifaAttr(unix.IFA_LOCAL, "10.96.0.1"), ifaAttr(unix.IFA_ADDRESS, "10.96.0.1")), "10.96.0.1/32", false},
		{"IPv4 with a peer: the local address as a host", newAddrPayload(unix.AF_INET, 24, 3, ifaAttr(unix.IFA_LOCAL, "10.0.0.1"), ifaAttr(unix.IFA_ADDRESS, "10.0.0.2")), "10.0.0.1/32", false},
		{"IPv4 local only", newAddrPayload(unix.AF_INET, 24, 3, ifaAttr(unix.IFA_LOCAL, "10.0.0.1")), "10.0.0.1/32", false},
		{"IPv4 address only", newAddrPayload(unix.AF_INET, 24, 3, ifaAttr(unix.IFA_ADDRESS, "10.0.0.1")), "10.0.0.1/24", false},
		{"IPv6", newAddrPayload(unix.AF_INET6, 64, 3, ifaAttr(unix.IFA_ADDRESS, "fd00::5")), "fd00::5/64", false},
		{"IPv6 with a peer", newAddrPayload(unix.AF_INET6, 64, 3, ifaAttr(unix.IFA_LOCAL, "fd00::5"), ifaAttr(unix.IFA_ADDRESS, "fd00::6")), "fd00::5/128", false},
		{"IPv6 local equal to address is still a host", newAddrPayload(unix.AF_INET6, 64, 3, ifaAttr(unix.IFA_LOCAL, "fd00::5"), ifaAttr(unix.IFA_ADDRESS, "fd00::5")), "fd00::5/128", false},
		{"IPv4 in 16 bytes equal to the local one", newAddrPayload(unix.AF_INET, 8, 3, ifaAttr(unix.IFA_LOCAL, "10.0.0.1"), nlbatch.AppendAttr(nil, unix.IFA_ADDRESS, v4Mapped)), "10.0.0.1/8", false},
		{"prefix length too long reads as 0", newAddrPayload(unix.AF_INET, 40, 3, ifaAttr(unix.IFA_ADDRESS, "10.0.0.1")), "10.0.0.1/0", false},
		{"no address", newAddrPayload(unix.AF_INET, 24, 3), "", false},
		{"address of 5 bytes", newAddrPayload(unix.AF_INET, 24, 3, nlbatch.AppendAttr(nil, unix.IFA_ADDRESS, []byte{1, 2, 3, 4, 5})), "", false},
		{"short ifaddrmsg", []byte{unix.AF_INET, 24, 0}, "", true},
		{"attribute longer than the message", append(newAddrPayload(unix.AF_INET, 24, 3), 40, 0, 1, 0), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			index, p, ok, err := decodeAddrMsg(tt.payload)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, expected one: %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if index != 3 {
				t.Errorf("index %d, expected 3", index)
			}
			got := ""
			if ok {
				got = p.String()
			}
			if got != tt.want {
				t.Errorf("decoded %q, expected %q", got, tt.want)
			}
		})
	}
}

// addrDump is the payloads of an address dump of n /32 addresses on link 3, as the
// kernel lists kube-ipvs0's at n Services.
func addrDump(n int) [][]byte {
	msgs := make([][]byte, n)
	for i := range msgs {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)}), 32)
		msg := appendAddrMsg(nil, unix.RTM_NEWADDR, unix.NLM_F_MULTI, 1, 3, p)
		msg = nlbatch.AppendAttr(msg, unix.IFA_LABEL, []byte("kube-ipvs0\x00"))
		msg = nlbatch.AppendU32Attr(msg, unix.IFA_FLAGS, unix.IFA_F_PERMANENT)
		msg = nlbatch.AppendAttr(msg, unix.IFA_CACHEINFO, make([]byte, 16))
		msgs[i] = msg[unix.SizeofNlMsghdr:]
	}
	return msgs
}

// BenchmarkDecodeAddrDump decodes an address dump of serviceAddrs /32 addresses as
// Links does, without a kernel.
func BenchmarkDecodeAddrDump(b *testing.B) {
	msgs := addrDump(serviceAddrs)
	b.ReportAllocs()
	b.ReportMetric(serviceAddrs, "addrs/op")
	for b.Loop() {
		t := addrTable{}
		for _, m := range msgs {
			if err := t.add(unix.RTM_NEWADDR, m); err != nil {
				b.Fatal(err)
			}
		}
		if len(t[3]) != serviceAddrs {
			b.Fatalf("decoded %d addresses, expected %d", len(t[3]), serviceAddrs)
		}
	}
}

// TestLinksAgreesWithAddrList binds plain and point-to-point addresses of both families
// in a throwaway namespace and expects Links to list each link's addresses as
// vishvananda/netlink's AddrList read through prefixFromIPNet, which Links used before.
func TestLinksAgreesWithAddrList(t *testing.T) {
	l := newVethPairLinux(t, "h3-veth")
	veth, err := l.h.LinkByName("h3-veth0")
	if err != nil {
		t.Fatal(err)
	}
	addrs := []*netlink.Addr{
		{IPNet: ipNetFromPrefix(netip.MustParsePrefix("10.244.1.5/24"))},
		{IPNet: ipNetFromPrefix(netip.MustParsePrefix("10.96.0.1/32"))},
		{IPNet: ipNetFromPrefix(netip.MustParsePrefix("10.0.0.1/32")), Peer: ipNetFromPrefix(netip.MustParsePrefix("10.0.0.2/32"))},
		{IPNet: ipNetFromPrefix(netip.MustParsePrefix("10.1.0.1/24")), Peer: ipNetFromPrefix(netip.MustParsePrefix("10.2.0.0/24"))},
		{IPNet: ipNetFromPrefix(netip.MustParsePrefix("fd00:10:244::5/64"))},
		{IPNet: ipNetFromPrefix(netip.MustParsePrefix("fd00:10:96::1/128"))},
		{IPNet: ipNetFromPrefix(netip.MustParsePrefix("fd00:1::1/64")), Peer: ipNetFromPrefix(netip.MustParsePrefix("fd00:2::1/64"))},
	}
	for _, a := range addrs {
		if err := l.h.AddrAdd(veth, a); err != nil {
			t.Fatalf("AddrAdd(%s peer %s): %v", a.IPNet, a.Peer, err)
		}
	}
	listed, err := l.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][]netip.Prefix{}
	for _, a := range listed {
		if p, ok := prefixFromIPNet(a.IPNet); ok {
			want[a.LinkIndex] = append(want[a.LinkIndex], p)
		}
	}
	links, err := l.Links()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, link := range links {
		if !slices.Equal(link.Addrs, want[link.Index]) {
			t.Errorf("%s: Links lists %v, AddrList %v", link.Name, link.Addrs, want[link.Index])
		}
		n += len(link.Addrs)
		delete(want, link.Index)
	}
	if len(want) != 0 {
		t.Errorf("AddrList has addresses of links Links does not list: %v", want)
	}
	if n < len(addrs) {
		t.Errorf("Links lists %d addresses, expected at least the %d bound", n, len(addrs))
	}
}

// prefixFromIPNet reads an address of vishvananda/netlink's as a prefix, as Links did
// before it decoded the dump itself (decodeAddrMsg follows these rules).
func prefixFromIPNet(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}

// ipNetFromPrefix is a prefix as vishvananda/netlink takes it.
func ipNetFromPrefix(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}
