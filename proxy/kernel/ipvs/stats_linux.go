package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// The traffic counters come with the netlink answers: IPVS_SVC_ATTR_STATS64 and
// IPVS_DEST_ATTR_STATS64 (Linux 4.1) hold every value in 64 bits, the older _STATS nests
// the packet and connection counts and the rates in 32 (cut, not clamped). ipvsadm 1.31
// prints the 64-bit ones when the kernel sends them, and so do we; moby/ipvs reads only
// the 32-bit nests. /proc/net/ip_vs, which Services reads the real servers from, has no
// counters, so real servers are read here with a destination dump per virtual server.

var _ StatsReader = (*Linux)(nil)

// ServicesWithStats lists every virtual server as Services does, then reads the counters
// of each virtual server (one service dump) and of its real servers (one destination dump
// per virtual server). It fails when the table changed between the reads.
func (l *Linux) ServicesWithStats() ([]dataplane.VirtualServer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	vss, err := l.table()
	if err != nil {
		return nil, err
	}
	byKey := make(map[dataplane.ServiceKey]int, len(vss))
	for i, vs := range vss {
		byKey[vs.Key()] = i
	}
	err = l.genl.Dump(serviceDumpRequest(l.ipvsFamily), func(msgType uint16, payload []byte) error {
		if msgType != l.ipvsFamily {
			return nil
		}
		s, err := decodeServiceAttrs(payload)
		if err != nil {
			return err
		}
		vs, err := s.virtualServer()
		if err != nil {
			return err
		}
		i, ok := byKey[vs.Key()]
		if !ok {
			return fmt.Errorf("virtual server %s was added while the table was read: read it again", vs.Key())
		}
		vss[i].Stats, vss[i].Rates, err = decodeStats(s.stats, s.stats64)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the counters of the IPVS virtual servers: %w", err)
	}
	for i := range vss {
		if err := l.readRealServerStats(&vss[i]); err != nil {
			return nil, fmt.Errorf("read the counters of the real servers of %s: %w", vss[i].Key(), err)
		}
	}
	return vss, nil
}

// readRealServerStats dumps the real servers of vs and gives each of vs.RealServers its
// counters. The caller holds l.mu.
func (l *Linux) readRealServerStats(vs *dataplane.VirtualServer) error {
	if vs.Stats == nil {
		return fmt.Errorf("virtual server %s went away while the table was read: read it again", vs.Key())
	}
	key, err := serviceKey(vs.Key())
	if err != nil {
		return err
	}
	req := appendServiceMsg(nil, l.ipvsFamily, cmdGetDest, 0, 0, key, nil)
	found := 0
	err = l.genl.Dump(req, func(msgType uint16, payload []byte) error {
		if msgType != l.ipvsFamily {
			return nil
		}
		k, stats, rates, err := decodeDestStats(payload, vs.Family)
		if err != nil {
			return err
		}
		for j := range vs.RealServers {
			if rs := &vs.RealServers[j]; rs.Key() == k {
				rs.Stats, rs.Rates = stats, rates
				found++
				return nil
			}
		}
		return fmt.Errorf("real server %s was added while the table was read: read it again", k)
	})
	if err != nil {
		return err
	}
	if found != len(vs.RealServers) {
		return fmt.Errorf("%d of %d real servers went away while the table was read: read it again", len(vs.RealServers)-found, len(vs.RealServers))
	}
	return nil
}

// decodeDestStats reads one answer of a destination dump: the real server's address and
// port, and its counters. family (4 or 6) is the virtual server's, which the real
// server's is unless the kernel says otherwise (IPVS_DEST_ATTR_ADDR_FAMILY, Linux 4.13).
func decodeDestStats(b []byte, family int) (dataplane.RealServerKey, *dataplane.Stats, *dataplane.Rates, error) {
	fail := func(err error) (dataplane.RealServerKey, *dataplane.Stats, *dataplane.Rates, error) {
		return dataplane.RealServerKey{}, nil, nil, fmt.Errorf("IPVS destination message: %w", err)
	}
	nest, err := messageNest(b, cmdAttrDest, "destination", "IPVS_CMD_ATTR_DEST")
	if err != nil {
		return dataplane.RealServerKey{}, nil, nil, err
	}
	var addr, stats, stats64 []byte
	var port uint16
	af := uint16(unix.AF_INET)
	if family == 6 {
		af = unix.AF_INET6
	}
	err = walkAttrs(nest, func(typ uint16, v []byte) error {
		switch typ {
		case destAttrAddr:
			addr = v
		case destAttrPort, destAttrAF:
			if len(v) < 2 {
				return fmt.Errorf("attribute %d of %d bytes: expected at least 2", typ, len(v))
			}
			if typ == destAttrPort {
				port = binary.BigEndian.Uint16(v)
			} else {
				af = binary.NativeEndian.Uint16(v)
			}
		case destAttrStats:
			stats = v
		case destAttrStats64:
			stats64 = v
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	// The address is a union nf_inet_addr (16 bytes): an IPv4 one is its first 4.
	n := 16
	if af == unix.AF_INET {
		n = 4
	}
	if len(addr) < n {
		return fail(fmt.Errorf("address attribute of %d bytes for address family %d: expected at least %d", len(addr), af, n))
	}
	a, _ := netip.AddrFromSlice(addr[:n])
	s, r, err := decodeStats(stats, stats64)
	if err != nil {
		return fail(err)
	}
	return netip.AddrPortFrom(a.Unmap(), port), s, r, nil // unmapped, as fromDestination reads it
}

// decodeStats reads a statistics nest into Stats and Rates: the 64-bit one when the
// kernel sent it, else the 32-bit one, where the byte counters are 64 bits and the rest 32.
func decodeStats(stats, stats64 []byte) (*dataplane.Stats, *dataplane.Rates, error) {
	if stats == nil && stats64 == nil {
		return nil, nil, errors.New("no statistics (IPVS_*_ATTR_STATS or _STATS64): expected the kernel to send them")
	}
	nest, wide := stats64, true
	if nest == nil {
		nest, wide = stats, false
	}
	var vals [statsAttrOutBPS + 1]uint64
	err := walkAttrs(nest, func(typ uint16, v []byte) error {
		if typ < statsAttrConns || typ > statsAttrOutBPS {
			return nil // IPVS_STATS_ATTR_PAD, or what newer kernels add
		}
		// In the 32-bit nest only the byte counters are 64 bits.
		size := 8
		if !wide && typ != statsAttrInBytes && typ != statsAttrOutBytes {
			size = 4
		}
		if len(v) < size {
			return fmt.Errorf("statistics attribute %d of %d bytes: expected %d", typ, len(v), size)
		}
		if size == 8 {
			vals[typ] = binary.NativeEndian.Uint64(v)
		} else {
			vals[typ] = uint64(binary.NativeEndian.Uint32(v))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &dataplane.Stats{Conns: vals[1], InPkts: vals[2], OutPkts: vals[3], InBytes: vals[4], OutBytes: vals[5]},
		&dataplane.Rates{CPS: vals[6], InPPS: vals[7], OutPPS: vals[8], InBPS: vals[9], OutBPS: vals[10]}, nil
}
