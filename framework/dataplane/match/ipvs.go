package match

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// VirtualServerOption adds a condition to HaveVirtualServer.
type VirtualServerOption func(*virtualServerMatcher)

// WithScheduler requires the scheduler ("rr", "wrr", "sh", ...).
func WithScheduler(name string) VirtualServerOption {
	return func(m *virtualServerMatcher) { m.scheduler = name }
}

// WithPersistence requires session affinity with the given timeout in seconds, as
// `ipvsadm -Ln` prints "persistent 10800".
func WithPersistence(timeoutSeconds uint32) VirtualServerOption {
	return func(m *virtualServerMatcher) { m.persistence = &timeoutSeconds }
}

// WithRealServer requires a real server ("10.244.3.214:80") with this forwarding method
// and weight.
func WithRealServer(addrPort string, fwd dataplane.Forwarding, weight int) VirtualServerOption {
	return func(m *virtualServerMatcher) {
		ap, err := netip.ParseAddrPort(addrPort)
		if err != nil {
			m.errs = append(m.errs, fmt.Errorf("WithRealServer(%q): expected address:port such as 10.244.3.214:80: %w", addrPort, err))
			return
		}
		m.realServers = append(m.realServers, dataplane.RealServer{Address: ap.Addr(), Port: ap.Port(), Forward: fwd, Weight: weight})
	}
}

// WithRealServerCount requires exactly n real servers.
func WithRealServerCount(n int) VirtualServerOption {
	return func(m *virtualServerMatcher) { m.realServerCount = &n }
}

// HaveVirtualServer succeeds when the IPVS table (of a dataplane.State or a
// dataplane.IPVS) has the virtual server proto addrPort meeting every option, e.g.
//
//	HaveVirtualServer(dataplane.TCP, "10.106.71.137:80", WithScheduler("rr"),
//		WithRealServer("10.244.3.214:80", dataplane.Masq, 1))
//
// which is the seed's "TCP 10.106.71.137:80 rr -> 10.244.3.214:80 Masq 1".
func HaveVirtualServer(proto dataplane.Protocol, addrPort string, opts ...VirtualServerOption) types.GomegaMatcher {
	m := &virtualServerMatcher{}
	ap, err := netip.ParseAddrPort(addrPort)
	if err != nil {
		m.errs = append(m.errs, fmt.Errorf("HaveVirtualServer(%q): expected address:port such as 10.96.0.1:443: %w", addrPort, err))
	}
	m.key = dataplane.ServiceKey{Protocol: proto, Address: ap.Addr(), Port: ap.Port()}
	for _, o := range opts {
		o(m)
	}
	return m
}

type virtualServerMatcher struct {
	key             dataplane.ServiceKey
	scheduler       string
	persistence     *uint32
	realServers     []dataplane.RealServer
	realServerCount *int
	errs            []error
}

func ipvsOf(actual any) (dataplane.IPVS, string, error) {
	if s, ok := stateOf(actual); ok {
		return s.IPVS, s.Node, nil
	}
	switch v := actual.(type) {
	case dataplane.IPVS:
		return v, "", nil
	case *dataplane.IPVS:
		if v != nil {
			return *v, "", nil
		}
	}
	return dataplane.IPVS{}, "", fmt.Errorf("IPVS matcher: expected a dataplane.State or dataplane.IPVS, got %T", actual)
}

func (m *virtualServerMatcher) Match(actual any) (bool, error) {
	if len(m.errs) > 0 {
		return false, m.errs[0]
	}
	v, _, err := ipvsOf(actual)
	if err != nil {
		return false, err
	}
	return len(m.problems(v)) == 0, nil
}

// problems lists why the table does not meet the expectation; empty when it does.
func (m *virtualServerMatcher) problems(v dataplane.IPVS) []string {
	vs, ok := v.Service(m.key)
	if !ok {
		return []string{fmt.Sprintf("there is no virtual server %s", m.key)}
	}
	var out []string
	if m.scheduler != "" && vs.Scheduler != m.scheduler {
		out = append(out, fmt.Sprintf("its scheduler is %s", vs.Scheduler))
	}
	if m.persistence != nil {
		switch {
		case !vs.Persistent:
			out = append(out, "it is not persistent")
		case vs.Timeout != *m.persistence:
			out = append(out, fmt.Sprintf("its persistence timeout is %d", vs.Timeout))
		}
	}
	for _, want := range m.realServers {
		got, ok := vs.RealServer(want.Key())
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("it has no real server %s", want.Key()))
		case got.Forward != want.Forward || got.Weight != want.Weight:
			out = append(out, fmt.Sprintf("real server %s is %s weight %d", want.Key(), got.Forward, got.Weight))
		}
	}
	if m.realServerCount != nil && len(vs.RealServers) != *m.realServerCount {
		out = append(out, fmt.Sprintf("it has %s", plural(len(vs.RealServers), "real server", "real servers")))
	}
	return out
}

// expected renders what was asked for in ipvsadm form. Fields not asked for are taken
// from the virtual server found (so they do not look like differences), or "*".
func (m *virtualServerMatcher) expected(v dataplane.IPVS) []string {
	want, found := v.Service(m.key)
	want.Protocol, want.Address, want.Port = m.key.Protocol, m.key.Address, m.key.Port
	want.RealServers = m.realServers
	if m.scheduler != "" {
		want.Scheduler = m.scheduler
	} else if !found {
		want.Scheduler = "*"
	}
	if m.persistence != nil {
		want.Persistent, want.Timeout = true, *m.persistence
	}
	// Counters are not compared; the padding after them would only trail the message.
	lines := dataplane.IPVSBlock(want)
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	if m.realServerCount != nil {
		lines = append(lines, fmt.Sprintf("(%s in all)", plural(*m.realServerCount, "real server", "real servers")))
	}
	return lines
}

func (m *virtualServerMatcher) FailureMessage(actual any) string {
	return m.message(actual, false)
}

func (m *virtualServerMatcher) NegatedFailureMessage(actual any) string {
	return m.message(actual, true)
}

// message is the failure message, of Not(...) when negated; both show the table with the
// lines m.table marks.
func (m *virtualServerMatcher) message(actual any, negated bool) string {
	v, node, err := ipvsOf(actual)
	if err != nil {
		return err.Error()
	}
	lines, marked, note := m.table(v, negated)
	if negated {
		return fmt.Sprintf("Expected IPVS%s not to have virtual server\n%sbut it does.\nipvsadm -Ln%s:\n%s",
			onNode(node), indent(m.expected(v), "    "), onNode(node), listing(lines, marked...))
	}
	return fmt.Sprintf("Expected IPVS%s to have virtual server\n%sbut %s.\nipvsadm -Ln%s:\n%s%s",
		onNode(node), indent(m.expected(v), "    "), strings.Join(m.problems(v), "; "), onNode(node), listing(lines, marked...), note)
}

// table renders the node's IPVS table and picks the lines to mark: the virtual server
// asked for (or the one closest to it) and its real servers that are missing or differ,
// represented by the real server at the same address.
func (m *virtualServerMatcher) table(v dataplane.IPVS, negated bool) (lines []string, marked []int, note string) {
	v = ipvsadmOrdered(v)
	lines = splitLines(dataplane.FormatIPVSAdm(dataplane.IPVS{}, true))
	closest, score := -1, 0
	for i, vs := range v.Services {
		if s := closeness(m.key, vs.Key()); s > score {
			closest, score = i, s
		}
	}
	for i, vs := range v.Services {
		block := dataplane.IPVSBlock(vs)
		if i == closest {
			marked = append(marked, len(lines))
			for j, rs := range vs.RealServers {
				if m.marksRealServer(rs, negated) {
					marked = append(marked, len(lines)+1+j)
				}
			}
		}
		lines = append(lines, block...)
	}
	if closest < 0 {
		note = fmt.Sprintf("(nothing matched: no virtual server has address %s or port %d)\n", m.key.Address, m.key.Port)
	}
	return lines, marked, note
}

// closeness ranks how near a service key is to the one asked for: 4 same key, 3 same
// address and port, 2 same address, 1 same port, 0 unrelated.
func closeness(want, got dataplane.ServiceKey) int {
	switch {
	case want == got:
		return 4
	case want.Address == got.Address && want.Port == got.Port:
		return 3
	case want.Address == got.Address:
		return 2
	case want.Port == got.Port && got.FWMark == 0:
		return 1
	}
	return 0
}

// marksRealServer tells whether a real server of the closest service is worth marking. In
// a failure message that is one at a wanted real server's address that differs from it
// (port, forwarding or weight); in a negated one, one that matches it (matching=true).
func (m *virtualServerMatcher) marksRealServer(rs dataplane.RealServer, matching bool) bool {
	for _, want := range m.realServers {
		if want.Address == rs.Address && want.SameConfig(rs) == matching {
			return true
		}
	}
	return false
}

// ipvsadmOrdered returns the table in the order `ipvsadm -Ln` lists it, without touching
// the caller's slices.
func ipvsadmOrdered(v dataplane.IPVS) dataplane.IPVS {
	v.Services = slices.Clone(v.Services)
	for i := range v.Services {
		v.Services[i].RealServers = slices.Clone(v.Services[i].RealServers)
	}
	dataplane.SortIPVSAdm(&v)
	return v
}
