package ipvs

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"reflect"
	"syscall"
	"testing"

	mobyipvs "github.com/moby/ipvs"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/labtest"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// maskBytes is the netmask as the kernel holds it: the raw bytes of the __be32.
func maskBytes(netmask uint32) net.IP {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], netmask)
	return net.IP(b[:])
}

func TestToService(t *testing.T) {
	for _, c := range []struct {
		name     string
		vs       dataplane.VirtualServer
		want     mobyipvs.Service
		wantMask string // IPv4 netmask as dotted quad; empty for IPv6
	}{
		{
			name:     "kubernetes ClusterIP",
			vs:       dataplane.VirtualServer{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.0.1"), Port: 443, Scheduler: "rr"},
			want:     mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP("10.96.0.1").To4(), Port: 443, SchedName: "rr"},
			wantMask: "255.255.255.255",
		},
		{
			name: "session affinity with a /24 netmask",
			vs: dataplane.VirtualServer{Protocol: dataplane.UDP, Address: netip.MustParseAddr("10.96.0.10"), Port: 53, Scheduler: "sh",
				Persistent: true, Timeout: 10800, PrefixLen: 24, OnePacket: true, SchedFlags: dataplane.SchedFlag1 | dataplane.SchedFlag2},
			want: mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_UDP, Address: net.ParseIP("10.96.0.10").To4(), Port: 53,
				SchedName: "sh", Flags: 0x1 | 0x4 | 0x8 | 0x10, Timeout: 10800},
			wantMask: "255.255.255.0",
		},
		{
			name: "timeout without persistence is not sent",
			vs:   dataplane.VirtualServer{Protocol: dataplane.SCTP, Address: netip.MustParseAddr("10.96.0.11"), Port: 9000, Scheduler: "mh", Timeout: 300},
			want: mobyipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_SCTP, Address: net.ParseIP("10.96.0.11").To4(), Port: 9000,
				SchedName: "mh"},
			wantMask: "255.255.255.255",
		},
		{
			name: "IPv6 netmask is a prefix length",
			vs:   dataplane.VirtualServer{Protocol: dataplane.TCP, Address: netip.MustParseAddr("fd00:10:96::1"), Port: 443, Scheduler: "rr", Persistent: true, PrefixLen: 64},
			want: mobyipvs.Service{AddressFamily: syscall.AF_INET6, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP("fd00:10:96::1"), Port: 443,
				SchedName: "rr", Flags: 0x1, Netmask: 64},
		},
		{
			name: "IPv6 default netmask",
			vs:   dataplane.VirtualServer{Protocol: dataplane.TCP, Address: netip.MustParseAddr("fd00:10:96::1"), Port: 443, Scheduler: "rr"},
			want: mobyipvs.Service{AddressFamily: syscall.AF_INET6, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP("fd00:10:96::1"), Port: 443,
				SchedName: "rr", Netmask: 128},
		},
		{
			name: "IPv6 firewall mark",
			vs:   dataplane.VirtualServer{FWMark: 7, Family: 6, Scheduler: "wrr"},
			want: mobyipvs.Service{AddressFamily: syscall.AF_INET6, FWMark: 7, SchedName: "wrr", Netmask: 128},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := toService(c.vs)
			if err != nil {
				t.Fatal(err)
			}
			if c.wantMask != "" {
				if m := maskBytes(got.Netmask).String(); m != c.wantMask {
					t.Errorf("netmask bytes %s, expected %s", m, c.wantMask)
				}
				c.want.Netmask = got.Netmask
			}
			if !got.Address.Equal(c.want.Address) || len(got.Address) != len(c.want.Address) {
				t.Errorf("address %v (%d bytes), expected %v (%d bytes)", got.Address, len(got.Address), c.want.Address, len(c.want.Address))
			}
			back := *got
			got.Address, c.want.Address = nil, nil
			if !reflect.DeepEqual(*got, c.want) {
				t.Errorf("toService =\n  %+v\nexpected\n  %+v", *got, c.want)
			}
			// Reading back what was written (the kernel adds IP_VS_SVC_F_HASHED) gives
			// the normalized virtual server.
			back.Flags |= 0x2
			vs, err := fromService(&back)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := normalizeService(c.vs)
			if vs.Key() != want.Key() || !vs.SameConfig(want) || vs.Family != want.Family || vs.PrefixLen != want.PrefixLen || vs.Timeout != want.Timeout {
				t.Errorf("fromService(toService(vs)) = %+v, expected %+v", vs, want)
			}
		})
	}
}

func TestToServiceRefuses(t *testing.T) {
	for _, vs := range []dataplane.VirtualServer{
		{Protocol: "ICMP", Address: netip.MustParseAddr("10.96.0.1"), Scheduler: "rr"},
		{Protocol: dataplane.TCP, Scheduler: "rr"},
		{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.0.1"), Scheduler: "rr", PrefixLen: 33},
		{Protocol: dataplane.TCP, Address: netip.MustParseAddr("fd00::1"), Scheduler: "rr", PrefixLen: 129},
		{Protocol: dataplane.TCP, Address: netip.MustParseAddr("10.96.0.1"), Scheduler: "rr", SchedFlags: 0x40},
		{FWMark: 1, Family: 5, Scheduler: "rr"},
	} {
		if s, err := toService(vs); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("toService(%+v) = %+v, %v; expected EINVAL", vs, s, err)
		}
	}
}

func TestFromServiceRefuses(t *testing.T) {
	mask := func(b ...byte) uint32 { return binary.NativeEndian.Uint32(b) }
	for _, s := range []mobyipvs.Service{
		{AddressFamily: 7, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP("10.0.0.1").To4()},
		{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_ICMP, Address: net.ParseIP("10.0.0.1").To4()},
		{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP("10.0.0.1").To4(), Netmask: mask(255, 0, 255, 0)},
		{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: []byte{1, 2, 3}},
	} {
		if vs, err := fromService(&s); err == nil {
			t.Errorf("fromService(%+v) = %+v, expected an error", s, vs)
		}
	}
}

func TestDestinations(t *testing.T) {
	for _, c := range []struct {
		fwd   dataplane.Forwarding
		flags uint32
	}{
		{dataplane.Masq, 0}, {dataplane.Local, 1}, {dataplane.Tunnel, 2}, {dataplane.Route, 3},
	} {
		rs := dataplane.RealServer{Address: netip.MustParseAddr("10.244.3.214"), Port: 80, Forward: c.fwd, Weight: 7}
		d, err := toDestination(4, rs)
		if err != nil {
			t.Fatal(err)
		}
		if d.ConnectionFlags != c.flags || d.Weight != 7 || d.Port != 80 || d.AddressFamily != syscall.AF_INET || !d.Address.Equal(net.ParseIP("10.244.3.214")) {
			t.Errorf("toDestination(%s) = %+v, expected connection flags %d", c.fwd, d, c.flags)
		}
		d.ActiveConnections, d.InactiveConnections = 2, 3
		d.ConnectionFlags |= 0x0100 // a flag outside the forwarding mask
		back, err := fromDestination(d)
		if err != nil {
			t.Fatal(err)
		}
		want := rs
		want.ActiveConns, want.InactiveConns = 2, 3
		if back != want {
			t.Errorf("fromDestination = %+v, expected %+v", back, want)
		}
	}
	if _, err := fromDestination(&mobyipvs.Destination{Address: net.ParseIP("10.0.0.1"), ConnectionFlags: 4}); err == nil {
		t.Error("fromDestination accepted forwarding method 4 (bypass)")
	}
	for _, rs := range []dataplane.RealServer{
		{Address: netip.MustParseAddr("10.0.0.1"), Forward: "NAT", Weight: 1},
		{Address: netip.MustParseAddr("10.0.0.1"), Forward: dataplane.Masq, Weight: 65536},
		{Address: netip.MustParseAddr("fd00::1"), Forward: dataplane.Masq, Weight: 1},
		{Address: netip.MustParseAddr("224.0.0.1"), Forward: dataplane.Masq, Weight: 1},
		{Address: netip.MustParseAddr("0.0.0.0"), Forward: dataplane.Masq, Weight: 1},
	} {
		if d, err := toDestination(4, rs); err == nil {
			t.Errorf("toDestination(4, %+v) = %+v, expected an error", rs, d)
		}
	}
	if d := destinationKey(6, netip.MustParseAddrPort("[fd00::5]:8080")); d.AddressFamily != syscall.AF_INET6 || d.Port != 8080 || len(d.Address) != 16 {
		t.Errorf("destinationKey = %+v", d)
	}
}

// TestCheckKernel asserts what this machine has: IPVS in the lab (or on a host with the
// module loaded), and otherwise an error that says how to get it.
func TestCheckKernel(t *testing.T) {
	err := CheckKernel()
	_, statErr := os.Stat("/proc/net/ip_vs")
	if labtest.InLab() || statErr == nil {
		if err != nil {
			t.Fatalf("CheckKernel on a kernel with IPVS: %v", err)
		}
		return
	}
	if !errors.Is(err, ErrNoIPVS) {
		t.Fatalf("CheckKernel without /proc/net/ip_vs: %v, expected ErrNoIPVS", err)
	}
	fixture.Contains(t, "CheckKernel error", err.Error(), "modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack", "/etc/modules-load.d/k8s.conf", "CONFIG_IP_VS", "make lab")
	if _, err := NewLinux(); !errors.Is(err, ErrNoIPVS) {
		t.Errorf("NewLinux without IPVS: %v, expected ErrNoIPVS", err)
	}
}
