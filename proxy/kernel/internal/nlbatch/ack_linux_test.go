package nlbatch

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// newAddrRequest is an RTM_NEWADDR request for ff02::5/128 on link 3, as a refused
// request comes back inside struct nlmsgerr.
func newAddrRequest() []byte {
	b, start := AppendRequest(nil, unix.RTM_NEWADDR, unix.NLM_F_ACK, 7)
	b = append(b, unix.AF_INET6, 128, 0, unix.RT_SCOPE_UNIVERSE)
	b = binary.NativeEndian.AppendUint32(b, 3)
	ip := []byte{0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5}
	b = AppendAttr(b, unix.IFA_LOCAL, ip)
	b = AppendAttr(b, unix.IFA_ADDRESS, ip)
	return EndRequest(b, start)
}

// nlmsgerr builds an NLMSG_ERROR payload the way the kernel does: the errno, the header
// of the refused request (with its payload unless capped) and the extended ack attributes.
func nlmsgerr(errno int32, capped bool, attrs ...[]byte) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(errno))
	req := newAddrRequest()
	if capped {
		req = req[:unix.SizeofNlMsghdr]
	}
	b = append(b, req...)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func msgAttr(msg string) []byte {
	return AppendAttr(nil, unix.NLMSGERR_ATTR_MSG, append([]byte(msg), 0))
}

func TestAckError(t *testing.T) {
	offs := AppendU32Attr(nil, unix.NLMSGERR_ATTR_OFFS, 20)
	tests := []struct {
		name    string
		flags   uint16
		data    []byte
		want    error  // errors.Is target; nil for an ack
		wantMsg string // the whole message, when set
	}{
		{name: "ack", data: binary.NativeEndian.AppendUint32(nil, 0)},
		{name: "ack with the request echoed", data: nlmsgerr(0, false)},
		{name: "errno only", data: nlmsgerr(-int32(unix.EEXIST), true)[:4], want: unix.EEXIST, wantMsg: "file exists"},
		{name: "whole request, no extended ack", data: nlmsgerr(-int32(unix.EEXIST), false), want: unix.EEXIST, wantMsg: "file exists"},
		{name: "extended ack message", flags: unix.NLM_F_ACK_TLVS, data: nlmsgerr(-int32(unix.EADDRNOTAVAIL), false, msgAttr("ipv6: Cannot assign multicast address")),
			want: unix.EADDRNOTAVAIL, wantMsg: "cannot assign requested address (ipv6: Cannot assign multicast address)"},
		{name: "message after the offset attribute", flags: unix.NLM_F_ACK_TLVS, data: nlmsgerr(-int32(unix.EINVAL), false, offs, msgAttr("bad attribute")),
			want: unix.EINVAL, wantMsg: "invalid argument (bad attribute)"},
		{name: "capped request", flags: unix.NLM_F_ACK_TLVS | unix.NLM_F_CAPPED, data: nlmsgerr(-int32(unix.EINVAL), true, msgAttr("bad prefix")),
			want: unix.EINVAL, wantMsg: "invalid argument (bad prefix)"},
		{name: "message ignored without NLM_F_ACK_TLVS", data: nlmsgerr(-int32(unix.EINVAL), false, msgAttr("bad prefix")), want: unix.EINVAL, wantMsg: "invalid argument"},
		{name: "attributes flagged but missing", flags: unix.NLM_F_ACK_TLVS, data: nlmsgerr(-int32(unix.ENODEV), false), want: unix.ENODEV, wantMsg: "no such device"},
		{name: "only the offset attribute", flags: unix.NLM_F_ACK_TLVS, data: nlmsgerr(-int32(unix.ERANGE), false, offs), want: unix.ERANGE, wantMsg: "numerical result out of range"},
		{name: "request longer than the answer", flags: unix.NLM_F_ACK_TLVS, data: nlmsgerr(-int32(unix.EPERM), false)[:30], want: unix.EPERM, wantMsg: "operation not permitted"},
		{name: "truncated", data: []byte{1, 2}, wantMsg: "netlink error answer of 2 bytes: expected at least 4 (struct nlmsgerr)"},
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
