package dataplane

import (
	"cmp"
	"net/netip"
	"strconv"
	"strings"
)

// Member is one ipset entry of the set types kube-proxy uses, split into its parts:
//
//	hash:ip           IP                     10.96.0.1
//	hash:ip,port      IP, Proto, Port        10.96.0.1,tcp:443
//	hash:ip,port,ip   IP, Proto, Port, IP2   10.244.3.214,tcp:80,10.244.3.214
//	hash:ip,port,net  IP, Proto, Port, Net   10.96.0.1,tcp:443,10.0.0.0/8
//	hash:net          Net                    10.0.0.0/8
//	bitmap:port       Port                   30089
//
// IPv6 members are written the same way, without brackets (fd00::1,tcp:443). A member of
// another set type is kept in Raw as ipset wrote it, the other fields zero.
//
// ParseMember is the one place member text becomes a Member, and String the one place a
// Member becomes text: a member read back from the kernel and one computed by the proxier
// compare equal as values, whatever spelling either started from.
type Member struct {
	IP    netip.Addr
	Proto string
	Port  uint16
	IP2   netip.Addr
	Net   netip.Prefix
	Raw   string
}

// The set types kube-proxy creates.
const (
	SetHashIP        = "hash:ip"
	SetHashIPPort    = "hash:ip,port"
	SetHashIPPortIP  = "hash:ip,port,ip"
	SetHashIPPortNet = "hash:ip,port,net"
	SetHashNet       = "hash:net"
	SetBitmapPort    = "bitmap:port"
)

const memberErrorFormat = "ipset member"

// ParseMember reads one member of a set of the given type as ipset writes it.
func ParseMember(setType, text string) (Member, error) {
	m, err := parseMember(setType, text)
	if err != nil {
		return Member{}, &ParseError{Format: memberErrorFormat + " of " + setType, Text: text, Err: err}
	}
	return m, nil
}

// ParseMembers reads members of a set of the given type; the first that does not parse
// is the error.
func ParseMembers(setType string, texts ...string) ([]Member, error) {
	out := make([]Member, 0, len(texts))
	for _, text := range texts {
		m, err := ParseMember(setType, text)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// MustParseMembers is ParseMembers for members written in a program, such as a wanted
// state in a test: it panics on a text that does not parse.
func MustParseMembers(setType string, texts ...string) []Member {
	ms, err := ParseMembers(setType, texts...)
	if err != nil {
		panic(err)
	}
	return ms
}

func parseMember(setType, text string) (Member, error) {
	var m Member
	n := memberParts(setType)
	if n == 0 {
		if !plainWord(text) {
			return m, expected("a member", quoteFound(text))
		}
		return Member{Raw: text}, nil
	}
	// Split into at most three parts without allocating: the proxier parses every member
	// of its sets when it reads them back, tens of thousands at 10,000 Services.
	var parts [3]string
	found := strings.Count(text, ",") + 1
	if found != n {
		return m, expected(strconv.Itoa(n)+" comma-separated parts for "+setType, found)
	}
	rest := text
	for i := range n - 1 {
		parts[i], rest, _ = strings.Cut(rest, ",")
	}
	parts[n-1] = rest
	var err error
	switch setType {
	case SetBitmapPort:
		m.Port, err = parsePort(parts[0])
		return m, err
	case SetHashNet:
		m.Net, err = parseMemberNet(parts[0])
		return m, err
	}
	if m.IP, err = parseMemberIP(parts[0]); err != nil {
		return m, err
	}
	if setType == SetHashIP {
		return m, nil
	}
	proto, port, ok := strings.Cut(parts[1], ":")
	if !ok {
		return m, expected(`"proto:port" such as tcp:443`, quoteFound(parts[1]))
	}
	switch proto {
	case "tcp", "udp", "sctp":
		m.Proto = proto
	default:
		return m, expected("protocol tcp, udp or sctp", quoteFound(proto))
	}
	if m.Port, err = parsePort(port); err != nil {
		return m, err
	}
	switch setType {
	case SetHashIPPortIP:
		if m.IP2, err = parseMemberIP(parts[2]); err != nil {
			return m, err
		}
		if m.IP2.Is4() != m.IP.Is4() {
			return m, expected("both addresses of one family", quoteFound(text))
		}
	case SetHashIPPortNet:
		if m.Net, err = parseMemberNet(parts[2]); err != nil {
			return m, err
		}
		if m.Net.Addr().Is4() != m.IP.Is4() {
			return m, expected("the address and the network of one family", quoteFound(text))
		}
	}
	return m, nil
}

// memberParts is how many comma-separated parts a member of the set type has; 0 for a
// type kube-proxy does not use.
func memberParts(setType string) int {
	switch setType {
	case SetHashIP, SetHashNet, SetBitmapPort:
		return 1
	case SetHashIPPort:
		return 2
	case SetHashIPPortIP, SetHashIPPortNet:
		return 3
	}
	return 0
}

func parseMemberIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, expected("an IP address", quoteFound(s))
	}
	return a, nil
}

// parseMemberNet reads a network; ipset writes a host route without its /32 or /128.
func parseMemberNet(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := parseMemberIP(s)
		if err != nil {
			return netip.Prefix{}, expected("a network such as 10.0.0.0/8", quoteFound(s))
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Zone() != "" {
		return netip.Prefix{}, expected("a network such as 10.0.0.0/8", quoteFound(s))
	}
	if p.Bits() == 0 {
		// The kernel refuses a /0 in every set type kube-proxy uses.
		return netip.Prefix{}, expected("a prefix length of at least 1", quoteFound(s))
	}
	return p.Masked(), nil
}

// String writes the member as ipset does; which form depends on the fields that are set.
func (m Member) String() string {
	switch {
	case m.Raw != "":
		return m.Raw
	case !m.IP.IsValid() && m.Net.IsValid():
		return formatMemberNet(m.Net)
	case !m.IP.IsValid():
		return strconv.Itoa(int(m.Port))
	case m.Proto == "":
		return m.IP.String()
	}
	s := m.IP.String() + "," + m.Proto + ":" + strconv.Itoa(int(m.Port))
	switch {
	case m.IP2.IsValid():
		s += "," + m.IP2.String()
	case m.Net.IsValid():
		s += "," + formatMemberNet(m.Net)
	}
	return s
}

func formatMemberNet(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// Compare orders members by address, protocol, port, second address and network: ports
// numerically, as `ipset save` lists a bitmap:port set. Sort a set's members with
// slices.SortFunc(members, Member.Compare).
func (m Member) Compare(o Member) int {
	return cmp.Or(
		m.IP.Compare(o.IP),
		strings.Compare(m.Proto, o.Proto),
		cmp.Compare(m.Port, o.Port),
		m.IP2.Compare(o.IP2),
		m.Net.Addr().Compare(o.Net.Addr()),
		cmp.Compare(m.Net.Bits(), o.Net.Bits()),
		strings.Compare(m.Raw, o.Raw),
	)
}

// MarshalText writes the member as ipset does; reading it back needs the set's type
// (ParseMember), which IPSet's JSON form supplies.
func (m Member) MarshalText() ([]byte, error) { return []byte(m.String()), nil }
