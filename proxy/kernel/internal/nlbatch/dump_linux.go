package nlbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// A dump streams: each answer is decoded in the socket's one buffer as it arrives, so a
// table of 10,000 addresses or 40,000 set entries is never held as raw messages (nor as
// per-message copies, as vishvananda's Execute keeps them) while it is read.

// ErrDumpInterrupted reports that the kernel's table changed while a dump read it
// (NLM_F_DUMP_INTR): what the dump delivered may be incomplete or inconsistent. Test for
// it with errors.Is and read the table again.
var ErrDumpInterrupted = errors.New("netlink dump interrupted: the table changed while the kernel read it; read it again")

// dumpBufferSize is the buffer a dump reads into. The kernel sizes a dump's datagrams to
// the largest buffer its reader offered, at most 32 KiB; a larger datagram (one object
// bigger than that) grows the buffer.
const dumpBufferSize = 64 << 10

// Dump sends req, one netlink message (header and payload, encoded by the caller), as a
// dump request: Dump sets its length, sequence number and port id, and ORs
// NLM_F_REQUEST|NLM_F_DUMP into its flags. It then reads the answers and calls each with
// the type and payload (after the netlink header) of every message until the kernel's
// NLMSG_DONE. payload lies in the socket's buffer and is valid only during the call:
// each copies what it keeps.
//
// Dump returns the kernel's error for the request (an NLMSG_ERROR answer, or a DONE
// carrying an errno), annotated with the extended ack message if any. When each fails,
// Dump reads the rest of the dump without passing it on and returns each's error. When
// the kernel marks the dump interrupted, Dump stops calling each and returns an error
// that errors.Is matches with ErrDumpInterrupted: discard what each collected and dump
// again.
func (s *Socket) Dump(req []byte, each func(msgType uint16, payload []byte) error) error {
	if len(req) < unix.SizeofNlMsghdr {
		return fmt.Errorf("netlink dump request of %d bytes: expected at least a %d-byte header", len(req), unix.SizeofNlMsghdr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seq == math.MaxUint32 {
		s.seq = 0
	}
	s.seq++
	s.buf = append(s.buf[:0], req...)
	ne := binary.NativeEndian
	ne.PutUint32(s.buf[0:], uint32(len(req)))
	ne.PutUint16(s.buf[6:], ne.Uint16(s.buf[6:])|unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(s.buf[8:], s.seq)
	ne.PutUint32(s.buf[12:], 0) // the kernel fills in our port id
	typ := ne.Uint16(s.buf[4:])
	if err := s.send(s.buf); err != nil {
		return fmt.Errorf("send netlink dump request (type %d): %w", typ, err)
	}
	d := dumpReader{seq: s.seq, each: each}
	for {
		b, err := s.receiveDatagram()
		if err != nil {
			return fmt.Errorf("read the answers to netlink dump request (type %d): %w", typ, err)
		}
		if done, err := d.datagram(b); done {
			return err
		}
	}
}

// receiveDatagram reads the next datagram the kernel sent into s.buf, waiting for it at
// most the socket's receive timeout. The socket is non-blocking (vishvananda/netlink
// registers it with Go's poller, which only its own Receive can use), so the wait is a
// poll(2) of the descriptor.
func (s *Socket) receiveDatagram() ([]byte, error) {
	fd := s.s.GetFd()
	if cap(s.buf) < dumpBufferSize {
		s.buf = make([]byte, dumpBufferSize)
	}
	s.buf = s.buf[:cap(s.buf)]
	_, timeout := s.s.GetTimeouts()
	for {
		// Peek at the datagram's length first so that none is cut short.
		n, _, err := unix.Recvfrom(fd, s.buf, unix.MSG_PEEK|unix.MSG_TRUNC)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			if err := waitReadable(fd, timeout); err != nil {
				return nil, err
			}
			continue
		case errors.Is(err, unix.ENOBUFS):
			return nil, fmt.Errorf("%w: the kernel dropped answers that did not fit the socket's receive buffer", err)
		case err != nil:
			return nil, err
		}
		if n > len(s.buf) {
			s.buf = make([]byte, n)
		}
		n, from, err := unix.Recvfrom(fd, s.buf, 0)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != nl.PidKernel {
			continue
		}
		return s.buf[:n], nil
	}
}

// waitReadable waits until fd has a datagram to read, at most timeout (0: no limit).
func waitReadable(fd int, timeout time.Duration) error {
	ms := -1
	if timeout > 0 {
		ms = int(timeout.Milliseconds())
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, ms)
		if errors.Is(err, unix.EINTR) {
			continue // restarts the whole timeout; a signal storm is not expected here
		}
		if err != nil {
			return fmt.Errorf("wait for the kernel's answer: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("no answer from the kernel within %v: %w", timeout, unix.EAGAIN)
		}
		return nil
	}
}

// dumpReader follows the answers to one dump request, datagram by datagram.
type dumpReader struct {
	seq  uint32
	each func(msgType uint16, payload []byte) error
	// stop is each's error: once set, the rest of the dump is read but not passed on.
	stop        error
	interrupted bool
}

// datagram handles the messages of one datagram; done reports that the dump ended, with
// err its result.
func (d *dumpReader) datagram(b []byte) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < unix.SizeofNlMsghdr {
			return true, fmt.Errorf("netlink message header of %d bytes: expected %d", len(b), unix.SizeofNlMsghdr)
		}
		n := int(ne.Uint32(b[0:]))
		if n < unix.SizeofNlMsghdr || n > len(b) {
			return true, fmt.Errorf("netlink message of length %d in %d bytes: expected %d to %d", n, len(b), unix.SizeofNlMsghdr, len(b))
		}
		typ, flags, seq := ne.Uint16(b[4:]), ne.Uint16(b[6:]), ne.Uint32(b[8:])
		payload := b[unix.SizeofNlMsghdr:n]
		b = b[min(Align(n), len(b)):]
		if seq != d.seq {
			continue // an answer to an earlier request, left unread when it failed
		}
		if flags&unix.NLM_F_DUMP_INTR != 0 {
			d.interrupted = true
		}
		switch typ {
		case unix.NLMSG_NOOP:
			continue
		case unix.NLMSG_ERROR:
			// Nil for an ack: a request with NLM_F_ACK may be acked rather than dumped.
			if err := ackError(flags, payload); err != nil {
				return true, err
			}
			return true, d.result()
		case unix.NLMSG_DONE:
			if err := doneError(flags, payload); err != nil {
				return true, err
			}
			return true, d.result()
		}
		if d.stop == nil && !d.interrupted {
			d.stop = d.each(typ, payload)
		}
		if flags&unix.NLM_F_MULTI == 0 {
			// A single answer, not a dump: nothing follows it.
			return true, d.result()
		}
	}
	return false, nil
}

func (d *dumpReader) result() error {
	if d.stop != nil {
		return d.stop
	}
	if d.interrupted {
		return ErrDumpInterrupted
	}
	return nil
}
