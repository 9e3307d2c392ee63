package nlbatch

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// appendMsg appends one netlink message as the kernel answers a dump.
func appendMsg(b []byte, typ, flags uint16, seq uint32, payload []byte) []byte {
	b = binary.NativeEndian.AppendUint32(b, uint32(unix.SizeofNlMsghdr+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 4242)
	b = append(b, payload...)
	for len(b)%alignTo != 0 {
		b = append(b, 0)
	}
	return b
}

func errnoPayload(errno int32) []byte {
	return binary.NativeEndian.AppendUint32(nil, uint32(errno))
}

func TestDumpReader(t *testing.T) {
	const seq = 7
	multi := uint16(unix.NLM_F_MULTI)
	data := func(s string) []byte { return []byte(s) }
	eachErr := errors.New("each refused")
	tests := []struct {
		name      string
		datagrams [][]byte
		eachFails string // payload each refuses
		want      []string
		wantDone  bool
		wantErr   error
		wantText  string
	}{
		{
			name: "messages over datagrams then DONE",
			datagrams: [][]byte{
				appendMsg(appendMsg(nil, 16, multi, seq, data("a")), 16, multi, seq, data("bb")),
				appendMsg(appendMsg(nil, 16, multi, seq, data("ccc")), unix.NLMSG_DONE, multi, seq, errnoPayload(0)),
			},
			want:     []string{"a", "bb", "ccc"},
			wantDone: true,
		},
		{
			name:      "DONE without payload",
			datagrams: [][]byte{appendMsg(appendMsg(nil, 16, multi, seq, data("a")), unix.NLMSG_DONE, multi, seq, nil)},
			want:      []string{"a"},
			wantDone:  true,
		},
		{
			name: "answers to other requests are skipped",
			datagrams: [][]byte{
				appendMsg(appendMsg(nil, unix.NLMSG_ERROR, 0, seq-1, errnoPayload(-int32(unix.ENODEV))), 16, multi, seq-1, data("old")),
				appendMsg(appendMsg(nil, 16, multi, seq, data("a")), unix.NLMSG_DONE, multi, seq, errnoPayload(0)),
			},
			want:     []string{"a"},
			wantDone: true,
		},
		{
			name:      "refused request",
			datagrams: [][]byte{appendMsg(nil, unix.NLMSG_ERROR, 0, seq, errnoPayload(-int32(unix.EOPNOTSUPP)))},
			wantDone:  true,
			wantErr:   unix.EOPNOTSUPP,
		},
		{
			name:      "acked request",
			datagrams: [][]byte{appendMsg(nil, unix.NLMSG_ERROR, 0, seq, errnoPayload(0))},
			wantDone:  true,
		},
		{
			name:      "DONE with an errno",
			datagrams: [][]byte{appendMsg(appendMsg(nil, 16, multi, seq, data("a")), unix.NLMSG_DONE, multi, seq, errnoPayload(-int32(unix.EMSGSIZE)))},
			want:      []string{"a"},
			wantDone:  true,
			wantErr:   unix.EMSGSIZE,
		},
		{
			name: "DONE with an errno and an extended ack message",
			datagrams: [][]byte{appendMsg(nil, unix.NLMSG_DONE, multi|unix.NLM_F_ACK_TLVS, seq,
				AppendAttr(errnoPayload(-int32(unix.EINVAL)), unix.NLMSGERR_ATTR_MSG, []byte("bad filter\x00")))},
			wantDone: true,
			wantErr:  unix.EINVAL,
			wantText: "invalid argument (bad filter)",
		},
		{
			name: "interrupted: each is not called from the interrupted message on",
			datagrams: [][]byte{
				appendMsg(appendMsg(nil, 16, multi, seq, data("a")), 16, multi|unix.NLM_F_DUMP_INTR, seq, data("b")),
				appendMsg(appendMsg(nil, 16, multi, seq, data("c")), unix.NLMSG_DONE, multi, seq, errnoPayload(0)),
			},
			want:     []string{"a"},
			wantDone: true,
			wantErr:  ErrDumpInterrupted,
		},
		{
			name: "each fails: the rest is read, not passed on",
			datagrams: [][]byte{
				appendMsg(appendMsg(nil, 16, multi, seq, data("a")), 16, multi, seq, data("b")),
				appendMsg(appendMsg(nil, 16, multi, seq, data("c")), unix.NLMSG_DONE, multi, seq, errnoPayload(0)),
			},
			eachFails: "b",
			want:      []string{"a", "b"},
			wantDone:  true,
			wantErr:   eachErr,
		},
		{
			name:      "a single answer ends without DONE",
			datagrams: [][]byte{appendMsg(nil, 16, 0, seq, data("a"))},
			want:      []string{"a"},
			wantDone:  true,
		},
		{
			name:      "no DONE yet",
			datagrams: [][]byte{appendMsg(nil, 16, multi, seq, data("a"))},
			want:      []string{"a"},
		},
		{
			name:      "truncated header",
			datagrams: [][]byte{appendMsg(nil, 16, multi, seq, data("a"))[:10]},
			wantDone:  true,
			wantText:  "netlink message header of 10 bytes: expected 16",
		},
		{
			name:      "length beyond the datagram",
			datagrams: [][]byte{appendMsg(nil, 16, multi, seq, data("abcd"))[:18]},
			wantDone:  true,
			wantText:  "netlink message of length 20 in 18 bytes: expected 16 to 18",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			d := dumpReader{seq: seq, each: func(typ uint16, payload []byte) error {
				if typ != 16 {
					t.Errorf("each called with type %d, expected 16", typ)
				}
				got = append(got, string(payload))
				if string(payload) == tt.eachFails {
					return eachErr
				}
				return nil
			}}
			var done bool
			var err error
			for i, dg := range tt.datagrams {
				if done {
					t.Fatalf("done before datagram %d", i)
				}
				done, err = d.datagram(dg)
			}
			if done != tt.wantDone {
				t.Errorf("done = %v, expected %v", done, tt.wantDone)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("each saw %q, expected %q", got, tt.want)
			}
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error %v, expected %v", err, tt.wantErr)
			case tt.wantErr == nil && tt.wantText == "" && err != nil:
				t.Errorf("error %v, expected none", err)
			case tt.wantText != "" && (err == nil || err.Error() != tt.wantText):
				t.Errorf("error %v, expected %q", err, tt.wantText)
			}
		})
	}
}

// getLinkDump is an RTM_GETLINK dump request of every link, as Dump takes it.
func getLinkDump() []byte {
	b := appendMsg(nil, unix.RTM_GETLINK, 0, 0, make([]byte, unix.SizeofIfInfomsg))
	b[unix.SizeofNlMsghdr] = unix.AF_UNSPEC
	return b
}

// dumpLinkNames dumps the links of the test's network namespace through s.
func dumpLinkNames(t *testing.T, s *Socket) []string {
	t.Helper()
	var names []string
	err := s.Dump(getLinkDump(), func(typ uint16, payload []byte) error {
		if typ != unix.RTM_NEWLINK {
			t.Errorf("dump answered a message of type %d, expected RTM_NEWLINK (%d)", typ, unix.RTM_NEWLINK)
			return nil
		}
		attrs := payload[unix.SizeofIfInfomsg:]
		for len(attrs) >= attrHeaderLen {
			n := int(binary.NativeEndian.Uint16(attrs))
			if n < attrHeaderLen || n > len(attrs) {
				t.Fatalf("attribute of length %d in %d bytes", n, len(attrs))
			}
			if binary.NativeEndian.Uint16(attrs[2:]) == unix.IFLA_IFNAME {
				names = append(names, unix.ByteSliceToString(attrs[attrHeaderLen:n]))
			}
			attrs = attrs[min(Align(n), len(attrs)):]
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Dump(RTM_GETLINK): %v", err)
	}
	return names
}

// TestDumpLinks dumps the links of this test's network namespace and expects the names
// vishvananda/netlink lists.
func TestDumpLinks(t *testing.T) {
	s := openRoute(t)
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range links {
		want = append(want, l.Attrs().Name)
	}
	// Twice: the second dump reuses the buffer and sequence numbers go on.
	for range 2 {
		if got := dumpLinkNames(t, s); !slices.Equal(got, want) {
			t.Errorf("dumped links %q, expected %q", got, want)
		}
	}
}

// TestDumpRefused sends a request of a type rtnetlink does not have and expects the
// kernel's refusal, then a dump on the same socket to work.
func TestDumpRefused(t *testing.T) {
	s := openRoute(t)
	req := appendMsg(nil, unix.RTM_MAX+1, 0, 0, make([]byte, unix.SizeofIfInfomsg))
	err := s.Dump(req, func(uint16, []byte) error {
		t.Error("each called for a refused request")
		return nil
	})
	if !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("Dump of type %d: %v, expected EOPNOTSUPP", unix.RTM_MAX+1, err)
	}
	if len(dumpLinkNames(t, s)) == 0 {
		t.Error("no link dumped after a refused request, expected lo at least")
	}
}

// TestDumpStopsAtEachError stops a dump at its first message, then expects the next dump
// on the socket to see every link: the rest of the first was read.
func TestDumpStopsAtEachError(t *testing.T) {
	s := openRoute(t)
	stop := errors.New("stop here")
	calls := 0
	err := s.Dump(getLinkDump(), func(uint16, []byte) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Dump = %v after %d calls, expected each's error after 1", err, calls)
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	if got := dumpLinkNames(t, s); len(got) != len(links) {
		t.Errorf("second dump saw %d links, expected %d", len(got), len(links))
	}
}

// TestDumpSkipsEarlierAnswers leaves answers to other requests unread on the socket, as an
// exchange that failed half way does, and expects a dump not to be confused by them.
func TestDumpSkipsEarlierAnswers(t *testing.T) {
	s := openRoute(t)
	var stale []byte
	for i := range 3 {
		stale = appendGetLink(stale, 1000+uint32(i), unix.NLM_F_ACK, linkMissing)
	}
	stale = appendGetLink(stale, 1003, 0, linkLoopback)
	if err := s.send(stale); err != nil {
		t.Fatal(err)
	}
	s.seq = 1003 // the dump's own number comes next, as after an exchange
	if got := dumpLinkNames(t, s); len(got) == 0 || !strings.Contains(strings.Join(got, " "), "lo") {
		t.Errorf("dumped links %q, expected lo among them", got)
	}
}

func TestDumpRefusesShortRequest(t *testing.T) {
	s := openRoute(t)
	if err := s.Dump(make([]byte, 8), func(uint16, []byte) error { return nil }); err == nil {
		t.Error("Dump of an 8-byte request succeeded, expected an error")
	}
}
