// Package nlbatch sends netlink requests in batches and writes their attributes: many
// messages in one sendmsg, only the last asking for an ack, the kernel's refusals matched
// back to the messages by sequence number. It also streams dumps (Socket.Dump): each
// answer is handed over from one reused buffer as it arrives, so that reading a big table
// holds no copy of it. netif (rtnetlink addresses), ipvs (generic netlink services) and
// ipset (nfnetlink) encode their messages with the appenders here, netif, ipset and ipvs
// read their tables with Dump, and netif and ipvs word their batch errors with Failures.
package nlbatch

import "encoding/binary"

// attrHeaderLen is the size of struct nlattr (and of struct rtattr): length, then type.
const attrHeaderLen = 4

// alignTo is NLMSG_ALIGNTO and NLA_ALIGNTO: messages and attributes start on 4 bytes.
const alignTo = 4

// Align rounds n up to the netlink alignment of messages and attributes (4 bytes).
func Align(n int) int { return (n + alignTo - 1) &^ (alignTo - 1) }

// AppendAttr appends one netlink attribute, padded to the alignment. A nested attribute is
// appended with no value and its length fixed once its children follow.
func AppendAttr(b []byte, typ uint16, value []byte) []byte {
	n := attrHeaderLen + len(value)
	b = binary.NativeEndian.AppendUint16(b, uint16(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, value...)
	for range Align(n) - n {
		b = append(b, 0)
	}
	return b
}

// AppendU16Attr appends an attribute holding v in host byte order, padded, without a value
// slice of its own.
func AppendU16Attr(b []byte, typ, v uint16) []byte {
	b = binary.NativeEndian.AppendUint16(b, attrHeaderLen+2)
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, v)
	return append(b, 0, 0)
}

// AppendU32Attr appends an attribute holding v in host byte order.
func AppendU32Attr(b []byte, typ uint16, v uint32) []byte {
	b = binary.NativeEndian.AppendUint16(b, attrHeaderLen+4)
	b = binary.NativeEndian.AppendUint16(b, typ)
	return binary.NativeEndian.AppendUint32(b, v)
}
