package ipvs

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// The whole table's virtual servers are read with our own IPVS_CMD_GET_SERVICE dump,
// streamed through nlbatch's Dump and decoded straight into dataplane values: moby/ipvs's
// GetServices keeps every raw message, parses each into attribute slices and builds a
// *Service per virtual server, several MB at once at 10,000 Services, before fromService
// translates them. The decoder reads the attributes moby/ipvs reads, and serviceAttrs
// translates them for both, so the two agree (TestServiceDumpAgreesWithMoby).

const (
	// nlaTypeMask is NLA_TYPE_MASK: an attribute's type without NLA_F_NESTED and
	// NLA_F_NET_BYTEORDER.
	nlaTypeMask = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)

	genlHeaderLen = 4 // struct genlmsghdr: cmd, version, reserved
)

// serviceDumpRequest asks for every virtual server (a generic netlink header and
// IPVS_CMD_GET_SERVICE; the kernel's dump reads no attribute). Its type, the IPVS family,
// and the header's length, flags and sequence number are filled in per request.
func serviceDumpRequest(family uint16) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+genlHeaderLen)
	binary.NativeEndian.PutUint16(b[4:], family)
	return append(b, cmdGetService, genlVersion, 0, 0)
}

// dumpServices reads every virtual server, without real servers, in the kernel's order.
// An interrupted dump is reported as nlbatch.ErrDumpInterrupted. The caller holds l.readMu.
func (l *Linux) dumpServices() ([]dataplane.VirtualServer, error) {
	// Room for the last dump's count and a few more: at 10,000 Services, growing the slice
	// step by step would allocate it about twice over.
	vss := make([]dataplane.VirtualServer, 0, l.lastServices+l.lastServices/64+8)
	err := l.genl.Dump(serviceDumpRequest(l.ipvsFamily), func(msgType uint16, payload []byte) error {
		if msgType != l.ipvsFamily {
			return nil // not an IPVS message; the kernel sends none in a service dump
		}
		vs, err := decodeServiceMsg(payload)
		if err != nil {
			return err
		}
		vss = append(vss, vs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.lastServices = len(vss)
	return vss, nil
}

// decodeServiceMsg reads one answer of a service dump: a generic netlink header, then
// IPVS_CMD_ATTR_SERVICE with the service's attributes nested. It reads what moby/ipvs's
// assembleService reads and translates it as fromService does. Where moby/ipvs would
// panic or read past a value (an attribute shorter than its type, a scheduler name
// without its NUL), it fails instead or reads only the value; it leaves the statistics
// out (decodeServiceAttrs finds them).
func decodeServiceMsg(b []byte) (dataplane.VirtualServer, error) {
	s, err := decodeServiceAttrs(b)
	if err != nil {
		return dataplane.VirtualServer{}, err
	}
	return s.virtualServer()
}

// decodeServiceAttrs reads the attributes of one answer of a service dump, for
// decodeServiceMsg; the statistics' nests are kept as found in b.
func decodeServiceAttrs(b []byte) (serviceAttrs, error) {
	nest, err := messageNest(b, cmdAttrService, "service", "IPVS_CMD_ATTR_SERVICE")
	if err != nil {
		return serviceAttrs{}, err
	}
	var s serviceAttrs
	err = walkAttrs(nest, func(typ uint16, v []byte) error {
		need := 0
		switch typ {
		case svcAttrAF, svcAttrProtocol, svcAttrPort:
			need = 2
		case svcAttrFWMark, svcAttrFlags, svcAttrTimeout, svcAttrNetmask:
			need = 4 // the flags are struct ip_vs_flags: flags, then mask
		case svcAttrAddr, svcAttrSchedName, svcAttrStats, svcAttrStats64:
		default:
			return nil // the PE name and what newer kernels add
		}
		if len(v) < need {
			return fmt.Errorf("IPVS service attribute %d of %d bytes: expected at least %d", typ, len(v), need)
		}
		ne := binary.NativeEndian
		switch typ {
		case svcAttrAF:
			s.family = ne.Uint16(v)
		case svcAttrProtocol:
			s.protocol = ne.Uint16(v)
		case svcAttrAddr:
			s.addr = v
		case svcAttrPort:
			s.port = binary.BigEndian.Uint16(v)
		case svcAttrFWMark:
			s.fwmark = ne.Uint32(v)
		case svcAttrSchedName:
			s.scheduler = schedulerName(v)
		case svcAttrFlags:
			s.flags = ne.Uint32(v)
		case svcAttrTimeout:
			s.timeout = ne.Uint32(v)
		case svcAttrNetmask:
			s.netmask = ne.Uint32(v)
		case svcAttrStats:
			s.stats = v
		case svcAttrStats64:
			s.stats64 = v
		}
		return nil
	})
	if err != nil {
		return serviceAttrs{}, fmt.Errorf("IPVS service message: %w", err)
	}
	// The kernel sends the address as a union nf_inet_addr (16 bytes) whatever the family:
	// an IPv4 address is its first 4, as moby/ipvs reads it.
	if s.addr != nil {
		n := 0
		switch s.family {
		case unix.AF_INET:
			n = 4
		case unix.AF_INET6:
			n = 16
		}
		if n > 0 && len(s.addr) < n {
			return serviceAttrs{}, fmt.Errorf("IPVS service message: address attribute of %d bytes for address family %d: expected at least %d", len(s.addr), s.family, n)
		}
		if n > 0 {
			s.addr = s.addr[:n]
		}
	}
	return s, nil
}

// messageNest finds the nested attribute typ (named name) that an IPVS message of a dump
// carries its object in, after the generic netlink header; kind names the object in errors.
func messageNest(b []byte, typ uint16, kind, name string) ([]byte, error) {
	if len(b) < genlHeaderLen {
		return nil, fmt.Errorf("IPVS %s message of %d bytes: expected at least the %d-byte generic netlink header", kind, len(b), genlHeaderLen)
	}
	var nest []byte
	found := false
	err := walkAttrs(b[genlHeaderLen:], func(t uint16, v []byte) error {
		if t == typ && !found {
			nest, found = v, true
		}
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("no %s attribute: expected one per message", name)
	}
	if err != nil {
		return nil, fmt.Errorf("IPVS %s message: %w", kind, err)
	}
	return nest, nil
}

// walkAttrs calls fn with the type (flags stripped) and value of each netlink attribute
// of b. It fails, as vishvananda/netlink's ParseRouteAttr does, on an attribute whose
// length is shorter than its header or runs past b; fewer than a header's bytes at the end
// are ignored.
func walkAttrs(b []byte, fn func(typ uint16, v []byte) error) error {
	for len(b) >= unix.SizeofNlAttr {
		n := int(binary.NativeEndian.Uint16(b))
		if n < unix.SizeofNlAttr || n > len(b) {
			return fmt.Errorf("netlink attribute of length %d in %d bytes: expected %d to %d", n, len(b), unix.SizeofNlAttr, len(b))
		}
		if err := fn(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[unix.SizeofNlAttr:n]); err != nil {
			return err
		}
		b = b[min(nlbatch.Align(n), len(b)):]
	}
	return nil
}

// schedulerName reads a NUL-terminated scheduler name, shared with KernelSchedulers
// when it is one of them: 10,000 Services use a handful of names.
func schedulerName(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	for _, s := range KernelSchedulers {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}
