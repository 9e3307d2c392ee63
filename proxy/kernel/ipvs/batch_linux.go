package ipvs

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"slices"

	mobyipvs "github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// AddServices sends its requests in batches (nlbatch): many IPVS_CMD_NEW_SERVICE, then many
// IPVS_CMD_NEW_DEST messages in one sendmsg on a generic netlink socket of the Linux's own,
// so a send that succeeds costs one receive, where moby/ipvs pays a send, a getsockname and
// a receive per object. The messages carry the attributes moby/ipvs sends for the same
// objects.

// IPVS generic netlink, from the kernel's uapi linux/ip_vs.h, for every command this
// package sends itself and every attribute it writes or reads (moby/ipvs keeps these
// unexported, and does not send IPVS_CMD_GET_INFO or read the 64-bit statistics).
const (
	genlVersion = 1 // IPVS_GENL_VERSION

	cmdNewService = 1  // IPVS_CMD_NEW_SERVICE
	cmdGetService = 4  // IPVS_CMD_GET_SERVICE
	cmdNewDest    = 5  // IPVS_CMD_NEW_DEST
	cmdGetDest    = 8  // IPVS_CMD_GET_DEST
	cmdGetInfo    = 15 // IPVS_CMD_GET_INFO

	cmdAttrService = 1 // IPVS_CMD_ATTR_SERVICE
	cmdAttrDest    = 2 // IPVS_CMD_ATTR_DEST

	svcAttrAF        = 1  // IPVS_SVC_ATTR_AF
	svcAttrProtocol  = 2  // IPVS_SVC_ATTR_PROTOCOL
	svcAttrAddr      = 3  // IPVS_SVC_ATTR_ADDR
	svcAttrPort      = 4  // IPVS_SVC_ATTR_PORT
	svcAttrFWMark    = 5  // IPVS_SVC_ATTR_FWMARK
	svcAttrSchedName = 6  // IPVS_SVC_ATTR_SCHED_NAME
	svcAttrFlags     = 7  // IPVS_SVC_ATTR_FLAGS
	svcAttrTimeout   = 8  // IPVS_SVC_ATTR_TIMEOUT
	svcAttrNetmask   = 9  // IPVS_SVC_ATTR_NETMASK
	svcAttrStats     = 10 // IPVS_SVC_ATTR_STATS
	svcAttrPEName    = 11 // IPVS_SVC_ATTR_PE_NAME
	svcAttrStats64   = 12 // IPVS_SVC_ATTR_STATS64

	destAttrAddr      = 1  // IPVS_DEST_ATTR_ADDR
	destAttrPort      = 2  // IPVS_DEST_ATTR_PORT
	destAttrFwdMethod = 3  // IPVS_DEST_ATTR_FWD_METHOD
	destAttrWeight    = 4  // IPVS_DEST_ATTR_WEIGHT
	destAttrUThresh   = 5  // IPVS_DEST_ATTR_U_THRESH
	destAttrLThresh   = 6  // IPVS_DEST_ATTR_L_THRESH
	destAttrStats     = 10 // IPVS_DEST_ATTR_STATS
	destAttrAF        = 11 // IPVS_DEST_ATTR_ADDR_FAMILY
	destAttrStats64   = 12 // IPVS_DEST_ATTR_STATS64

	// IPVS_STATS_ATTR_*: the members of both statistics nests (stats_linux.go), in this
	// order.
	statsAttrConns    = 1
	statsAttrInBytes  = 4
	statsAttrOutBytes = 5
	statsAttrOutBPS   = 10

	infoAttrVersion       = 1 // IPVS_INFO_ATTR_VERSION
	infoAttrConnTableSize = 2 // IPVS_INFO_ATTR_CONN_TAB_SIZE
)

// openGenlSocket looks up the IPVS family and opens a generic netlink socket in the
// caller's network namespace.
func openGenlSocket() (*nlbatch.Socket, uint16, error) {
	fam, err := netlink.GenlFamilyGet("IPVS")
	if err != nil {
		return nil, 0, fmt.Errorf("look up the IPVS generic netlink family: %w", err)
	}
	s, err := nlbatch.Open(netns.None(), unix.NETLINK_GENERIC)
	if err != nil {
		return nil, 0, err
	}
	return s, fam.ID, nil
}

// AddServices creates the virtual servers, then the real servers of those the kernel
// took, in batches.
func (l *Linux) AddServices(vss []dataplane.VirtualServer) error {
	if len(vss) == 0 {
		return nil
	}
	var failed []failure
	type pendingService struct {
		index int
		vs    *dataplane.VirtualServer
		svc   *mobyipvs.Service
		key   *mobyipvs.Service // the identity NEW_DEST names the service by
	}
	svcs := make([]pendingService, 0, len(vss))
	for i := range vss {
		vs := &vss[i]
		s, err := toService(*vs)
		var key *mobyipvs.Service
		if err == nil {
			key, err = serviceKey(vs.Key())
		}
		if err != nil {
			failed = append(failed, failure{i, -1, &ObjectError{Service: vs.Key(), Err: opError("AddService", vs.Key(), noRealServer, err, *vs)}})
			continue
		}
		svcs = append(svcs, pendingService{index: i, vs: vs, svc: s, key: key})
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	refusedSvc := make([]error, len(svcs))
	err := l.genl.Exchange(len(svcs), func(buf []byte, i int, seq uint32, flags uint16) []byte {
		return appendServiceMsg(buf, l.ipvsFamily, cmdNewService, seq, flags, svcs[i].svc, nil)
	}, func(i int, err error) { refusedSvc[i] = err })
	if err != nil {
		return fmt.Errorf("add %d virtual servers: %w", len(vss), err)
	}

	type pendingDest struct {
		svc  *pendingService
		j    int
		rs   *dataplane.RealServer
		dest *mobyipvs.Destination
	}
	var dests []pendingDest
	for i := range svcs {
		ps := &svcs[i]
		if err := refusedSvc[i]; err != nil {
			failed = append(failed, failure{ps.index, -1, &ObjectError{Service: ps.vs.Key(), Err: opError("AddService", ps.vs.Key(), noRealServer, err, *ps.vs)}})
			continue
		}
		fam := family(ps.vs.Key())
		for j := range ps.vs.RealServers {
			rs := &ps.vs.RealServers[j]
			d, err := toDestination(fam, *rs)
			if err != nil {
				failed = append(failed, failure{ps.index, j, &ObjectError{Service: ps.vs.Key(), RealServer: rs.Key(), Err: opError("AddRealServer", ps.vs.Key(), rs.Key(), err, dataplane.VirtualServer{})}})
				continue
			}
			dests = append(dests, pendingDest{svc: ps, j: j, rs: rs, dest: d})
		}
	}
	err = l.genl.Exchange(len(dests), func(buf []byte, i int, seq uint32, flags uint16) []byte {
		return appendServiceMsg(buf, l.ipvsFamily, cmdNewDest, seq, flags, dests[i].svc.key, dests[i].dest)
	}, func(i int, err error) {
		d := dests[i]
		failed = append(failed, failure{d.svc.index, d.j, &ObjectError{Service: d.svc.vs.Key(), RealServer: d.rs.Key(), Err: opError("AddRealServer", d.svc.vs.Key(), d.rs.Key(), err, dataplane.VirtualServer{})}})
	})
	if err != nil {
		return fmt.Errorf("add the real servers of %d virtual servers: %w", len(vss), err)
	}
	return batchResult(len(vss), ordered(failed))
}

// failure is an ObjectError with the position of its object in the call: the index of the
// virtual server and of the real server in it (-1 for the virtual server itself).
type failure struct {
	svc, rs int
	err     *ObjectError
}

// ordered returns the failures in the order of the objects given: virtual servers in
// order, each followed by its real servers.
func ordered(fs []failure) []*ObjectError {
	slices.SortStableFunc(fs, func(a, b failure) int {
		if c := cmp.Compare(a.svc, b.svc); c != 0 {
			return c
		}
		return cmp.Compare(a.rs, b.rs)
	})
	out := make([]*ObjectError, len(fs))
	for i, f := range fs {
		out[i] = f.err
	}
	return out
}

// appendServiceMsg appends one IPVS request: cmd with the service s and, for destination
// commands, the destination d, to the IPVS generic netlink family, with the attributes moby/ipvs sends for them.
func appendServiceMsg(buf []byte, family uint16, cmd uint8, seq uint32, flags uint16, s *mobyipvs.Service, d *mobyipvs.Destination) []byte {
	buf, start := nlbatch.AppendRequest(buf, family, flags, seq)
	buf = append(buf, cmd, genlVersion, 0, 0) // struct genlmsghdr

	nest := len(buf)
	buf = nlbatch.AppendAttr(buf, cmdAttrService, nil)
	buf = nlbatch.AppendU16Attr(buf, svcAttrAF, s.AddressFamily)
	if s.FWMark != 0 {
		buf = nlbatch.AppendU32Attr(buf, svcAttrFWMark, s.FWMark)
	} else {
		buf = nlbatch.AppendU16Attr(buf, svcAttrProtocol, s.Protocol)
		buf = nlbatch.AppendAttr(buf, svcAttrAddr, rawIP(s.Address))
		buf = nlbatch.AppendAttr(buf, svcAttrPort, portBytes(s.Port))
	}
	buf = nlbatch.AppendAttr(buf, svcAttrSchedName, append([]byte(s.SchedName), 0))
	if s.PEName != "" {
		buf = nlbatch.AppendAttr(buf, svcAttrPEName, append([]byte(s.PEName), 0))
	}
	buf = binary.NativeEndian.AppendUint16(buf, unix.SizeofRtAttr+8) // struct ip_vs_flags
	buf = binary.NativeEndian.AppendUint16(buf, svcAttrFlags)
	buf = binary.NativeEndian.AppendUint32(buf, s.Flags)
	buf = binary.NativeEndian.AppendUint32(buf, math.MaxUint32) // mask: set every flag as given
	buf = nlbatch.AppendU32Attr(buf, svcAttrTimeout, s.Timeout)
	buf = nlbatch.AppendU32Attr(buf, svcAttrNetmask, s.Netmask)
	binary.NativeEndian.PutUint16(buf[nest:], uint16(len(buf)-nest))

	if d != nil {
		nest = len(buf)
		buf = nlbatch.AppendAttr(buf, cmdAttrDest, nil)
		buf = nlbatch.AppendAttr(buf, destAttrAddr, rawIP(d.Address))
		buf = nlbatch.AppendAttr(buf, destAttrPort, portBytes(d.Port))
		buf = nlbatch.AppendU32Attr(buf, destAttrFwdMethod, d.ConnectionFlags&mobyipvs.ConnFwdMask)
		buf = nlbatch.AppendU32Attr(buf, destAttrWeight, uint32(d.Weight))
		buf = nlbatch.AppendU32Attr(buf, destAttrUThresh, d.UpperThreshold)
		buf = nlbatch.AppendU32Attr(buf, destAttrLThresh, d.LowerThreshold)
		binary.NativeEndian.PutUint16(buf[nest:], uint16(len(buf)-nest))
	}
	return nlbatch.EndRequest(buf, start)
}

// portBytes is a port in network order, as the kernel keeps it.
func portBytes(p uint16) []byte { return []byte{byte(p >> 8), byte(p)} }

// rawIP is an address as moby/ipvs sends it: 4 bytes for IPv4, 16 for IPv6.
func rawIP(ip net.IP) []byte {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}
