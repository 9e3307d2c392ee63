package nlbatch

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ackError decodes an NLMSG_ERROR payload (struct nlmsgerr) answered with header flags:
// nil for an ack, else the errno, annotated with the kernel's message when the socket
// asked for extended acks and the kernel gave one.
func ackError(flags uint16, data []byte) error {
	if len(data) < 4 {
		return fmt.Errorf("netlink error answer of %d bytes: expected at least 4 (struct nlmsgerr)", len(data))
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
	attrs, perr := nl.ParseRouteAttr(rest[Align(reqLen):])
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
