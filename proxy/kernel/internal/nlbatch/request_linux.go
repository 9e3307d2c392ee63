package nlbatch

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// AppendRequest appends the struct nlmsghdr of a request of msgType with
// NLM_F_REQUEST|flags and returns where the message starts; EndRequest sets its nlmsg_len
// once the payload follows. nlmsg_pid stays 0: the kernel fills in ours.
func AppendRequest(b []byte, msgType, flags uint16, seq uint32) ([]byte, int) {
	start := len(b)
	b = binary.NativeEndian.AppendUint32(b, 0) // nlmsg_len
	b = binary.NativeEndian.AppendUint16(b, msgType)
	b = binary.NativeEndian.AppendUint16(b, unix.NLM_F_REQUEST|flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0) // nlmsg_pid
	return b, start
}

// EndRequest sets the nlmsg_len of the message AppendRequest started at start to what b
// holds from there, and returns b.
func EndRequest(b []byte, start int) []byte {
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}
