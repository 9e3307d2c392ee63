package match

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// HaveAddressOn succeeds when the link (of a dataplane.State or a []dataplane.Link) holds
// the address with any prefix length: HaveAddressOn("kube-ipvs0", "10.106.71.137").
func HaveAddressOn(link, addr string) types.GomegaMatcher {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		err = fmt.Errorf("HaveAddressOn(%q, %q): expected an IP address such as 10.96.0.1: %w", link, addr, err)
	}
	return &addressMatcher{link: link, addr: a, err: err}
}

type addressMatcher struct {
	link string
	addr netip.Addr
	err  error
}

func linksOf(actual any) ([]dataplane.Link, string, error) {
	return partOf(actual, "HaveAddressOn", "links", "Links", func(s dataplane.State) []dataplane.Link { return s.Links })
}

func (m *addressMatcher) Match(actual any) (bool, error) {
	if m.err != nil {
		return false, m.err
	}
	links, _, err := linksOf(actual)
	if err != nil {
		return false, err
	}
	for _, l := range links {
		if l.Name == m.link {
			return l.HasAddr(m.addr), nil
		}
	}
	return false, nil
}

func (m *addressMatcher) FailureMessage(actual any) string {
	return m.message(actual, false)
}

func (m *addressMatcher) NegatedFailureMessage(actual any) string {
	return m.message(actual, true)
}

// message is the failure message, of Not(...) when negated: the same marked listing, and
// what was found instead only when the address was expected.
func (m *addressMatcher) message(actual any, negated bool) string {
	links, node, err := linksOf(actual)
	if err != nil {
		return err.Error()
	}
	lines, marked, where := m.table(links)
	expect, but := "to have", where
	if negated {
		expect, but = "not to have", "it has"
	}
	return fmt.Sprintf("Expected %s%s %s address %s, but %s.\nip addr%s:\n%s",
		m.link, onNode(node), expect, m.addr, but, onNode(node), listing(lines, marked...))
}

// table renders every link as `ip addr` does and marks the first line of the link asked
// for, and of any other link that holds the address; where says what was found.
func (m *addressMatcher) table(links []dataplane.Link) (lines []string, marked []int, where string) {
	where = fmt.Sprintf("there is no link %s", m.link)
	var holders []string
	for _, l := range links {
		switch {
		case l.Name == m.link:
			marked = append(marked, len(lines))
			where = fmt.Sprintf("%s does not hold it", m.link)
		case l.HasAddr(m.addr):
			marked = append(marked, len(lines))
			holders = append(holders, l.Name)
		}
		lines = append(lines, splitLines(dataplane.FormatLinks([]dataplane.Link{l}))...)
	}
	if len(holders) > 0 {
		where += fmt.Sprintf(" (it is on %s)", strings.Join(holders, ", "))
	}
	return lines, marked, where
}
