package ipset

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/internal/nlbatch"
)

// batchSize bounds the entries sent in one netlink message, well below the socket
// buffer (an IPv6 hash:ip,port,ip entry takes about 80 bytes).
const batchSize = 256

// The ipset netlink protocol (include/uapi/linux/netfilter/ipset/ip_set.h), written and
// read here without a library: vishvananda/netlink sends one request per entry, cannot set
// the hash size and logs every attribute it does not know (bucketsize, initval).

// Commands.
const (
	cmdCreate  = 2
	cmdDestroy = 3
	cmdList    = 7
	cmdAdd     = 9
	cmdDel     = 10
	cmdHeader  = 12
	cmdType    = 13
)

// Attributes at command level.
const (
	attrProtocol    = 1
	attrSetName     = 2
	attrTypeName    = 3
	attrRevision    = 4
	attrFamily      = 5
	attrData        = 7
	attrADT         = 8
	attrLineNo      = 9
	attrRevisionMin = 10
)

// Attributes inside attrData: create options and entry fields.
const (
	attrIP        = 1
	attrCIDR      = 3
	attrPort      = 4 // also the first port of a bitmap's range
	attrPortTo    = 5
	attrProto     = 7
	attrCADTFlags = 8
	attrHashSize  = 18
	attrMaxElem   = 19
	attrIP2       = 20
	attrCIDR2     = 21

	attrIPv4 = 1 // inside attrIP / attrIP2
	attrIPv6 = 2
)

const (
	nlaFNested       = 0x8000
	nlaFNetByteorder = 0x4000
	nlaTypeMask      = ^uint16(nlaFNested | nlaFNetByteorder)

	// protocolVersion is the oldest protocol every kernel since 3.x speaks.
	protocolVersion = 6
	flagWithComment = 1 << 4 // IPSET_FLAG_WITH_COMMENT, in attrCADTFlags

	// Families as ipset sends them (NFPROTO_*).
	nfprotoUnspec = 0
	nfprotoIPv4   = 2
	nfprotoIPv6   = 10

	// ipsetErrPrivate is where ipset's own error codes start (IPSET_ERR_PRIVATE).
	ipsetErrPrivate = 4096
)

var protocolNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 136: "udplite"}

// attr is one netlink attribute with the type flags masked off.
type attr struct {
	typ uint16
	val []byte
}

func appendString(b []byte, typ uint16, s string) []byte {
	return nlbatch.AppendAttr(b, typ, append([]byte(s), 0))
}

// The helpers below append attributes in place, without a value slice of their own: an
// add of many members encodes every member through them.

func appendU8(b []byte, typ uint16, v uint8) []byte {
	b = binary.NativeEndian.AppendUint16(b, 5)
	b = binary.NativeEndian.AppendUint16(b, typ)
	return append(b, v, 0, 0, 0)
}

func appendBE16(b []byte, typ uint16, v uint16) []byte {
	b = binary.NativeEndian.AppendUint16(b, 6)
	b = binary.NativeEndian.AppendUint16(b, typ|nlaFNetByteorder)
	b = binary.BigEndian.AppendUint16(b, v)
	return append(b, 0, 0)
}

func appendBE32(b []byte, typ uint16, v uint32) []byte {
	b = binary.NativeEndian.AppendUint16(b, 8)
	b = binary.NativeEndian.AppendUint16(b, typ|nlaFNetByteorder)
	return binary.BigEndian.AppendUint32(b, v)
}

// appendAddr appends an address nested in its family's attribute.
func appendAddr(b []byte, typ uint16, a netip.Addr) []byte {
	v, attr := a.AsSlice(), uint16(attrIPv6)
	if a.Is4() {
		attr = attrIPv4
	}
	b = binary.NativeEndian.AppendUint16(b, uint16(4+4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ|nlaFNested)
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, attr|nlaFNetByteorder)
	return append(b, v...)
}

// beginNest appends the header of a nested attribute whose length endNest sets once its
// children follow.
func beginNest(b []byte, typ uint16) ([]byte, int) {
	at := len(b)
	b = binary.NativeEndian.AppendUint16(b, 0)
	return binary.NativeEndian.AppendUint16(b, typ|nlaFNested), at
}

func endNest(b []byte, at int) []byte {
	binary.NativeEndian.PutUint16(b[at:], uint16(len(b)-at))
	return b
}

// message starts a request payload: the nfgenmsg header and the protocol attribute.
func message() []byte {
	b := []byte{2 /* AF_INET, as ipset sends it */, 0 /* NFNETLINK_V0 */, 0, 0}
	return appendU8(b, attrProtocol, protocolVersion)
}

func familyCode(family string) uint8 {
	switch family {
	case "inet":
		return nfprotoIPv4
	case "inet6":
		return nfprotoIPv6
	}
	return nfprotoUnspec
}

func familyName(code uint8) string {
	switch code {
	case nfprotoIPv4:
		return "inet"
	case nfprotoIPv6:
		return "inet6"
	}
	return ""
}

// encodeName is the payload of the commands that name one set (destroy, header, list).
func encodeName(name string) []byte { return appendString(message(), attrSetName, name) }

// encodeType asks which revisions of a set type the kernel has.
func encodeType(setType string, family uint8) []byte {
	b := appendString(message(), attrTypeName, setType)
	return appendU8(b, attrFamily, family)
}

// encodeCreate is the payload creating a set from a normalized header.
func encodeCreate(h dataplane.IPSet, revision uint8) []byte {
	b := appendString(message(), attrSetName, h.Name)
	b = appendString(b, attrTypeName, h.Type)
	b = appendU8(b, attrRevision, revision)
	b = appendU8(b, attrFamily, familyCode(h.Family))
	var data []byte
	if h.Type == dataplane.SetBitmapPort {
		from, to, _ := parseRange(h.PortRange)
		data = appendBE16(data, attrPort, from)
		data = appendBE16(data, attrPortTo, to)
	} else {
		data = appendBE32(data, attrHashSize, h.HashSize)
		data = appendBE32(data, attrMaxElem, h.MaxElem)
	}
	if h.Comment {
		data = appendBE32(data, attrCADTFlags, flagWithComment)
	}
	return nlbatch.AppendAttr(b, attrData|nlaFNested, data)
}

// encodeEntry is one member as the kernel takes it for a set type.
func encodeEntry(setType string, m dataplane.Member) []byte { return appendEntry(nil, setType, m) }

// appendEntry appends one member's attributes as the kernel takes them for a set type.
func appendEntry(b []byte, setType string, m dataplane.Member) []byte {
	switch setType {
	case dataplane.SetBitmapPort:
		return appendBE16(b, attrPort, m.Port)
	case dataplane.SetHashNet:
		b = appendAddr(b, attrIP, m.Net.Addr())
		return appendU8(b, attrCIDR, uint8(m.Net.Bits()))
	}
	b = appendAddr(b, attrIP, m.IP)
	if setType == dataplane.SetHashIP {
		return b
	}
	b = appendBE16(b, attrPort, m.Port)
	b = appendU8(b, attrProto, protocolNumber(m.Proto))
	switch setType {
	case dataplane.SetHashIPPortIP:
		b = appendAddr(b, attrIP2, m.IP2)
	case dataplane.SetHashIPPortNet:
		b = appendAddr(b, attrIP2, m.Net.Addr())
		b = appendU8(b, attrCIDR2, uint8(m.Net.Bits()))
	}
	return b
}

func protocolNumber(name string) uint8 {
	switch name { // the ones kube-proxy uses, without a walk over the map
	case "tcp":
		return 6
	case "udp":
		return 17
	case "sctp":
		return 132
	}
	for n, s := range protocolNames {
		if s == name {
			return n
		}
	}
	return 0
}

// encodeADT is the payload adding or deleting many members of one set in one message.
func encodeADT(name, setType string, members []dataplane.Member) []byte {
	b := appendString(message(), attrSetName, name)
	// The kernel takes a list of entries only with a line number, which it would fill
	// in with the failing entry's own (none is given here).
	b = nlbatch.AppendU32Attr(b, attrLineNo, 0)
	// About 48 bytes a member (hash:ip,port,ip over IPv4), so that b grows rarely.
	b = slices.Grow(b, 8+48*len(members))
	b, list := beginNest(b, attrADT)
	for _, m := range members {
		var entry int
		b, entry = beginNest(b, attrData)
		b = appendEntry(b, setType, m)
		b = endNest(b, entry)
	}
	return endNest(b, list)
}

// attrCursor walks netlink attributes in place, masking the nested and byte-order flags
// off their types, so that reading a dump of many entries allocates nothing per
// attribute:
//
//	for c := attrsOf(b); c.next(); {
//		use(c.attr)
//	}
//	if c.err != nil { ... }
type attrCursor struct {
	attr // the current attribute, valid after next returned true
	rest []byte
	err  error
}

func attrsOf(b []byte) attrCursor { return attrCursor{rest: b} }

// next moves to the next attribute; false at the end or at a malformed one (err).
func (c *attrCursor) next() bool {
	b := c.rest
	if c.err != nil || len(b) == 0 {
		return false
	}
	if len(b) < 4 {
		c.err = fmt.Errorf("netlink attribute header of %d bytes: expected 4", len(b))
		return false
	}
	n := int(binary.NativeEndian.Uint16(b))
	if n < 4 || n > len(b) {
		c.err = fmt.Errorf("netlink attribute of length %d in %d bytes", n, len(b))
		return false
	}
	c.attr = attr{typ: binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask, val: b[4:n]}
	c.rest = b[min((n+3)&^3, len(b)):]
	return true
}

// checkAttrs walks attributes without using them: the error a walk would meet, and the
// number of attributes.
func checkAttrs(b []byte) (int, error) {
	n := 0
	c := attrsOf(b)
	for c.next() {
		n++
	}
	return n, c.err
}

// setPart is what one message of a list dump says about one set: the first message of a
// set carries its header, later ones (a big set spans several) only more entries.
type setPart struct {
	name     string
	header   bool
	set      dataplane.IPSet
	revision uint8
	// lists are the values of the message's entry lists (attrADT, one in what the
	// kernel sends), each entry an attrData attribute holding the entry's fields, all
	// checked to walk without error; count is the number of entries.
	lists [][]byte
	count int
}

// eachEntry calls f with the fields of each entry, in the message's order.
func (p setPart) eachEntry(f func(fields []byte) error) error {
	for _, list := range p.lists {
		for c := attrsOf(list); c.next(); {
			if err := f(c.val); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeMessage reads one reply payload (after the netlink header) of a list, header or
// type command. The entries are checked to be well formed but left in msg: the part is
// valid as long as msg is.
func decodeMessage(msg []byte) (setPart, error) {
	var p setPart
	if len(msg) < 4 {
		return p, fmt.Errorf("ipset message of %d bytes: expected a 4-byte nfgenmsg header", len(msg))
	}
	if _, err := checkAttrs(msg[4:]); err != nil {
		return p, err
	}
	for c := attrsOf(msg[4:]); c.next(); {
		a := c.attr
		switch a.typ {
		case attrSetName:
			p.name = cString(a.val)
			p.set.Name = p.name
		case attrTypeName:
			p.header = true
			p.set.Type = cString(a.val)
		case attrFamily:
			if len(a.val) < 1 {
				return p, fmt.Errorf("ipset family attribute without a value")
			}
			p.set.Family = familyName(a.val[0])
		case attrRevision:
			if len(a.val) < 1 {
				return p, fmt.Errorf("ipset revision attribute without a value")
			}
			p.revision = a.val[0]
		case attrData:
			if err := decodeHeaderData(&p.set, a.val); err != nil {
				return p, fmt.Errorf("set %s header: %w", p.name, err)
			}
		case attrADT:
			n, err := checkAttrs(a.val)
			if err != nil {
				return p, fmt.Errorf("set %s entries: %w", p.name, err)
			}
			for e := attrsOf(a.val); e.next(); {
				if _, err := checkAttrs(e.val); err != nil {
					return p, fmt.Errorf("set %s entry: %w", p.name, err)
				}
			}
			p.lists = append(p.lists, a.val)
			p.count += n
		}
	}
	return p, nil
}

func decodeHeaderData(set *dataplane.IPSet, b []byte) error {
	if _, err := checkAttrs(b); err != nil {
		return err
	}
	var (
		from, to  uint16
		haveRange bool
		err       error
	)
	for c := attrsOf(b); c.next(); {
		a := c.attr
		switch a.typ {
		case attrHashSize:
			set.HashSize, err = be32(a)
		case attrMaxElem:
			set.MaxElem, err = be32(a)
		case attrCADTFlags:
			var f uint32
			f, err = be32(a)
			set.Comment = f&flagWithComment != 0
		case attrPort:
			from, err = be16(a)
			haveRange = true
		case attrPortTo:
			to, err = be16(a)
		}
		if err != nil {
			return err
		}
	}
	if haveRange {
		set.PortRange = strconv.Itoa(int(from)) + "-" + strconv.Itoa(int(to))
	}
	return nil
}

// decodeEntry turns the fields of one entry (the attributes inside its attrData) into a
// member.
func decodeEntry(setType string, fields []byte) (dataplane.Member, error) {
	var (
		m           dataplane.Member
		ip, ip2     netip.Addr
		cidr, cidr2 = -1, -1
		proto       uint8
		hasProto    bool
		err         error
	)
	c := attrsOf(fields)
	for c.next() {
		f := c.attr
		switch f.typ {
		case attrIP:
			ip, err = decodeAddr(f.val)
		case attrIP2:
			ip2, err = decodeAddr(f.val)
		case attrCIDR:
			cidr, err = u8(f)
		case attrCIDR2:
			cidr2, err = u8(f)
		case attrPort:
			m.Port, err = be16(f)
		case attrProto:
			var p int
			p, err = u8(f)
			proto, hasProto = uint8(p), true
		}
		if err != nil {
			return dataplane.Member{}, err
		}
	}
	if c.err != nil {
		return dataplane.Member{}, c.err
	}
	if hasProto {
		m.Proto = protocolNames[proto]
		if m.Proto == "" {
			m.Proto = strconv.Itoa(int(proto))
		}
	}
	prefix := func(a netip.Addr, bits int) (netip.Prefix, error) {
		if bits < 0 {
			bits = a.BitLen()
		}
		p, err := a.Prefix(bits)
		if err != nil || !a.IsValid() {
			return netip.Prefix{}, fmt.Errorf("entry network %s/%d: expected an address and a prefix length", a, bits)
		}
		return p, nil
	}
	switch setType {
	case dataplane.SetBitmapPort:
	case dataplane.SetHashNet:
		m.Net, err = prefix(ip, cidr)
	case dataplane.SetHashIPPortNet:
		m.IP = ip
		m.Net, err = prefix(ip2, cidr2)
	default:
		m.IP, m.IP2 = ip, ip2
	}
	if err != nil {
		return dataplane.Member{}, err
	}
	if setType != dataplane.SetBitmapPort && setType != dataplane.SetHashNet && !m.IP.IsValid() {
		return dataplane.Member{}, fmt.Errorf("%s entry without an address", setType)
	}
	if setType != dataplane.SetHashIP && setType != dataplane.SetBitmapPort && setType != dataplane.SetHashNet && !hasProto {
		return dataplane.Member{}, fmt.Errorf("%s entry without a protocol", setType)
	}
	// What the kernel sends must read back as a member (a zero prefix length, say, does
	// not), and the member is what ParseMember reads: without the fields the set type has
	// none of (a protocol in a hash:net entry).
	var buf [128]byte // the longest member, hash:ip,port,net over IPv6, takes 95 bytes
	return dataplane.ParseMember(setType, string(appendMember(buf[:0], m)))
}

// appendMember appends m as m.String() writes it, without the intermediate strings
// String concatenates: List checks every member of every set this way.
func appendMember(b []byte, m dataplane.Member) []byte {
	switch {
	case !m.IP.IsValid() && m.Net.IsValid():
		return appendMemberNet(b, m.Net)
	case !m.IP.IsValid():
		return strconv.AppendUint(b, uint64(m.Port), 10)
	case m.Proto == "":
		return m.IP.AppendTo(b)
	}
	b = m.IP.AppendTo(b)
	b = append(b, ',')
	b = append(b, m.Proto...)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(m.Port), 10)
	switch {
	case m.IP2.IsValid():
		b = append(b, ',')
		b = m.IP2.AppendTo(b)
	case m.Net.IsValid():
		b = append(b, ',')
		b = appendMemberNet(b, m.Net)
	}
	return b
}

// appendMemberNet writes a network as ipset does: a host route without its length.
func appendMemberNet(b []byte, p netip.Prefix) []byte {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().AppendTo(b)
	}
	return p.AppendTo(b)
}

func decodeAddr(b []byte) (netip.Addr, error) {
	if _, err := checkAttrs(b); err != nil {
		return netip.Addr{}, err
	}
	for c := attrsOf(b); c.next(); {
		a := c.attr
		if a.typ == attrIPv4 || a.typ == attrIPv6 {
			if ip, ok := netip.AddrFromSlice(a.val); ok && (len(a.val) == 4) == (a.typ == attrIPv4) {
				return ip, nil
			}
			return netip.Addr{}, fmt.Errorf("address attribute of %d bytes", len(a.val))
		}
	}
	return netip.Addr{}, fmt.Errorf("address attribute without an IPv4 or IPv6 address")
}

func be16(a attr) (uint16, error) {
	if len(a.val) < 2 {
		return 0, fmt.Errorf("attribute %d of %d bytes: expected 2", a.typ, len(a.val))
	}
	return binary.BigEndian.Uint16(a.val), nil
}

func be32(a attr) (uint32, error) {
	if len(a.val) < 4 {
		return 0, fmt.Errorf("attribute %d of %d bytes: expected 4", a.typ, len(a.val))
	}
	return binary.BigEndian.Uint32(a.val), nil
}

func u8(a attr) (int, error) {
	if len(a.val) < 1 {
		return 0, fmt.Errorf("attribute %d without a value", a.typ)
	}
	return int(a.val[0]), nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// listDecoder merges the messages of a list dump into sets as they arrive, in the order
// they came. Members of set types this package does not handle are left out.
type listDecoder struct {
	sets  []dataplane.IPSet
	index map[string]int
}

// add decodes one message of the dump; msg may be reused once add returns.
func (d *listDecoder) add(msg []byte) error {
	p, err := decodeMessage(msg)
	if err != nil {
		return err
	}
	if p.name == "" {
		return fmt.Errorf("ipset list message without a set name")
	}
	i, ok := d.index[p.name]
	if !ok {
		if !p.header {
			return fmt.Errorf("ipset list: entries of set %s before its header", p.name)
		}
		if d.index == nil {
			d.index = map[string]int{}
		}
		d.index[p.name] = len(d.sets)
		d.sets = append(d.sets, p.set)
		i = len(d.sets) - 1
	}
	set := &d.sets[i]
	if !knownType(set.Type) {
		return nil
	}
	set.Members = slices.Grow(set.Members, p.count)
	return p.eachEntry(func(fields []byte) error {
		m, err := decodeEntry(set.Type, fields)
		if err != nil {
			return fmt.Errorf("set %s: %w", set.Name, err)
		}
		set.Members = append(set.Members, m)
		return nil
	})
}

func knownType(t string) bool { return slices.Contains(SetTypes, t) }
