package ipset

import (
	"cmp"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// SetTypes are the set types this package handles: the ones kube-proxy creates.
var SetTypes = []string{
	dataplane.SetHashIP, dataplane.SetHashIPPort, dataplane.SetHashIPPortIP,
	dataplane.SetHashIPPortNet, dataplane.SetHashNet, dataplane.SetBitmapPort,
}

// The kernel's defaults and limits (include/linux/netfilter/ipset/ip_set.h).
const (
	defaultHashSize = 1024
	minHashSize     = 64
	defaultMaxElem  = 65536
	maxNameLen      = 31 // IPSET_MAXNAMELEN - 1
)

// normalizeHeader checks a set's header the way ipset and the kernel do and returns it in
// the form it reads back in: hash sets with a family ("inet" by default), the hash size
// rounded up to a power of two, the default maxelem filled in; bitmap:port with a range
// and neither family nor hash options. Members are dropped.
func normalizeHeader(set dataplane.IPSet) (dataplane.IPSet, error) {
	out := dataplane.IPSet{Name: set.Name, Type: set.Type, Comment: set.Comment}
	if set.Name == "" || len(set.Name) > maxNameLen {
		return out, fmt.Errorf("set name %q: expected 1 to %d characters: %w", set.Name, maxNameLen, syscall.EINVAL)
	}
	if !slices.Contains(SetTypes, set.Type) {
		return out, fmt.Errorf("set %s type %q: expected one of %s: %w", set.Name, set.Type, strings.Join(SetTypes, ", "), syscall.EINVAL)
	}
	if set.Type == dataplane.SetBitmapPort {
		if _, _, err := parseRange(set.PortRange); err != nil {
			return out, fmt.Errorf("set %s: %w", set.Name, err)
		}
		out.PortRange = set.PortRange
		return out, nil
	}
	if set.PortRange != "" {
		return out, fmt.Errorf("set %s: a range is an option of bitmap:port, not %s: %w", set.Name, set.Type, syscall.EINVAL)
	}
	switch set.Family {
	case "", "inet":
		out.Family = "inet"
	case "inet6":
		out.Family = "inet6"
	default:
		return out, fmt.Errorf("set %s family %q: expected inet or inet6: %w", set.Name, set.Family, syscall.EINVAL)
	}
	out.HashSize = roundHashSize(set.HashSize)
	out.MaxElem = cmp.Or(set.MaxElem, defaultMaxElem)
	return out, nil
}

// roundHashSize is the hash size the kernel reports for a requested one: at least 64,
// rounded up to a power of two, 1024 when not given.
func roundHashSize(n uint32) uint32 {
	if n == 0 {
		return defaultHashSize
	}
	n = max(n, minHashSize)
	if n > 1<<31 {
		return 1 << 31
	}
	return 1 << bits.Len32(n-1)
}

// parseRange reads a bitmap:port range "from-to".
func parseRange(s string) (from, to uint16, err error) {
	a, b, ok := strings.Cut(s, "-")
	x, err1 := strconv.ParseUint(a, 10, 16)
	y, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || x > y {
		return 0, 0, fmt.Errorf("port range %q: expected FROM-TO with 0 <= FROM <= TO <= 65535 (kube-proxy uses 0-65535): %w", s, syscall.EINVAL)
	}
	return uint16(x), uint16(y), nil
}

// checkMembers refuses, before anything changes, any member the kernel would: one that is
// not a member of the set's type as ParseMember reads it, the wrong family, a port outside
// a bitmap's range.
func checkMembers(set dataplane.IPSet, members []dataplane.Member) error {
	for _, m := range members {
		text := m.String()
		p, err := dataplane.ParseMember(set.Type, text)
		if err != nil {
			return fmt.Errorf("set %s: %w", set.Name, err)
		}
		if p != m {
			return fmt.Errorf("set %s member %+v: expected a member of %s as ParseMember reads %q: %w", set.Name, m, set.Type, text, syscall.EINVAL)
		}
		if err := checkMember(set, m); err != nil {
			return fmt.Errorf("set %s member %q: %w", set.Name, text, err)
		}
	}
	return nil
}

func checkMember(set dataplane.IPSet, m dataplane.Member) error {
	if set.Type == dataplane.SetBitmapPort {
		from, to, err := parseRange(set.PortRange)
		if err != nil {
			return err
		}
		if m.Port < from || m.Port > to {
			return fmt.Errorf("port %d is outside the set's range %s: %w", m.Port, set.PortRange, syscall.ERANGE)
		}
		return nil
	}
	v4 := set.Family != "inet6"
	// IPv4-mapped IPv6 addresses are refused too: netlink would send them as IPv4.
	fits := func(a netip.Addr) bool { return !a.IsValid() || (a.Is4() == v4 && !a.Is4In6()) }
	if !fits(m.IP) || !fits(m.IP2) || (m.Net.IsValid() && !fits(m.Net.Addr())) {
		return fmt.Errorf("address of the wrong family for a %s set: %w", set.Family, syscall.EINVAL)
	}
	return nil
}
