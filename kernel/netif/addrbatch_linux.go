package netif

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Address changes go to the kernel in batches: many RTM_NEWADDR or RTM_DELADDR messages
// in one sendmsg on a NETLINK_ROUTE socket of the Linux's own. rtnetlink handles the
// messages of one send in order before sendmsg returns, each on its own, and answers every
// one that fails with an error carrying its sequence number. Only the last message asks
// for an ack, so a batch that succeeds costs one send and one receive instead of a round
// trip per address.

// addrBatchSize bounds the messages of one send. Every answer is queued on the socket
// until read, and answers that do not fit its receive buffer (rmem_default, about 200 KiB;
// a failed add's answer takes under 1 KiB of it) are dropped: a batch whose every address
// fails must still fit.
const addrBatchSize = 128

// addrSocket is the socket address batches go through.
type addrSocket struct {
	mu  sync.Mutex
	s   *nl.NetlinkSocket
	seq uint32
	buf []byte
}

// openAddrSocket opens a NETLINK_ROUTE socket in ns (the caller's namespace when ns is
// not open). Extended acks make the kernel say why it refused an address.
func openAddrSocket(ns netns.NsHandle) (*addrSocket, error) {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	// Errors are answered at once (sendmsg runs the requests); the timeout only guards
	// against a kernel that never answers.
	if err := s.SetReceiveTimeout(&nl.SocketTimeoutTv); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.SetExtAck(true); err != nil {
		s.Close()
		return nil, err
	}
	return &addrSocket{s: s}, nil
}

func (a *addrSocket) close() { a.s.Close() }

// change sends one message of type msgType (RTM_NEWADDR, RTM_DELADDR) with flags for each
// prefix, bound to link index, and calls refused with the index in ps and the kernel's
// error of each prefix the kernel refused. An error means the exchange itself failed: the
// prefixes it did not report on may or may not have been applied.
func (a *addrSocket) change(msgType, flags uint16, index int, ps []netip.Prefix, refused func(i int, err error)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for start := 0; start < len(ps); start += addrBatchSize {
		chunk := ps[start:min(start+addrBatchSize, len(ps))]
		if a.seq > math.MaxUint32-addrBatchSize {
			a.seq = 0 // the numbers of a batch must not wrap around
		}
		first := a.seq + 1
		a.buf = a.buf[:0]
		for i, p := range chunk {
			f := flags
			if i == len(chunk)-1 {
				f |= unix.NLM_F_ACK
			}
			a.seq++
			a.buf = appendAddrMsg(a.buf, msgType, f, a.seq, index, p)
		}
		if err := a.send(a.buf); err != nil {
			return fmt.Errorf("send %d rtnetlink address messages: %w", len(chunk), err)
		}
		err := a.receive(first, a.seq, func(seq uint32, err error) { refused(start+int(seq-first), err) })
		if err != nil {
			return fmt.Errorf("read rtnetlink answers to %d address messages: %w", len(chunk), err)
		}
	}
	return nil
}

func (a *addrSocket) send(b []byte) error {
	for {
		err := unix.Sendto(a.s.GetFd(), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// receive reads answers until the one to last, calling refused for each error answer to a
// message numbered first..last. Answers to earlier exchanges (left unread when one
// failed) are skipped by their numbers.
func (a *addrSocket) receive(first, last uint32, refused func(seq uint32, err error)) error {
	for {
		msgs, from, err := a.s.Receive()
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
			if err := ackError(m.Header.Flags, m.Data); err != nil {
				refused(seq, err)
			}
			if seq == last {
				return nil
			}
		}
	}
}

// ackError decodes an NLMSG_ERROR payload: nil for an ack, else the errno, annotated with
// the kernel's message when the socket asked for extended acks.
func ackError(flags uint16, data []byte) error {
	if len(data) < 4 {
		return fmt.Errorf("rtnetlink answer of %d bytes: expected at least 4 (struct nlmsgerr)", len(data))
	}
	errno := int32(binary.NativeEndian.Uint32(data[:4]))
	if errno == 0 {
		return nil
	}
	var err error = syscall.Errno(-errno)
	if flags&unix.NLM_F_ACK_TLVS == 0 || len(data) < 4+unix.SizeofNlMsghdr {
		return err
	}
	// The refused request follows the errno (whole, unless NLM_F_CAPPED), then attributes.
	rest := data[4:]
	reqLen := int(binary.NativeEndian.Uint32(rest[:4]))
	if flags&unix.NLM_F_CAPPED != 0 {
		reqLen = unix.SizeofNlMsghdr
	}
	if reqLen > len(rest) {
		return err
	}
	attrs, perr := nl.ParseRouteAttr(rest[nlmAlign(reqLen):])
	if perr != nil {
		return err
	}
	for _, attr := range attrs {
		if attr.Attr.Type == unix.NLMSGERR_ATTR_MSG {
			return fmt.Errorf("%w (%s)", err, unix.ByteSliceToString(attr.Value))
		}
	}
	return err
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// appendAddrMsg appends one RTM_NEWADDR or RTM_DELADDR message for p on link index, with
// the attributes iproute2 and vishvananda/netlink send for a plain address: IFA_LOCAL and
// IFA_ADDRESS both p's address and, for IPv4 prefixes up to /30, IFA_BROADCAST.
func appendAddrMsg(b []byte, msgType, flags uint16, seq uint32, index int, p netip.Prefix) []byte {
	addr := p.Addr().Unmap()
	family := unix.AF_INET6
	if addr.Is4() {
		family = unix.AF_INET
	}
	ip := addr.AsSlice()
	start := len(b)
	b = binary.NativeEndian.AppendUint32(b, 0) // nlmsg_len, set below
	b = binary.NativeEndian.AppendUint16(b, msgType)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST|flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // nlmsg_pid: the kernel fills in ours
	// struct ifaddrmsg
	b = append(b, byte(family), byte(p.Bits()), 0, unix.RT_SCOPE_UNIVERSE)
	b = binary.NativeEndian.AppendUint32(b, uint32(index))
	b = appendAttr(b, unix.IFA_LOCAL, ip)
	b = appendAttr(b, unix.IFA_ADDRESS, ip)
	if family == unix.AF_INET && p.Bits() < 31 {
		bc := addr.As4()
		host := ^uint32(0) >> p.Bits()
		v := binary.BigEndian.Uint32(bc[:]) | host
		b = appendAttr(b, unix.IFA_BROADCAST, binary.BigEndian.AppendUint32(nil, v))
	}
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// appendAttr appends one route attribute, padded to the 4-byte alignment.
func appendAttr(b []byte, typ uint16, value []byte) []byte {
	n := unix.SizeofRtAttr + len(value)
	b = binary.NativeEndian.AppendUint16(b, uint16(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, value...)
	for range nlmAlign(n) - n {
		b = append(b, 0)
	}
	return b
}
