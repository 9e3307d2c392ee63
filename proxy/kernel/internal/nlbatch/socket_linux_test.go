package nlbatch

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// These tests exchange RTM_GETLINK requests with the host's rtnetlink: reading links needs
// no privilege and changes nothing, and the kernel refuses a missing link (ENODEV) and an
// over-long name (ERANGE, with a policy message in the extended ack) per message.

// getLink kinds: what message i of a test asks for.
const (
	linkLoopback = iota // index 1, lo: answered with RTM_NEWLINK, no error
	linkMissing         // an index no link has: ENODEV
	linkBadName         // IFLA_IFNAME longer than IFNAMSIZ: ERANGE
)

func appendGetLink(b []byte, seq uint32, flags uint16, kind int) []byte {
	b, start := AppendRequest(b, unix.RTM_GETLINK, flags, seq)
	index := uint32(1)
	if kind == linkMissing {
		index = 0x7ffffff0
	}
	// struct ifinfomsg
	b = append(b, unix.AF_UNSPEC, 0)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint32(b, index)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = binary.NativeEndian.AppendUint32(b, 0)
	if kind == linkBadName {
		b = AppendAttr(b, unix.IFLA_IFNAME, append([]byte(strings.Repeat("x", 40)), 0))
	}
	return EndRequest(b, start)
}

func openRoute(t *testing.T) *Socket {
	t.Helper()
	s, err := Open(netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("open a NETLINK_ROUTE socket: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// refusal is one call of Exchange's refused.
type refusal struct {
	i   int
	err error
}

func exchange(t *testing.T, s *Socket, kinds []int) []refusal {
	t.Helper()
	var got []refusal
	err := s.Exchange(len(kinds), func(buf []byte, i int, seq uint32, flags uint16) []byte {
		return appendGetLink(buf, seq, flags, kinds[i])
	}, func(i int, err error) { got = append(got, refusal{i, err}) })
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return got
}

func checkRefusals(t *testing.T, kinds []int, got []refusal) {
	t.Helper()
	var want []int
	for i, k := range kinds {
		if k != linkLoopback {
			want = append(want, i)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("refused %d messages, expected %d (indices %v)", len(got), len(want), want)
	}
	for n, r := range got {
		if r.i != want[n] {
			t.Fatalf("refusal %d is of message %d, expected %d: refusals come in order, one per refused message", n, r.i, want[n])
		}
		switch kinds[r.i] {
		case linkMissing:
			if !errors.Is(r.err, unix.ENODEV) {
				t.Errorf("message %d (missing link) refused with %v, expected ENODEV", r.i, r.err)
			}
		case linkBadName:
			if !errors.Is(r.err, unix.ERANGE) {
				t.Errorf("message %d (over-long name) refused with %v, expected ERANGE", r.i, r.err)
			}
		}
	}
}

func TestExchangeAcrossSends(t *testing.T) {
	// A link read is answered with the link (a few KiB for lo), unlike the changes
	// callers batch, which succeed silently: few of them fit a send's receive buffer.
	mixed := func(i int) int {
		switch {
		case i%16 == 0:
			return linkLoopback
		case i%2 == 1:
			return linkMissing
		}
		return linkBadName
	}
	tests := []struct {
		name  string
		kinds func(i int) int
		n     int
	}{
		{"all succeed", func(int) int { return linkLoopback }, 10},
		{"all refused, a whole send of refusals fits", func(int) int { return linkMissing }, 2*BatchSize + 5},
		{"mixed", mixed, 2*BatchSize + 2},
		{"last of each send succeeds", mixed, 2*BatchSize + 1},
		{"one message", func(int) int { return linkBadName }, 1},
		{"none", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openRoute(t)
			kinds := make([]int, tt.n)
			for i := range kinds {
				kinds[i] = tt.kinds(i)
			}
			checkRefusals(t, kinds, exchange(t, s, kinds))
		})
	}
}

// TestExchangeExtendedAck checks that the kernel's reason reaches the error, where the
// kernel gives one (policy messages since Linux 5.2).
func TestExchangeExtendedAck(t *testing.T) {
	s := openRoute(t)
	got := exchange(t, s, []int{linkBadName})
	if len(got) != 1 || !errors.Is(got[0].err, unix.ERANGE) {
		t.Fatalf("refusals %v, expected one ERANGE", got)
	}
	msg := got[0].err.Error()
	if !strings.HasPrefix(msg, "numerical result out of range (") || !strings.HasSuffix(msg, ")") {
		t.Errorf("error %q carries no extended ack message, expected \"numerical result out of range (<the kernel's reason>)\"", msg)
	}
}

func TestExchangeWrapsSequenceNumbers(t *testing.T) {
	s := openRoute(t)
	s.seq = math.MaxUint32 - BatchSize/2
	kinds := []int{linkMissing, linkLoopback, linkMissing, linkBadName}
	checkRefusals(t, kinds, exchange(t, s, kinds))
	if s.seq != uint32(len(kinds)) {
		t.Errorf("sequence number after the exchange = %d, expected %d: a send must restart from 1 rather than wrap", s.seq, len(kinds))
	}
}

// TestExchangeSkipsEarlierAnswers leaves answers unread on the socket, as an exchange that
// failed half way does, and checks the next exchange is not confused by them.
func TestExchangeSkipsEarlierAnswers(t *testing.T) {
	s := openRoute(t)
	var stale []byte
	for i := range 3 {
		stale = appendGetLink(stale, 1000+uint32(i), unix.NLM_F_ACK, linkMissing)
	}
	if err := s.send(stale); err != nil {
		t.Fatal(err)
	}
	s.seq = 2000
	kinds := []int{linkLoopback, linkMissing, linkLoopback}
	checkRefusals(t, kinds, exchange(t, s, kinds))
}
