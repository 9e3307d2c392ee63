package ipvs

import (
	"encoding/binary"
	"net"
	"net/netip"
	"reflect"
	"syscall"
	"testing"

	mobyipvs "github.com/moby/ipvs"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// rawServiceMsg is a service answer's payload with exactly the given attributes in its
// service nest, for the malformed ones kernelServiceMsg cannot write.
func rawServiceMsg(attrs ...[]byte) []byte {
	b := []byte{cmdNewService, genlVersion, 0, 0, 0, 0, cmdAttrService, 0}
	for _, a := range attrs {
		b = append(b, a...)
	}
	binary.NativeEndian.PutUint16(b[4:], uint16(len(b)-4))
	return b
}

// kernelServiceMsg is the payload of one service dump answer as the kernel's
// ip_vs_genl_fill_service writes it for s: the address as a 16-byte union nf_inet_addr,
// the flags as struct ip_vs_flags, the statistics nested. extra is appended inside the
// service nest.
func kernelServiceMsg(s mobyipvs.Service, extra ...[]byte) []byte {
	b := []byte{cmdNewService, genlVersion, 0, 0}
	nest := len(b)
	b = nlbatch.AppendAttr(b, cmdAttrService, nil)
	b = nlbatch.AppendU16Attr(b, svcAttrAF, s.AddressFamily)
	if s.FWMark != 0 {
		b = nlbatch.AppendU32Attr(b, svcAttrFWMark, s.FWMark)
	} else {
		var addr [16]byte
		copy(addr[:], rawIP(s.Address))
		b = nlbatch.AppendU16Attr(b, svcAttrProtocol, s.Protocol)
		b = nlbatch.AppendAttr(b, svcAttrAddr, addr[:])
		b = nlbatch.AppendAttr(b, svcAttrPort, portBytes(s.Port))
	}
	b = nlbatch.AppendAttr(b, svcAttrSchedName, append([]byte(s.SchedName), 0))
	if s.PEName != "" {
		b = nlbatch.AppendAttr(b, svcAttrPEName, append([]byte(s.PEName), 0))
	}
	flags := binary.NativeEndian.AppendUint32(nil, s.Flags)
	b = nlbatch.AppendAttr(b, svcAttrFlags, binary.NativeEndian.AppendUint32(flags, ^uint32(0)))
	b = nlbatch.AppendU32Attr(b, svcAttrTimeout, s.Timeout)
	b = nlbatch.AppendU32Attr(b, svcAttrNetmask, s.Netmask)
	stats := len(b)
	b = nlbatch.AppendAttr(b, svcAttrStats, nil)
	b = nlbatch.AppendU32Attr(b, 1, 12) // IPVS_STATS_ATTR_CONNS
	binary.NativeEndian.PutUint16(b[stats:], uint16(len(b)-stats))
	for _, e := range extra {
		b = append(b, e...)
	}
	binary.NativeEndian.PutUint16(b[nest:], uint16(len(b)-nest))
	return b
}

// ipv4Mask is an IPv4 netmask as the kernel holds it (see toService).
func ipv4Mask(ones int) uint32 { return binary.NativeEndian.Uint32(net.CIDRMask(ones, 32)) }

// serviceMsgCases are the decoder's cases: the kernel's answers for services of every
// kind, and malformed ones.
var serviceMsgCases = []struct {
	name    string
	msg     []byte
	want    dataplane.VirtualServer
	wantErr string // empty: decodes to want
}{
	{
		name: "IPv4 TCP",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.IPv4(10, 96, 0, 1),
			Port: 443, SchedName: "rr", Flags: flagHashed, Netmask: ipv4Mask(32)}),
		want: dataplane.VirtualServer{Protocol: dataplane.TCP, Family: 4, Address: netip.MustParseAddr("10.96.0.1"), Port: 443, Scheduler: "rr"},
	},
	{
		name: "IPv6 UDP",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET6, Protocol: syscall.IPPROTO_UDP, Address: net.ParseIP("fd00:10:96::a"),
			Port: 53, SchedName: "wlc", Flags: flagHashed, Netmask: 128}),
		want: dataplane.VirtualServer{Protocol: dataplane.UDP, Family: 6, Address: netip.MustParseAddr("fd00:10:96::a"), Port: 53, Scheduler: "wlc"},
	},
	{
		name: "IPv4 firewall mark",
		msg:  kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, FWMark: 0x4000, SchedName: "lc", Flags: flagHashed, Netmask: ipv4Mask(32)}),
		want: dataplane.VirtualServer{FWMark: 0x4000, Family: 4, Scheduler: "lc"},
	},
	{
		name: "IPv6 firewall mark",
		msg:  kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET6, FWMark: 7, SchedName: "wrr", Flags: flagHashed, Netmask: 128}),
		want: dataplane.VirtualServer{FWMark: 7, Family: 6, Scheduler: "wrr"},
	},
	{
		name: "IPv4 persistence with a /24 netmask",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_SCTP, Address: net.IPv4(10, 96, 0, 20),
			Port: 9999, SchedName: "sh", Flags: flagHashed | flagPersistent, Timeout: 10800, Netmask: ipv4Mask(24)}),
		want: dataplane.VirtualServer{Protocol: dataplane.SCTP, Family: 4, Address: netip.MustParseAddr("10.96.0.20"), Port: 9999, Scheduler: "sh",
			Persistent: true, Timeout: 10800, PrefixLen: 24},
	},
	{
		name: "IPv6 persistence with a /64 netmask and the sip persistence engine",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET6, Protocol: syscall.IPPROTO_UDP, Address: net.ParseIP("2001:db8::5"),
			Port: 5060, SchedName: "dh", PEName: "sip", Flags: flagHashed | flagPersistent, Timeout: 180, Netmask: 64}),
		want: dataplane.VirtualServer{Protocol: dataplane.UDP, Family: 6, Address: netip.MustParseAddr("2001:db8::5"), Port: 5060, Scheduler: "dh",
			Persistent: true, Timeout: 180, PrefixLen: 64},
	},
	{
		name: "a timeout without persistence is dropped",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.IPv4(10, 96, 0, 2),
			Port: 80, SchedName: "sed", Flags: flagHashed, Timeout: 300, Netmask: ipv4Mask(32)}),
		want: dataplane.VirtualServer{Protocol: dataplane.TCP, Family: 4, Address: netip.MustParseAddr("10.96.0.2"), Port: 80, Scheduler: "sed"},
	},
	{
		name: "one-packet scheduling",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_UDP, Address: net.IPv4(10, 96, 0, 10),
			Port: 53, SchedName: "rr", Flags: flagHashed | flagOnePacket, Netmask: ipv4Mask(32)}),
		want: dataplane.VirtualServer{Protocol: dataplane.UDP, Family: 4, Address: netip.MustParseAddr("10.96.0.10"), Port: 53, Scheduler: "rr", OnePacket: true},
	},
	{
		name: "scheduler flags",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.IPv4(10, 96, 0, 11),
			Port: 8443, SchedName: "mh", Flags: flagHashed | dataplane.SchedFlag1 | dataplane.SchedFlag2 | dataplane.SchedFlag3, Netmask: ipv4Mask(32)}),
		want: dataplane.VirtualServer{Protocol: dataplane.TCP, Family: 4, Address: netip.MustParseAddr("10.96.0.11"), Port: 8443, Scheduler: "mh",
			SchedFlags: dataplane.SchedFlag1 | dataplane.SchedFlag2 | dataplane.SchedFlag3},
	},
	{
		name: "an attribute of a newer kernel is skipped",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.IPv4(10, 96, 0, 12),
			Port: 80, SchedName: "twos", Flags: flagHashed, Netmask: ipv4Mask(32)}, nlbatch.AppendU32Attr(nil, 99, 1)),
		want: dataplane.VirtualServer{Protocol: dataplane.TCP, Family: 4, Address: netip.MustParseAddr("10.96.0.12"), Port: 80, Scheduler: "twos"},
	},
	{
		name: "a scheduler name not among KernelSchedulers",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.IPv4(10, 96, 0, 13),
			Port: 80, SchedName: "myown", Flags: flagHashed, Netmask: ipv4Mask(32)}),
		want: dataplane.VirtualServer{Protocol: dataplane.TCP, Family: 4, Address: netip.MustParseAddr("10.96.0.13"), Port: 80, Scheduler: "myown"},
	},
	{
		name:    "an attribute running past the message",
		msg:     append([]byte{cmdNewService, genlVersion, 0, 0}, 40, 0, cmdAttrService, 0, 6, 0, svcAttrAF, 0, 2, 0, 0, 0),
		wantErr: "netlink attribute of length 40 in 12 bytes",
	},
	{
		name:    "a nested attribute running past its nest",
		msg:     append([]byte{cmdNewService, genlVersion, 0, 0}, 12, 0, cmdAttrService, 0, 9, 0, svcAttrAF, 0, 2, 0, 0, 0),
		wantErr: "netlink attribute of length 9 in 8 bytes",
	},
	{
		name:    "an address family of one byte",
		msg:     append([]byte{cmdNewService, genlVersion, 0, 0}, 12, 0, cmdAttrService, 0, 5, 0, svcAttrAF, 0, 2, 0, 0, 0),
		wantErr: "IPVS service attribute 1 of 1 bytes: expected at least 2",
	},
	{
		name:    "no service attribute",
		msg:     append([]byte{cmdNewService, genlVersion, 0, 0}, nlbatch.AppendU32Attr(nil, cmdAttrDest, 1)...),
		wantErr: "no IPVS_CMD_ATTR_SERVICE attribute",
	},
	{
		name:    "no generic netlink header",
		msg:     []byte{cmdNewService, genlVersion},
		wantErr: "IPVS service message of 2 bytes",
	},
	{
		name: "an IPv6 address of 4 bytes",
		msg: rawServiceMsg(
			nlbatch.AppendU16Attr(nil, svcAttrAF, syscall.AF_INET6),
			nlbatch.AppendU16Attr(nil, svcAttrProtocol, syscall.IPPROTO_TCP),
			nlbatch.AppendAttr(nil, svcAttrAddr, []byte{10, 0, 0, 1})),
		wantErr: "address attribute of 4 bytes for address family 10: expected at least 16",
	},
	{
		name:    "an unknown address family",
		msg:     kernelServiceMsg(mobyipvs.Service{AddressFamily: 7, Protocol: syscall.IPPROTO_TCP, Address: net.IPv4(10, 0, 0, 1), SchedName: "rr"}),
		wantErr: "address family 7: expected AF_INET or AF_INET6",
	},
	{
		name:    "ICMP",
		msg:     kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_ICMP, Address: net.IPv4(10, 0, 0, 1), SchedName: "rr"}),
		wantErr: "IP protocol 1: expected TCP, UDP or SCTP",
	},
	{
		name: "a netmask with a hole",
		msg: kernelServiceMsg(mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.IPv4(10, 0, 0, 1), SchedName: "rr",
			Flags: flagPersistent, Timeout: 60, Netmask: binary.NativeEndian.Uint32([]byte{255, 0, 255, 0})}),
		wantErr: "persistence netmask 255.0.255.0 is not contiguous",
	},
	{
		name: "an address service without an address",
		msg: rawServiceMsg(
			nlbatch.AppendU16Attr(nil, svcAttrAF, syscall.AF_INET),
			nlbatch.AppendU16Attr(nil, svcAttrProtocol, syscall.IPPROTO_UDP)),
		wantErr: "virtual server with address <nil>: expected an IP address",
	},
}

func TestDecodeServiceMsg(t *testing.T) {
	for _, c := range serviceMsgCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodeServiceMsg(c.msg)
			if !wanterr.Check(t, err, c.wantErr) {
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("decodeServiceMsg =\n  %+v\nexpected\n  %+v", got, c.want)
			}
		})
	}
}

// TestSchedulerNameShared checks that a known scheduler's name is not a new string per
// service.
func TestSchedulerNameShared(t *testing.T) {
	name := []byte("wrr\x00")
	if n := testing.AllocsPerRun(100, func() { _ = schedulerName(name) }); n != 0 {
		t.Errorf("schedulerName(%q) allocates %v times, expected 0", name, n)
	}
	if got := schedulerName([]byte("ovf")); got != "ovf" {
		t.Errorf("schedulerName without a NUL = %q, expected ovf", got)
	}
}

// FuzzDecodeServiceMsg feeds arbitrary answers to the decoder: it must not panic, and what
// it decodes, written as the kernel would hold it, must read back as normalizeService
// gives it.
func FuzzDecodeServiceMsg(f *testing.F) {
	for _, c := range serviceMsgCases {
		f.Add(c.msg)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		vs, err := decodeServiceMsg(msg)
		if err != nil {
			return
		}
		if vs.Family != 4 && vs.Family != 6 {
			t.Fatalf("decoded family %d", vs.Family)
		}
		if (vs.FWMark != 0) == (vs.Protocol != "") || vs.FWMark == 0 && !vs.Address.IsValid() {
			t.Fatalf("decoded %+v: expected a mark, or a protocol with an address", vs)
		}
		s, err := toService(vs)
		if err != nil {
			return // a prefix length or timeout we would not write
		}
		want, _ := normalizeService(vs)
		back, err := decodeServiceMsg(kernelServiceMsg(*s))
		if err != nil || !reflect.DeepEqual(back, want) {
			t.Fatalf("decoded %+v; written and read again: %+v, %v; expected %+v", vs, back, err, want)
		}
	})
}
