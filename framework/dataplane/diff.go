package dataplane

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Diff reports how got differs from want, one section per part of the dataplane, each in
// the text form a person reads on a node: IPVS as `ipvsadm -Ln`, links as `ip addr`, sets as
// `ipset save`, rules as `iptables -t T -S CHAIN`. Lines are marked "-" (in want, missing
// from got), "+" (in got, not wanted) or "~" (present in both but configured differently;
// the got line is shown with the wanted values after it). Unmarked lines are context.
//
// Diff ignores what the kernel decides or counts: Node, connection counters, link
// indexes, and the order of services, real servers, links, sets and set members. The
// order of iptables rules within a chain matters and is compared. A zero IPVS timeout
// means "not known" and is not compared. Diff returns "" exactly when want and got agree.
func Diff(want, got State) string {
	var b strings.Builder
	writeSection(&b, "ipvs (ipvsadm -Ln)", DiffIPVS(want.IPVS, got.IPVS))
	writeSection(&b, "links (ip addr)", diffLinks(want.Links, got.Links))
	writeSection(&b, "ipsets (ipset save)", diffIPSets(want.IPSets, got.IPSets))
	writeSection(&b, "iptables", diffRuleset("iptables", want.IPTables, got.IPTables))
	writeSection(&b, "ip6tables", diffRuleset("ip6tables", want.IP6Tables, got.IP6Tables))
	return b.String()
}

// Equal tells whether two states agree in everything Diff compares.
func Equal(want, got State) bool { return Diff(want, got) == "" }

func writeSection(b *strings.Builder, title, body string) {
	if body == "" {
		return
	}
	fmt.Fprintf(b, "--- %s: - missing, + unexpected, ~ changed\n%s", title, body)
}

// DiffIPVS is the IPVS part of Diff: virtual servers and their real servers matched by
// key, then the timeouts.
func DiffIPVS(want, got IPVS) string {
	var b strings.Builder
	w, g := normalizedIPVS(want, false), normalizedIPVS(got, false)
	mergeByKey(w.Services, g.Services, func(vs VirtualServer) ServiceKey { return vs.Key() }, ServiceKey.Compare,
		func(wvs, gvs *VirtualServer) {
			switch {
			case gvs == nil:
				writeMarked(&b, "- ", IPVSBlock(*wvs))
			case wvs == nil:
				writeMarked(&b, "+ ", IPVSBlock(*gvs))
			default:
				diffVirtualServer(&b, *wvs, *gvs)
			}
		})
	if notes := timeoutChanges(want.Timeouts, got.Timeouts); notes != "" {
		fmt.Fprintf(&b, "~ Timeout (tcp tcpfin udp): %d %d %d   (want %s)\n",
			got.Timeouts.TCP, got.Timeouts.TCPFin, got.Timeouts.UDP, notes)
	}
	return b.String()
}

// diffVirtualServer writes the block of a service present on both sides, if anything in
// it differs: the service line (context or "~") and every real server line.
func diffVirtualServer(b *strings.Builder, want, got VirtualServer) {
	var rsLines []string
	rsChanged := false
	mergeByKey(want.RealServers, got.RealServers, RealServer.Key, netip.AddrPort.Compare,
		func(wrs, grs *RealServer) {
			switch {
			case grs == nil:
				rsLines = append(rsLines, "- "+ipvsRealServerLine(want, *wrs))
				rsChanged = true
			case wrs == nil:
				rsLines = append(rsLines, "+ "+ipvsRealServerLine(got, *grs))
				rsChanged = true
			case !wrs.SameConfig(*grs):
				rsLines = append(rsLines, "~ "+strings.TrimRight(ipvsRealServerLine(got, *grs), " ")+"   (want "+realServerChanges(*wrs, *grs)+")")
				rsChanged = true
			default:
				rsLines = append(rsLines, "  "+ipvsRealServerLine(got, *grs))
			}
		})
	svcChanged := !want.SameConfig(got)
	if !svcChanged && !rsChanged {
		return
	}
	if svcChanged {
		fmt.Fprintf(b, "~ %s   (want %s)\n", ipvsServiceLine(got), serviceChanges(want, got))
	} else {
		fmt.Fprintf(b, "  %s\n", ipvsServiceLine(got))
	}
	for _, l := range rsLines {
		b.WriteString(l + "\n")
	}
}

// IPVSBlock renders one virtual server the way `ipvsadm -Ln` lists it: the service line,
// then one line per real server in the order given. Callers sort first when they need to.
func IPVSBlock(vs VirtualServer) []string {
	lines := []string{ipvsServiceLine(vs)}
	for _, rs := range vs.RealServers {
		lines = append(lines, ipvsRealServerLine(vs, rs))
	}
	return lines
}

// ipvsServiceLine and ipvsRealServerLine take their text from FormatIPVSAdm so that a diff or a
// matcher message shows exactly what ipvsadm would.
func ipvsServiceLine(vs VirtualServer) string {
	vs.RealServers = nil
	return linesAtLeast(FormatIPVSAdm(IPVS{Services: []VirtualServer{vs}}, false), 1)[0]
}

func ipvsRealServerLine(vs VirtualServer, rs RealServer) string {
	vs.RealServers = []RealServer{rs}
	return linesAtLeast(FormatIPVSAdm(IPVS{Services: []VirtualServer{vs}}, false), 2)[1]
}

func linesAtLeast(text string, n int) []string {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for len(lines) < n {
		lines = append(lines, "")
	}
	return lines[:n]
}

// serviceChanges names the wanted values of the fields in which got differs from want.
func serviceChanges(want, got VirtualServer) string {
	var notes []string
	if want.Scheduler != got.Scheduler {
		notes = append(notes, "scheduler "+want.Scheduler)
	}
	switch {
	case want.Persistent && (!got.Persistent || want.Timeout != got.Timeout):
		notes = append(notes, fmt.Sprintf("persistent %d", want.Timeout))
	case !want.Persistent && got.Persistent:
		notes = append(notes, "not persistent")
	}
	if want.EffectivePrefixLen() != got.EffectivePrefixLen() {
		notes = append(notes, fmt.Sprintf("netmask /%d", want.EffectivePrefixLen()))
	}
	if want.OnePacket != got.OnePacket {
		notes = append(notes, fmt.Sprintf("ops %t", want.OnePacket))
	}
	if want.SchedFlags != got.SchedFlags {
		notes = append(notes, fmt.Sprintf("scheduler flags %#04x", want.SchedFlags))
	}
	return strings.Join(notes, ", ")
}

func realServerChanges(want, got RealServer) string {
	var notes []string
	if want.Forward != got.Forward {
		notes = append(notes, "forward "+string(want.Forward))
	}
	if want.Weight != got.Weight {
		notes = append(notes, fmt.Sprintf("weight %d", want.Weight))
	}
	return strings.Join(notes, ", ")
}

// timeoutChanges compares the timeouts known on both sides (zero is "not known").
func timeoutChanges(want, got Timeouts) string {
	var notes []string
	for _, f := range []struct {
		name      string
		want, got uint32
	}{{"tcp", want.TCP, got.TCP}, {"tcpfin", want.TCPFin, got.TCPFin}, {"udp", want.UDP, got.UDP}} {
		if f.want != 0 && f.got != 0 && f.want != f.got {
			notes = append(notes, fmt.Sprintf("%s %d", f.name, f.want))
		}
	}
	return strings.Join(notes, ", ")
}

// normalizedIPVS returns a sorted deep copy, with connection counters cleared unless
// keepCounters, so that sorting never reorders the caller's slices.
func normalizedIPVS(v IPVS, keepCounters bool) IPVS {
	out := IPVS{Timeouts: v.Timeouts, Services: slices.Clone(v.Services)}
	for i := range out.Services {
		rss := slices.Clone(out.Services[i].RealServers)
		if !keepCounters {
			for j := range rss {
				rss[j].ActiveConns, rss[j].InactiveConns = 0, 0
			}
		}
		out.Services[i].RealServers = rss
	}
	out.Sort()
	return out
}

// mergeByKey walks two lists sorted by key and calls f once per key position: with both
// elements when the keys match, or with nil for the side that lacks it. Duplicate keys
// pair off in order, so a duplicate on one side shows up as unmatched.
func mergeByKey[T any, K any](want, got []T, key func(T) K, compare func(K, K) int, f func(w, g *T)) {
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got):
			f(&want[i], nil)
			i++
		case i == len(want):
			f(nil, &got[j])
			j++
		default:
			switch c := compare(key(want[i]), key(got[j])); {
			case c < 0:
				f(&want[i], nil)
				i++
			case c > 0:
				f(nil, &got[j])
				j++
			default:
				f(&want[i], &got[j])
				i++
				j++
			}
		}
	}
}

// diffLinks compares links by name: their formatted `ip addr` blocks, with addresses in a
// fixed order and the kernel's link index taken from got on both sides.
func diffLinks(want, got []Link) string {
	var b strings.Builder
	w, g := sortedByName(want, func(l Link) string { return l.Name }), sortedByName(got, func(l Link) string { return l.Name })
	mergeByKey(w, g, func(l Link) string { return l.Name }, strings.Compare, func(wl, gl *Link) {
		switch {
		case gl == nil:
			writeMarked(&b, "- ", linkLines(*wl))
		case wl == nil:
			writeMarked(&b, "+ ", linkLines(*gl))
		default:
			wn := *wl
			wn.Index = gl.Index
			writeLineDiff(&b, linkLines(wn), linkLines(*gl))
		}
	})
	return b.String()
}

func linkLines(l Link) []string {
	l.Addrs = slices.Clone(l.Addrs)
	slices.SortFunc(l.Addrs, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), a.Bits()-b.Bits())
	})
	return outputLines(FormatLinks([]Link{l}))
}

// diffIPSets compares sets by name: their `ipset save` lines, members in a fixed order.
func diffIPSets(want, got []IPSet) string {
	var b strings.Builder
	name := func(s IPSet) string { return s.Name }
	mergeByKey(sortedByName(want, name), sortedByName(got, name), name, strings.Compare, func(ws, gs *IPSet) {
		switch {
		case gs == nil:
			writeMarked(&b, "- ", ipsetLines(*ws))
		case ws == nil:
			writeMarked(&b, "+ ", ipsetLines(*gs))
		default:
			writeLineDiff(&b, ipsetLines(*ws), ipsetLines(*gs))
		}
	})
	return b.String()
}

func ipsetLines(s IPSet) []string {
	s.Members = slices.Clone(s.Members)
	slices.Sort(s.Members)
	return outputLines(FormatIPSetSave([]IPSet{s}))
}

// diffRuleset compares tables by name and, within a table, chains by name; the rules of a
// chain are compared in order, as `iptables -t T -S CHAIN` prints them.
func diffRuleset(cmdName string, want, got Ruleset) string {
	var b strings.Builder
	for _, table := range namesInOrder(want.Tables, got.Tables, func(t Table) string { return t.Name }) {
		wt, _ := want.Table(table)
		gt, _ := got.Table(table)
		var tb strings.Builder
		for _, chain := range namesInOrder(wt.Chains, gt.Chains, func(c Chain) string { return c.Name }) {
			writeLineDiff(&tb, chainLines(want, table, chain), chainLines(got, table, chain))
		}
		if tb.Len() > 0 {
			fmt.Fprintf(&b, "%s -t %s -S\n%s", cmdName, table, tb.String())
		}
	}
	return b.String()
}

func chainLines(r Ruleset, table, chain string) []string {
	t, ok := r.Table(table)
	if !ok {
		return nil
	}
	if _, ok := t.Chain(chain); !ok {
		return nil
	}
	return outputLines(FormatIPTablesS(r, table, chain))
}

// namesInOrder lists the names of want's elements in order, then those only got has.
func namesInOrder[T any](want, got []T, name func(T) string) []string {
	var out []string
	for _, x := range want {
		if !slices.Contains(out, name(x)) {
			out = append(out, name(x))
		}
	}
	for _, x := range got {
		if !slices.Contains(out, name(x)) {
			out = append(out, name(x))
		}
	}
	return out
}

func sortedByName[T any](xs []T, key func(T) string) []T {
	out := slices.Clone(xs)
	slices.SortStableFunc(out, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return out
}

func outputLines(text string) []string {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

func writeMarked(b *strings.Builder, mark string, lines []string) {
	for _, l := range lines {
		b.WriteString(mark + l + "\n")
	}
}

// writeLineDiff writes the whole of want and got as one listing with removed and added
// lines marked, or nothing when the two are the same.
func writeLineDiff(b *strings.Builder, want, got []string) {
	if slices.Equal(want, got) {
		return
	}
	for _, op := range lcsDiff(want, got) {
		b.WriteString(op + "\n")
	}
}

// maxLCSCells bounds the quadratic line diff; past it (thousands of rules in one chain,
// as iptables-mode leftovers can be) lines are compared as sets instead.
const maxLCSCells = 4 << 20

// lcsDiff returns the lines of a longest-common-subsequence diff, each prefixed with
// "  ", "- " or "+ ".
func lcsDiff(want, got []string) []string {
	if len(want)*len(got) > maxLCSCells {
		return unorderedDiff(want, got)
	}
	// lcs[i][j] is the LCS length of want[i:] and got[j:].
	lcs := make([][]int, len(want)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(got)+1)
	}
	for i := len(want) - 1; i >= 0; i-- {
		for j := len(got) - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case i < len(want) && j < len(got) && want[i] == got[j]:
			out = append(out, "  "+want[i])
			i++
			j++
		case j == len(got) || (i < len(want) && lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "- "+want[i])
			i++
		default:
			out = append(out, "+ "+got[j])
			j++
		}
	}
	return out
}

// unorderedDiff marks the lines of want missing from got and the lines of got missing from
// want, ignoring order; used only for very long listings.
func unorderedDiff(want, got []string) []string {
	count := map[string]int{}
	for _, l := range got {
		count[l]++
	}
	var out []string
	for _, l := range want {
		if count[l] > 0 {
			count[l]--
			out = append(out, "  "+l)
		} else {
			out = append(out, "- "+l)
		}
	}
	for _, l := range got {
		if count[l] > 0 {
			count[l]--
			out = append(out, "+ "+l)
		}
	}
	return out
}
