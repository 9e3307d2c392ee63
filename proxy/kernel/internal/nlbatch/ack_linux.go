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
	return withExtAckMessage(err, rest[Align(reqLen):])
}

// doneError decodes the payload of the NLMSG_DONE closing a dump: nil, else the errno the
// dump failed with, annotated like ackError's. The errno is followed directly by the
// extended ack attributes: a dump's end echoes no request.
func doneError(flags uint16, data []byte) error {
	if len(data) < 4 {
		return nil // a DONE without payload ends a dump that succeeded
	}
	errno := int32(binary.NativeEndian.Uint32(data[:4]))
	if errno == 0 {
		return nil
	}
	var err error = syscall.Errno(-errno)
	if flags&unix.NLM_F_ACK_TLVS == 0 {
		return err
	}
	return withExtAckMessage(err, data[4:])
}

// withExtAckMessage annotates err with the kernel's message among the extended ack
// attributes, if there is one.
func withExtAckMessage(err error, attrs []byte) error {
	parsed, perr := nl.ParseRouteAttr(attrs)
	if perr != nil {
		return err
	}
	for _, attr := range parsed {
		if attr.Attr.Type == unix.NLMSGERR_ATTR_MSG {
			return fmt.Errorf("%w (%s)", err, unix.ByteSliceToString(attr.Value))
		}
	}
	return err
}
