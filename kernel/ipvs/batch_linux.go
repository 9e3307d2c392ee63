package ipvs

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"

	mobyipvs "github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// AddServices sends its requests in batches: many IPVS_CMD_NEW_SERVICE, then many
// IPVS_CMD_NEW_DEST messages in one sendmsg on a generic netlink socket of the Linux's own.
// The kernel handles the messages of one send in order before sendmsg returns, each on its
// own, and answers every one that fails with an error carrying its sequence number. Only
// the last message of a send asks for an ack, so a send that succeeds costs one receive,
// where moby/ipvs pays a send, a getsockname and a receive per object. The messages carry
// the attributes moby/ipvs sends for the same objects.

// batchSize bounds the messages of one send. Every answer is queued on the socket until
// read, and answers that do not fit its receive buffer (rmem_default, about 200 KiB; a
// refusal takes under 1 KiB of it) are dropped: a send whose every message fails must
// still fit.
const batchSize = 128

// IPVS generic netlink, from the kernel's uapi linux/ip_vs.h (moby/ipvs keeps these
// unexported; genlVersion is in info_linux.go).
const (
	cmdNewService = 1 // IPVS_CMD_NEW_SERVICE
	cmdNewDest    = 5 // IPVS_CMD_NEW_DEST

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
	svcAttrPEName    = 11 // IPVS_SVC_ATTR_PE_NAME

	destAttrAddr      = 1 // IPVS_DEST_ATTR_ADDR
	destAttrPort      = 2 // IPVS_DEST_ATTR_PORT
	destAttrFwdMethod = 3 // IPVS_DEST_ATTR_FWD_METHOD
	destAttrWeight    = 4 // IPVS_DEST_ATTR_WEIGHT
	destAttrUThresh   = 5 // IPVS_DEST_ATTR_U_THRESH
	destAttrLThresh   = 6 // IPVS_DEST_ATTR_L_THRESH
)

// batchSocket is the socket batches go through.
type batchSocket struct {
	s      *nl.NetlinkSocket
	family uint16
	seq    uint32
	buf    []byte
}

// openBatchSocket opens a generic netlink socket in the caller's network namespace and
// looks up the IPVS family.
func openBatchSocket() (*batchSocket, error) {
	fam, err := netlink.GenlFamilyGet("IPVS")
	if err != nil {
		return nil, fmt.Errorf("look up the IPVS generic netlink family: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_GENERIC)
	if err != nil {
		return nil, err
	}
	// Answers come at once (sendmsg runs the requests); the timeout only guards against
	// a kernel that never answers.
	if err := s.SetReceiveTimeout(&nl.SocketTimeoutTv); err != nil {
		s.Close()
		return nil, err
	}
	return &batchSocket{s: s, family: fam.ID}, nil
}

func (b *batchSocket) close() { b.s.Close() }

// exchange sends n messages, encode appending message i, in sends of batchSize, and calls
// refused with the index and errno of each message the kernel refused. An error means the
// exchange itself failed: the messages it did not report on may or may not have been
// applied. The caller serializes exchanges.
func (b *batchSocket) exchange(n int, encode func(buf []byte, i int, seq uint32, flags uint16) []byte, refused func(i int, err error)) error {
	for start := 0; start < n; start += batchSize {
		end := min(start+batchSize, n)
		if b.seq > math.MaxUint32-batchSize {
			b.seq = 0 // the numbers of a send must not wrap around
		}
		first := b.seq + 1
		b.buf = b.buf[:0]
		for i := start; i < end; i++ {
			var flags uint16
			if i == end-1 {
				flags = unix.NLM_F_ACK
			}
			b.seq++
			b.buf = encode(b.buf, i, b.seq, flags)
		}
		if err := b.send(b.buf); err != nil {
			return fmt.Errorf("send %d IPVS netlink messages: %w", end-start, err)
		}
		if err := b.receive(first, b.seq, func(seq uint32, err error) { refused(start+int(seq-first), err) }); err != nil {
			return fmt.Errorf("read the answers to %d IPVS netlink messages: %w", end-start, err)
		}
	}
	return nil
}

func (b *batchSocket) send(buf []byte) error {
	for {
		err := unix.Sendto(b.s.GetFd(), buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// receive reads answers until the one to last, calling refused for each error answer to a
// message numbered first..last. Answers to earlier exchanges (left unread when one failed)
// are skipped by their numbers.
func (b *batchSocket) receive(first, last uint32, refused func(seq uint32, err error)) error {
	for {
		msgs, from, err := b.s.Receive()
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				return fmt.Errorf("%w: the kernel dropped answers that did not fit the socket's receive buffer", err)
			}
			return err
		}
		if from.Pid != nl.PidKernel {
			continue
		}
		for _, m := range msgs {
			seq := m.Header.Seq
			if m.Header.Type != unix.NLMSG_ERROR || seq < first || seq > last {
				continue
			}
			if len(m.Data) < 4 {
				return fmt.Errorf("netlink error answer of %d bytes: expected at least 4 (struct nlmsgerr)", len(m.Data))
			}
			if errno := int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
				refused(seq, unix.Errno(-errno))
			}
			if seq == last {
				return nil
			}
		}
	}
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
	err := l.batch.exchange(len(svcs), func(buf []byte, i int, seq uint32, flags uint16) []byte {
		return l.batch.appendServiceMsg(buf, cmdNewService, seq, flags, svcs[i].svc, nil)
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
	err = l.batch.exchange(len(dests), func(buf []byte, i int, seq uint32, flags uint16) []byte {
		return l.batch.appendServiceMsg(buf, cmdNewDest, seq, flags, dests[i].svc.key, dests[i].dest)
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
// commands, the destination d, with the attributes moby/ipvs sends for them.
func (b *batchSocket) appendServiceMsg(buf []byte, cmd uint8, seq uint32, flags uint16, s *mobyipvs.Service, d *mobyipvs.Destination) []byte {
	start := len(buf)
	buf = binary.NativeEndian.AppendUint32(buf, 0) // nlmsg_len, set below
	buf = binary.NativeEndian.AppendUint16(buf, b.family)
	buf = binary.NativeEndian.AppendUint16(buf, unix.NLM_F_REQUEST|flags)
	buf = binary.NativeEndian.AppendUint32(buf, seq)
	buf = binary.NativeEndian.AppendUint32(buf, 0) // nlmsg_pid: the kernel fills in ours
	buf = append(buf, cmd, genlVersion, 0, 0)      // struct genlmsghdr

	nest := len(buf)
	buf = appendAttr(buf, cmdAttrService, nil)
	buf = appendU16Attr(buf, svcAttrAF, s.AddressFamily)
	if s.FWMark != 0 {
		buf = appendU32Attr(buf, svcAttrFWMark, s.FWMark)
	} else {
		buf = appendU16Attr(buf, svcAttrProtocol, s.Protocol)
		buf = appendAttr(buf, svcAttrAddr, rawIP(s.Address))
		buf = appendAttr(buf, svcAttrPort, portBytes(s.Port))
	}
	buf = appendAttr(buf, svcAttrSchedName, append([]byte(s.SchedName), 0))
	if s.PEName != "" {
		buf = appendAttr(buf, svcAttrPEName, append([]byte(s.PEName), 0))
	}
	buf = binary.NativeEndian.AppendUint16(buf, unix.SizeofRtAttr+8) // struct ip_vs_flags
	buf = binary.NativeEndian.AppendUint16(buf, svcAttrFlags)
	buf = binary.NativeEndian.AppendUint32(buf, s.Flags)
	buf = binary.NativeEndian.AppendUint32(buf, math.MaxUint32) // mask: set every flag as given
	buf = appendU32Attr(buf, svcAttrTimeout, s.Timeout)
	buf = appendU32Attr(buf, svcAttrNetmask, s.Netmask)
	binary.NativeEndian.PutUint16(buf[nest:], uint16(len(buf)-nest))

	if d != nil {
		nest = len(buf)
		buf = appendAttr(buf, cmdAttrDest, nil)
		buf = appendAttr(buf, destAttrAddr, rawIP(d.Address))
		buf = appendAttr(buf, destAttrPort, portBytes(d.Port))
		buf = appendU32Attr(buf, destAttrFwdMethod, d.ConnectionFlags&mobyipvs.ConnFwdMask)
		buf = appendU32Attr(buf, destAttrWeight, uint32(d.Weight))
		buf = appendU32Attr(buf, destAttrUThresh, d.UpperThreshold)
		buf = appendU32Attr(buf, destAttrLThresh, d.LowerThreshold)
		binary.NativeEndian.PutUint16(buf[nest:], uint16(len(buf)-nest))
	}
	binary.NativeEndian.PutUint32(buf[start:], uint32(len(buf)-start))
	return buf
}

// appendAttr appends one netlink attribute padded to 4 bytes; a nested attribute is
// appended with no value and its length fixed once its children follow.
func appendAttr(buf []byte, typ uint16, value []byte) []byte {
	n := unix.SizeofRtAttr + len(value)
	buf = binary.NativeEndian.AppendUint16(buf, uint16(n))
	buf = binary.NativeEndian.AppendUint16(buf, typ)
	buf = append(buf, value...)
	for n%4 != 0 {
		buf = append(buf, 0)
		n++
	}
	return buf
}

func appendU16Attr(buf []byte, typ, v uint16) []byte {
	buf = binary.NativeEndian.AppendUint16(buf, unix.SizeofRtAttr+2)
	buf = binary.NativeEndian.AppendUint16(buf, typ)
	buf = binary.NativeEndian.AppendUint16(buf, v)
	return append(buf, 0, 0)
}

func appendU32Attr(buf []byte, typ uint16, v uint32) []byte {
	buf = binary.NativeEndian.AppendUint16(buf, unix.SizeofRtAttr+4)
	buf = binary.NativeEndian.AppendUint16(buf, typ)
	return binary.NativeEndian.AppendUint32(buf, v)
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
