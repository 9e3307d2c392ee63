package dataplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// FormatLinks prints links in the shape of `ip addr show`, reduced to what the model holds,
// for failure messages:
//
//	5: kube-ipvs0: <DOWN>
//	    link/dummy
//	    inet 10.96.0.1/32
//	    inet6 fd00:10:96::1/128
//
// "<UP>" or "<DOWN>" is the administrative state; the "link/KIND" line appears when the
// kind is known. ParseIPAddr reads this form back.
func FormatLinks(links []Link) string {
	var b strings.Builder
	for _, l := range links {
		state := "DOWN"
		if l.Up {
			state = "UP"
		}
		fmt.Fprintf(&b, "%d: %s: <%s>\n", l.Index, l.Name, state)
		if l.Kind != "" {
			b.WriteString("    link/" + l.Kind + "\n")
		}
		for _, p := range l.Addrs {
			fam := "inet6"
			if p.Addr().Is4() {
				fam = "inet"
			}
			fmt.Fprintf(&b, "    %s %s\n", fam, p)
		}
	}
	return b.String()
}

// linkHeader matches the first line of a link in `ip addr`: "3: kube-ipvs0: <BROADCAST,NOARP> ...",
// with "@peer" after a veth's name.
var linkHeader = regexp.MustCompile(`^(\d+): ([^\s:@]+)(@[^\s:]+)?: <([^>]*)>`)

// detailKinds are the link kinds `ip -d addr` names at the start of a detail line.
var detailKinds = map[string]bool{
	"dummy": true, "veth": true, "bridge": true, "vxlan": true, "macvlan": true, "ipvlan": true,
	"ipip": true, "gre": true, "tun": true, "bond": true, "vlan": true, "wireguard": true, "geneve": true,
}

// ParseIPAddr reads `ip addr show [dev NAME]` (also `ip -d addr`) and the form FormatLinks
// prints. Kind is the link/ type ("ether", "loopback") or, with -d, the link kind ("dummy").
// Up is the administrative UP flag. Lines the model does not need (valid_lft, altname,
// details) are skipped.
func ParseIPAddr(text string) ([]Link, error) {
	const format = "ip addr"
	var links []Link
	names := map[string]bool{}
	for _, l := range numberedLines(text) {
		fail := func(err error) ([]Link, error) {
			return nil, &ParseError{Format: format, Line: l.n, Text: l.text, Err: err}
		}
		if strings.TrimSpace(l.text) == "" {
			continue
		}
		if l.text[0] != ' ' && l.text[0] != '\t' {
			m := linkHeader.FindStringSubmatch(l.text)
			if m == nil {
				return fail(expected(`a link line "N: name: <FLAGS> ..." or an indented address line`, quoteFound(l.text)))
			}
			idx, err := parseDecimal("a link index", m[1], 31)
			if err != nil {
				return fail(err)
			}
			if err := checkLinkName(m[2]); err != nil {
				return fail(err)
			}
			if names[m[2]] {
				return fail(expected("each link once", "a second "+m[2]))
			}
			names[m[2]] = true
			links = append(links, Link{Name: m[2], Index: int(idx), Up: slices.Contains(strings.Split(m[4], ","), "UP")})
			continue
		}
		if len(links) == 0 {
			return fail(expected("a link line before its details", quoteFound(strings.TrimSpace(l.text))))
		}
		cur := &links[len(links)-1]
		f := strings.Fields(l.text)
		switch {
		case f[0] == "inet" || f[0] == "inet6":
			if len(f) < 2 {
				return fail(expected("an address after "+f[0], "end of line"))
			}
			p, err := parseLinkAddr(f[0] == "inet6", f[1])
			if err != nil {
				return fail(err)
			}
			cur.Addrs = append(cur.Addrs, p)
		case strings.HasPrefix(f[0], "link/"):
			if cur.Kind == "" {
				cur.Kind = strings.TrimPrefix(f[0], "link/")
			}
		case detailKinds[f[0]]:
			cur.Kind = f[0]
		}
	}
	return links, nil
}

// parseLinkAddr reads "10.96.0.1/32"; a peer address line gives the local address
// without a length, which is a host address.
func parseLinkAddr(ipv6 bool, s string) (netip.Prefix, error) {
	want := "an IPv4 address with its prefix length"
	if ipv6 {
		want = "an IPv6 address with its prefix length"
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, expected(want, quoteFound(s))
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, expected(want, quoteFound(s))
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4() == ipv6 || p.Addr().Zone() != "" {
		return netip.Prefix{}, expected(want, quoteFound(s))
	}
	return p, nil
}

// checkLinkName applies the kernel's rules for interface names (dev_valid_name), and
// refuses '@', which `ip` uses to name a link's peer.
func checkLinkName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." || strings.ContainsAny(name, "/:@ \t\r\n\v\f") {
		return expected("an interface name of 1-15 characters without '/', ':', '@' or blanks", quoteFound(name))
	}
	return nil
}

// linkKind accepts the link types and kinds ip prints (ether, loopback, ipip6, ip6gre, ...).
func linkKind(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ipJSONLink is the part of one `ip -j addr` entry the model needs.
type ipJSONLink struct {
	IfIndex  int      `json:"ifindex"`
	IfName   string   `json:"ifname"`
	Flags    []string `json:"flags"`
	LinkType string   `json:"link_type"`
	LinkInfo *struct {
		InfoKind string `json:"info_kind"`
	} `json:"linkinfo"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen *int   `json:"prefixlen"`
	} `json:"addr_info"`
}

// ParseIPAddrJSON reads `ip -j addr` (or `ip -j -d addr`, whose linkinfo gives the kind).
func ParseIPAddrJSON(data []byte) ([]Link, error) {
	const format = "ip -j addr"
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var raw []ipJSONLink
	if err := json.Unmarshal(data, &raw); err != nil {
		var off int64
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			off = se.Offset
		case errors.As(err, &te):
			off = te.Offset
		default:
			return nil, &ParseError{Format: format, Err: err}
		}
		n, line := lineAt(data, off)
		return nil, &ParseError{Format: format, Line: n, Text: line, Err: fmt.Errorf("expected ip's JSON array of links: %w", err)}
	}
	links := make([]Link, 0, len(raw))
	names := map[string]bool{}
	for i, r := range raw {
		fail := func(err error) ([]Link, error) {
			return nil, &ParseError{Format: format, Err: fmt.Errorf("link %d: %w", i+1, err)}
		}
		if err := checkLinkName(r.IfName); err != nil {
			return fail(err)
		}
		if names[r.IfName] {
			return fail(expected("each link once", "a second "+r.IfName))
		}
		names[r.IfName] = true
		if r.IfIndex < 0 || r.IfIndex > math.MaxInt32 {
			return fail(expected("a link index 0-2147483647", r.IfIndex))
		}
		l := Link{Name: r.IfName, Index: r.IfIndex, Kind: r.LinkType, Up: slices.Contains(r.Flags, "UP")}
		if r.LinkInfo != nil && r.LinkInfo.InfoKind != "" {
			l.Kind = r.LinkInfo.InfoKind
		}
		if !linkKind(l.Kind) {
			return fail(expected("a link type of letters, digits, '_', '-' or '.'", quoteFound(l.Kind)))
		}
		for _, a := range r.AddrInfo {
			if a.Local == "" && a.Family == "" {
				continue // ip prints {} for an address it filtered out
			}
			if a.Family != "inet" && a.Family != "inet6" {
				continue // other families (mpls, ...) carry no IP address
			}
			if a.PrefixLen == nil {
				return fail(expected("a prefixlen for "+a.Local, "none"))
			}
			p, err := parseLinkAddr(a.Family == "inet6", a.Local+"/"+strconv.Itoa(*a.PrefixLen))
			if err != nil {
				return fail(err)
			}
			l.Addrs = append(l.Addrs, p)
		}
		links = append(links, l)
	}
	return links, nil
}

// lineAt gives the 1-based line number and text of a byte offset.
func lineAt(data []byte, off int64) (int, string) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	n := bytes.Count(data[:off], []byte("\n")) + 1
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	end := bytes.IndexByte(data[off:], '\n')
	if end < 0 {
		end = len(data) - int(off)
	}
	return n, strings.TrimSuffix(string(data[start:int(off)+end]), "\r")
}
