package desired

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// parseIP parses an address as kube-proxy's ParseIPSloppy does: IPv4 octets may carry
// leading zeros ("010.1.2.3" is 10.1.2.3), and IPv4-mapped IPv6 addresses are IPv4.
func parseIP(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i, p := range parts {
		if p == "" || len(p) > 3 {
			return netip.Addr{}, false
		}
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return netip.Addr{}, false
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}

// parseCIDR parses a CIDR (sloppy IPv4 like parseIP) and masks it to its network.
func parseCIDR(s string) (netip.Prefix, bool) {
	addr, bits, ok := strings.Cut(s, "/")
	if !ok {
		return netip.Prefix{}, false
	}
	a, ok := parseIP(addr)
	if !ok {
		return netip.Prefix{}, false
	}
	n, err := strconv.Atoi(bits)
	if err != nil || bits == "" || bits[0] == '+' || bits[0] == '-' {
		return netip.Prefix{}, false
	}
	p, err := a.Prefix(n)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p, true
}

// clusterIPForFamily is kube-proxy's GetClusterIPByFamily.
func clusterIPForFamily(svc *corev1.Service, family int) string {
	want := corev1.IPv4Protocol
	if family == 6 {
		want = corev1.IPv6Protocol
	}
	if len(svc.Spec.IPFamilies) == 0 {
		// An object from before dual-stack: the single ClusterIP's own family decides (and a
		// malformed one lands in the IPv4 proxier, which reports it, as in kube-proxy).
		a, valid := parseIP(svc.Spec.ClusterIP)
		if (family == 6) == (valid && dataplane.IPFamily(a) == 6) {
			return svc.Spec.ClusterIP
		}
		return ""
	}
	for i, f := range svc.Spec.IPFamilies {
		if f == want && i < len(svc.Spec.ClusterIPs) {
			return svc.Spec.ClusterIPs[i]
		}
	}
	return ""
}

func protocolOf(p corev1.Protocol) (dataplane.Protocol, bool) {
	switch p {
	case corev1.ProtocolTCP:
		return dataplane.TCP, true
	case corev1.ProtocolUDP:
		return dataplane.UDP, true
	case corev1.ProtocolSCTP:
		return dataplane.SCTP, true
	}
	return "", false
}

// ipPortMember is a hash:ip,port member ("10.96.0.1,tcp:443").
func ipPortMember(a netip.Addr, proto string, port uint16) dataplane.Member {
	return dataplane.Member{IP: a, Proto: proto, Port: port}
}

// protoNumber is the IP protocol number, which libxt_ipvs prints for --vproto.
func protoNumber(p dataplane.Protocol) int {
	switch p {
	case dataplane.UDP:
		return 17
	case dataplane.SCTP:
		return 132
	}
	return 6
}

// outFilterDrop is the KUBE-IPVS-OUT-FILTER rule kube-proxy writes as
// `-s IP -m ipvs --vaddr IP --vproto tcp --vport PORT -j DROP`, in the form iptables-save
// prints it back: host prefixes and the protocol number.
func outFilterDrop(ip netip.Addr, p dataplane.Protocol, port uint16) string {
	host := netip.PrefixFrom(ip, ip.BitLen()).String()
	return "-s " + host + " -m ipvs --vaddr " + host + " --vproto " + strconv.Itoa(protoNumber(p)) +
		" --vport " + strconv.Itoa(int(port)) + " -j DROP"
}

// saveString quotes a word as iptables-save does (xtables_save_string): bare when it is
// only letters, digits, '-' and '_', otherwise in double quotes with ", \ and ' escaped.
func saveString(s string) string {
	bare := s != ""
	for _, r := range s {
		if !(r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			bare = false
			break
		}
	}
	if bare {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' || r == '\'' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

func quote(s string) string { return strconv.Quote(s) }

func sliceSkip(s *discoveryv1.EndpointSlice, reason string) Skip {
	return Skip{Kind: "EndpointSlice", Namespace: s.Namespace, Name: s.Name, Reason: reason}
}
