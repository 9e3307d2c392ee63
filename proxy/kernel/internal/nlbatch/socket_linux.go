package nlbatch

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The kernel handles the messages of one send in order before sendmsg returns, each on
// its own, and answers every one that fails with an error carrying its sequence number.
// Only the last message of a send asks for an ack, so a send that succeeds costs one
// receive instead of a round trip per message.

// BatchSize bounds the messages of one send. Every answer is queued on the socket until
// read, and answers that do not fit its receive buffer (rmem_default, about 200 KiB; a
// refusal takes under 1 KiB of it) are dropped: a send whose every message fails must
// still fit.
const BatchSize = 128

// Socket is a netlink socket that exchanges batches of requests with the kernel. Its
// exchanges are serialized.
type Socket struct {
	mu  sync.Mutex
	s   *nl.NetlinkSocket
	seq uint32
	buf []byte
}

// Open opens a netlink socket of protocol (NETLINK_ROUTE, NETLINK_GENERIC, ...) in the
// network namespace ns, the caller's when ns is not open (netns.None()). Extended acks
// make the kernel say why it refused a message where it can.
func Open(ns netns.NsHandle, protocol int) (*Socket, error) {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), protocol)
	if err != nil {
		return nil, err
	}
	// Answers come at once (sendmsg runs the requests); the timeout only guards against a
	// kernel that never answers.
	if err := s.SetReceiveTimeout(&nl.SocketTimeoutTv); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.SetExtAck(true); err != nil {
		s.Close()
		return nil, err
	}
	return &Socket{s: s}, nil
}

// Close releases the socket.
func (s *Socket) Close() { s.s.Close() }

// Exchange sends n messages in sends of BatchSize, encode appending message i to buf
// with the sequence number seq and the flags (NLM_F_ACK on the last of a send) it must OR
// into its header's, and calls refused with the index and the kernel's error of each
// message the kernel refused. An error means the exchange itself failed: the messages it
// did not report on may or may not have been applied.
func (s *Socket) Exchange(n int, encode func(buf []byte, i int, seq uint32, flags uint16) []byte, refused func(i int, err error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for start := 0; start < n; start += BatchSize {
		end := min(start+BatchSize, n)
		if s.seq > math.MaxUint32-BatchSize {
			s.seq = 0 // the numbers of a send must not wrap around
		}
		first := s.seq + 1
		s.buf = s.buf[:0]
		for i := start; i < end; i++ {
			var flags uint16
			if i == end-1 {
				flags = unix.NLM_F_ACK
			}
			s.seq++
			s.buf = encode(s.buf, i, s.seq, flags)
		}
		if err := s.send(s.buf); err != nil {
			return fmt.Errorf("send %d netlink messages: %w", end-start, err)
		}
		if err := s.receive(first, s.seq, func(seq uint32, err error) { refused(start+int(seq-first), err) }); err != nil {
			return fmt.Errorf("read the answers to %d netlink messages: %w", end-start, err)
		}
	}
	return nil
}

func (s *Socket) send(b []byte) error {
	for {
		err := unix.Sendto(s.s.GetFd(), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// receive reads answers until the one to last, calling refused for each error answer to a
// message numbered first..last. Answers to earlier exchanges (left unread when one failed)
// are skipped by their numbers.
func (s *Socket) receive(first, last uint32, refused func(seq uint32, err error)) error {
	for {
		msgs, from, err := s.s.Receive()
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
