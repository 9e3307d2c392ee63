package netif

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// nlmsgerr builds an NLMSG_ERROR payload: the errno, the header of the refused request
// (with its payload unless capped) and, when msg is set, an NLMSGERR_ATTR_MSG attribute.
func nlmsgerr(errno int32, capped bool, msg string) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(errno))
	req := appendAddrMsg(nil, unix.RTM_NEWADDR, 0, 7, 3, mustPrefix("ff02::5/128"))
	if capped {
		req = req[:unix.SizeofNlMsghdr]
	}
	b = append(b, req...)
	if msg != "" {
		b = appendAttr(b, unix.NLMSGERR_ATTR_MSG, append([]byte(msg), 0))
	}
	return b
}

func TestAckError(t *testing.T) {
	tests := []struct {
		name    string
		flags   uint16
		data    []byte
		want    error  // errors.Is target; nil for an ack
		wantMsg string // the whole message, when set
	}{
		{name: "ack", data: binary.NativeEndian.AppendUint32(nil, 0)},
		{name: "errno only", data: nlmsgerr(-int32(unix.EEXIST), true, "")[:4], want: unix.EEXIST, wantMsg: "file exists"},
		{name: "extended ack message", flags: unix.NLM_F_ACK_TLVS, data: nlmsgerr(-int32(unix.EADDRNOTAVAIL), false, "ipv6: Cannot assign multicast address"),
			want: unix.EADDRNOTAVAIL, wantMsg: "cannot assign requested address (ipv6: Cannot assign multicast address)"},
		{name: "capped request", flags: unix.NLM_F_ACK_TLVS | unix.NLM_F_CAPPED, data: nlmsgerr(-int32(unix.EINVAL), true, "bad prefix"),
			want: unix.EINVAL, wantMsg: "invalid argument (bad prefix)"},
		{name: "attributes flagged but missing", flags: unix.NLM_F_ACK_TLVS, data: nlmsgerr(-int32(unix.ENODEV), false, ""), want: unix.ENODEV, wantMsg: "no such device"},
		{name: "truncated", data: []byte{1, 2}, wantMsg: "rtnetlink answer of 2 bytes: expected at least 4 (struct nlmsgerr)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ackError(tt.flags, tt.data)
			if tt.want == nil && tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ackError = %v, expected nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ackError = nil, expected an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("ackError = %v, expected it to wrap %v", err, tt.want)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("ackError = %q, expected %q", err, tt.wantMsg)
			}
		})
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
