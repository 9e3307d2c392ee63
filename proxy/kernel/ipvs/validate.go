package ipvs

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// KernelSchedulers are the schedulers a kernel with every IP_VS_* scheduler module knows
// ("none" binds no scheduler and is built in).
var KernelSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos", "none"}

// DefaultTimeouts are the kernel's IPVS timeouts after boot (ipvsadm -L --timeout).
var DefaultTimeouts = dataplane.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}

// maxWeight is the largest weight: ipvsadm refuses more, and the netlink reply carries the
// weight in 16 bits as moby/ipvs reads it.
const maxWeight = math.MaxUint16

// maxTimeout is the largest timeout in seconds the kernel takes: it keeps timeouts as int
// jiffies (INT_MAX / HZ, with the HZ=250 of Debian's kernels).
const maxTimeout = math.MaxInt32 / 250

const allSchedFlags = dataplane.SchedFlag1 | dataplane.SchedFlag2 | dataplane.SchedFlag3

// family is 4 or 6: the family of the address, or the stated family of a mark service.
func family(k dataplane.ServiceKey) int {
	if k.FWMark != 0 {
		if k.Family == 6 {
			return 6
		}
		return 4
	}
	if k.Address.Is4() {
		return 4
	}
	return 6
}

// normalizeKey returns the key in the form the kernel looks services up by: mark services
// with family 4 or 6 and nothing else, address services with an unmapped address.
func normalizeKey(k dataplane.ServiceKey) (dataplane.ServiceKey, error) {
	if k.FWMark != 0 {
		if k.Family != 0 && k.Family != 4 && k.Family != 6 {
			return k, fmt.Errorf("firewall-mark service family %d: expected 4 or 6: %w", k.Family, syscall.EINVAL)
		}
		return dataplane.ServiceKey{FWMark: k.FWMark, Family: family(k)}, nil
	}
	switch k.Protocol {
	case dataplane.TCP, dataplane.UDP, dataplane.SCTP:
	default:
		return k, fmt.Errorf("protocol %q: expected TCP, UDP or SCTP (or a firewall mark): %w", k.Protocol, syscall.EINVAL)
	}
	if !k.Address.IsValid() {
		return k, fmt.Errorf("virtual server without an address: %w", syscall.EINVAL)
	}
	return dataplane.ServiceKey{Protocol: k.Protocol, Address: k.Address.Unmap(), Port: k.Port}, nil
}

// normalizeService checks a virtual server the way the kernel and the netlink translation
// do and returns it in the form it reads back in: family set, default netmask as 0, no
// timeout without persistence, no real servers or counters.
func normalizeService(vs dataplane.VirtualServer) (dataplane.VirtualServer, error) {
	if vs.FWMark != 0 && vs.Family != 0 && vs.Family != 4 && vs.Family != 6 {
		return vs, fmt.Errorf("firewall-mark service family %d: expected 4 or 6: %w", vs.Family, syscall.EINVAL)
	}
	k, err := normalizeKey(vs.Key())
	if err != nil {
		return vs, err
	}
	out := dataplane.VirtualServer{
		Protocol:   k.Protocol,
		FWMark:     k.FWMark,
		Family:     family(k),
		Address:    k.Address,
		Port:       k.Port,
		Scheduler:  vs.Scheduler,
		Persistent: vs.Persistent,
		OnePacket:  vs.OnePacket,
		SchedFlags: vs.SchedFlags,
	}
	if vs.SchedFlags&^allSchedFlags != 0 {
		return vs, fmt.Errorf("scheduler flags %#x: only SchedFlag1..3 (%#x) exist: %w", vs.SchedFlags, allSchedFlags, syscall.EINVAL)
	}
	bits := 32
	if out.Family == 6 {
		bits = 128
	}
	switch {
	case vs.PrefixLen < 0 || vs.PrefixLen > bits:
		return vs, fmt.Errorf("persistence netmask /%d: expected 1 to %d: %w", vs.PrefixLen, bits, syscall.EINVAL)
	case vs.PrefixLen != bits:
		out.PrefixLen = vs.PrefixLen
	}
	if vs.Persistent {
		if vs.Timeout > maxTimeout {
			return vs, fmt.Errorf("persistence timeout %d s: expected at most %d: %w", vs.Timeout, maxTimeout, syscall.EINVAL)
		}
		out.Timeout = vs.Timeout
	}
	return out, nil
}

// checkRealServer checks a real server the way the kernel does for a service of family
// fam. Mixed families are refused: the kernel allows them only for tunnelling, which
// moby/ipvs cannot express.
func checkRealServer(fam int, rs dataplane.RealServer) (dataplane.RealServer, error) {
	switch rs.Forward {
	case dataplane.Masq, dataplane.Route, dataplane.Tunnel, dataplane.Local:
	default:
		return rs, fmt.Errorf("forwarding method %q: expected Masq, Route, Tunnel or Local: %w", rs.Forward, syscall.EINVAL)
	}
	if rs.Weight < 0 || rs.Weight > maxWeight {
		return rs, fmt.Errorf("weight %d: expected 0 to %d: %w", rs.Weight, maxWeight, syscall.ERANGE)
	}
	a := rs.Address.Unmap()
	if !a.IsValid() {
		return rs, fmt.Errorf("real server without an address: %w", syscall.EINVAL)
	}
	if (fam == 4) != a.Is4() {
		return rs, fmt.Errorf("real server %s is not IPv%d like its virtual server: %w", a, fam, syscall.EINVAL)
	}
	if !unicast(a) {
		return rs, fmt.Errorf("real server %s is not a unicast address: %w", a, syscall.EINVAL)
	}
	return dataplane.RealServer{Address: a, Port: rs.Port, Forward: rs.Forward, Weight: rs.Weight}, nil
}

// unicast mirrors the kernel's test for destinations: IPv4 unicast (or local), IPv6
// unicast but not link-local.
func unicast(a netip.Addr) bool {
	if a.IsUnspecified() || a.IsMulticast() || (a.Is6() && a.IsLinkLocalUnicast()) {
		return false
	}
	return a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func normalizeRealServerKey(k dataplane.RealServerKey) dataplane.RealServerKey {
	return netip.AddrPortFrom(k.Addr().Unmap(), k.Port())
}

// hint explains the kernel's answer for an operation, the way ipvsadm does.
func hint(op string, err error, vs dataplane.VirtualServer) string {
	is := func(e syscall.Errno) bool { return errors.Is(err, e) }
	switch {
	case (op == "AddService" || op == "UpdateService") && is(syscall.ENOENT):
		return fmt.Sprintf(" (the kernel has no scheduler %q: load module ip_vs_%s)", vs.Scheduler, vs.Scheduler)
	case is(syscall.ESRCH):
		return " (no such virtual server)"
	case op == "AddService" && is(syscall.EEXIST):
		return " (virtual server exists)"
	case op == "AddRealServer" && is(syscall.EEXIST):
		return " (real server exists)"
	case (op == "UpdateRealServer" || op == "DeleteRealServer") && is(syscall.ENOENT):
		return " (no such real server)"
	}
	return ""
}

// opError wraps an error of op on the virtual server key (and real server rs, if valid)
// with the object it was for: "add real server 10.244.3.214:80 to TCP 10.96.0.1:443: ...".
func opError(op string, key dataplane.ServiceKey, rs dataplane.RealServerKey, err error, vs dataplane.VirtualServer) error {
	h := hint(op, err, vs)
	switch op {
	case "AddService":
		return fmt.Errorf("add virtual server %s: %w%s", key, err, h)
	case "UpdateService":
		return fmt.Errorf("update virtual server %s: %w%s", key, err, h)
	case "DeleteService":
		return fmt.Errorf("delete virtual server %s: %w%s", key, err, h)
	case "AddRealServer":
		return fmt.Errorf("add real server %s to %s: %w%s", rs, key, err, h)
	case "UpdateRealServer":
		return fmt.Errorf("update real server %s of %s: %w%s", rs, key, err, h)
	case "DeleteRealServer":
		return fmt.Errorf("delete real server %s from %s: %w%s", rs, key, err, h)
	}
	return fmt.Errorf("%s %s: %w%s", op, key, err, h)
}

// noRealServer stands for the real server in errors about a virtual server.
var noRealServer netip.AddrPort

func checkTimeouts(t dataplane.Timeouts) error {
	for _, v := range []uint32{t.TCP, t.TCPFin, t.UDP} {
		if v > maxTimeout {
			return fmt.Errorf("set IPVS timeouts tcp %d tcpfin %d udp %d: %d s is more than the kernel's limit %d: %w",
				t.TCP, t.TCPFin, t.UDP, v, maxTimeout, syscall.EINVAL)
		}
	}
	return nil
}
