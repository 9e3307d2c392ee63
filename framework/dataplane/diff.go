package dataplane

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Section is a part of the dataplane as Diff compares it.
type Section string

// The sections, in the order Diff reports them.
const (
	SectionIPVS      Section = "ipvs"
	SectionLinks     Section = "links"
	SectionIPSets    Section = "ipsets"
	SectionIPTables  Section = "iptables"
	SectionIP6Tables Section = "ip6tables"
	SectionSysctls   Section = "sysctls"
	SectionConntrack Section = "conntrack"
)

// Sections lists every section in report order.
var Sections = []Section{SectionIPVS, SectionLinks, SectionIPSets, SectionIPTables, SectionIP6Tables, SectionSysctls, SectionConntrack}

// title is the section's heading: the name and the command whose output the lines are.
func (s Section) title() string {
	switch s {
	case SectionIPVS:
		return "ipvs (ipvsadm -Ln)"
	case SectionLinks:
		return "links (ip addr)"
	case SectionIPSets:
		return "ipsets (ipset save)"
	case SectionSysctls:
		return "sysctls (sysctl)"
	}
	return string(s)
}

// isIPTables tells whether the section's scopes are iptables tables.
func (s Section) isIPTables() bool { return s == SectionIPTables || s == SectionIP6Tables }

// Kind says how one line of got compares with want.
type Kind string

// The kinds of lines. Same lines are context: printed around a difference, equal on both sides.
const (
	Same    Kind = "same"
	Missing Kind = "missing" // in want only
	Extra   Kind = "extra"   // in got only
	Changed Kind = "changed" // the object is on both sides, configured differently
	Moved   Kind = "moved"   // the same rule on both sides, at another place in its chain
)

// Kinds lists the kinds that are differences, not context.
var Kinds = []Kind{Missing, Extra, Changed, Moved}

// Mark is the character a printed line of this kind starts with.
func (k Kind) Mark() string {
	switch k {
	case Missing:
		return "-"
	case Extra:
		return "+"
	case Changed:
		return "~"
	case Moved:
		return ">"
	}
	return " "
}

// Difference is one line of a comparison, with the object it belongs to.
type Difference struct {
	Section Section `json:"section"`
	// Scope is the object the line belongs to: the virtual server ("TCP 10.96.0.1:443") or
	// "timeouts" for ipvs, the link for links, the set for ipsets, the table for iptables.
	Scope string `json:"scope"`
	// Key names the line within its scope: the virtual or real server ("10.244.1.7:80"),
	// the link or its address ("10.96.0.1/32"), the set or the member, the chain.
	Key  string `json:"key"`
	Kind Kind   `json:"kind"`
	// Want and Got are the line as each side prints it (ipvsadm -Ln, ip addr, ipset save,
	// iptables -S); empty on the side that lacks it.
	Want string `json:"want,omitempty"`
	Got  string `json:"got,omitempty"`
	// Note says what want has where a Changed or Moved line differs ("scheduler rr",
	// "it as rule 1").
	Note string `json:"note,omitempty"`
}

// Line is the difference as printed after its mark: got's line (want's when missing), and
// for a changed or moved line what want has instead.
func (d Difference) Line() string {
	text := d.Got
	if d.Kind == Missing {
		text = d.Want
	}
	if d.Note != "" {
		return strings.TrimRight(text, " ") + "   (want " + d.Note + ")"
	}
	return text
}

// Differences are the lines Diff reports, in print order: empty when the states agree,
// otherwise the differing lines with the Same lines that give them context.
type Differences []Difference

// String prints the differences as a person reads them on a node: one section per part
// of the dataplane, each line marked "-" (in want, missing from got), "+" (in got, not
// wanted), "~" (present in both but configured differently; got's line with the wanted
// values after it) or ">" (the same rule at another place in its chain). Unmarked lines are
// context.
func (ds Differences) String() string {
	var b strings.Builder
	var section Section
	scope := ""
	for i, d := range ds {
		if i == 0 || d.Section != section {
			section, scope = d.Section, ""
			legend := "- missing, + unexpected, ~ changed"
			if slices.ContainsFunc(ds, func(o Difference) bool { return o.Section == section && o.Kind == Moved }) {
				legend += ", > moved"
			}
			fmt.Fprintf(&b, "--- %s: %s\n", section.title(), legend)
		}
		if section.isIPTables() && d.Scope != scope {
			scope = d.Scope
			fmt.Fprintf(&b, "%s -t %s -S\n", section, scope)
		}
		b.WriteString(d.Kind.Mark() + " " + d.Line() + "\n")
	}
	return b.String()
}

// Diff reports how got differs from want, section by section, line by line in the text a
// person reads on a node: IPVS as `ipvsadm -Ln`, links as `ip addr`, sets as `ipset save`,
// rules as `iptables -t T -S CHAIN`. Its String method prints them.
//
// Diff ignores what the kernel decides or counts: Node, connection counters, link
// indexes, and the order of services, real servers, links, sets and set members. The
// order of iptables rules within a chain matters and is compared, except within a run of
// rules whose order cannot change what a packet meets (see orderFreeRuns); a rule that is
// on both sides at another place is reported Moved. A zero IPVS timeout means "not known"
// and is not compared; so are sysctls and the conntrack table's limit unless both sides
// read them (only the node inspector does), and the conntrack count never is. Diff returns
// no lines exactly when Equal(want, got).
func Diff(want, got State) Differences {
	var out Differences
	out = append(out, DiffIPVS(want.IPVS, got.IPVS)...)
	out = append(out, diffLinks(want.Links, got.Links)...)
	out = append(out, diffIPSets(want.IPSets, got.IPSets)...)
	out = append(out, diffRuleset(SectionIPTables, want.IPTables, got.IPTables)...)
	out = append(out, diffRuleset(SectionIP6Tables, want.IP6Tables, got.IP6Tables)...)
	out = append(out, diffSysctls(want.Sysctls, got.Sysctls)...)
	out = append(out, diffConntrack(want.Conntrack, got.Conntrack)...)
	return out
}

// diffSysctls compares sysctls by name as `sysctl NAME` prints them, when both sides read
// them: a nil map is a state that did not.
func diffSysctls(want, got map[string]string) Differences {
	if want == nil || got == nil {
		return nil
	}
	var out Differences
	names := slices.Sorted(maps.Keys(want))
	for name := range got {
		if _, ok := want[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		w, inWant := want[name]
		g, inGot := got[name]
		d := Difference{Section: SectionSysctls, Scope: name, Key: name}
		switch {
		case !inGot:
			d.Kind, d.Want = Missing, sysctlLine(name, w)
		case !inWant:
			d.Kind, d.Got = Extra, sysctlLine(name, g)
		case w != g:
			d.Kind, d.Want, d.Got, d.Note = Changed, sysctlLine(name, w), sysctlLine(name, g), w
		default:
			continue
		}
		out = append(out, d)
	}
	return out
}

// sysctlLine is the sysctl as `sysctl NAME` prints it.
func sysctlLine(name, value string) string { return name + " = " + value }

// conntrackScope is the scope and key of the conntrack table's limit.
const conntrackScope = "nf_conntrack_max"

// diffConntrack compares the conntrack table's limit when both sides read it; the count is
// the kernel's and is not compared.
func diffConntrack(want, got *Conntrack) Differences {
	if want == nil || got == nil || want.Max == got.Max {
		return nil
	}
	line := func(c *Conntrack) string { return fmt.Sprintf("%s = %d", conntrackScope, c.Max) }
	return Differences{{Section: SectionConntrack, Scope: conntrackScope, Key: conntrackScope, Kind: Changed,
		Want: line(want), Got: line(got), Note: fmt.Sprintf("max %d", want.Max)}}
}

// DiffIPVS is the IPVS part of Diff: virtual servers and their real servers matched by
// key, then the timeouts.
func DiffIPVS(want, got IPVS) Differences {
	var out Differences
	w, g := normalizedIPVS(want, false), normalizedIPVS(got, false)
	mergeByKey(w.Services, g.Services, func(vs VirtualServer) ServiceKey { return vs.Key() }, ServiceKey.Compare,
		func(wvs, gvs *VirtualServer) {
			switch {
			case gvs == nil:
				out = append(out, wholeListing(SectionIPVS, wvs.Key().String(), Missing, ipvsListing(*wvs))...)
			case wvs == nil:
				out = append(out, wholeListing(SectionIPVS, gvs.Key().String(), Extra, ipvsListing(*gvs))...)
			default:
				out = append(out, diffVirtualServer(*wvs, *gvs)...)
			}
		})
	if notes := timeoutChanges(want.Timeouts, got.Timeouts); notes != "" {
		out = append(out, Difference{Section: SectionIPVS, Scope: timeoutsScope, Key: timeoutsScope, Kind: Changed,
			Want: timeoutLine(want.Timeouts), Got: timeoutLine(got.Timeouts), Note: notes})
	}
	return out
}

// timeoutsScope is the scope and key of the IPVS timeouts.
const timeoutsScope = "timeouts"

func timeoutLine(t Timeouts) string {
	return fmt.Sprintf("Timeout (tcp tcpfin udp): %d %d %d", t.TCP, t.TCPFin, t.UDP)
}

// ipvsListing is IPVSBlock with the keys of its lines.
func ipvsListing(vs VirtualServer) []listed {
	out := []listed{{vs.Key().String(), ipvsServiceLine(vs)}}
	for _, rs := range vs.RealServers {
		out = append(out, listed{rs.Key().String(), ipvsRealServerLine(vs, rs)})
	}
	return out
}

// diffVirtualServer gives the block of a service present on both sides, if anything in
// it differs: the service line (Same or Changed) and every real server line.
func diffVirtualServer(want, got VirtualServer) Differences {
	scope := got.Key().String()
	var rsLines Differences
	rsChanged := false
	mergeByKey(want.RealServers, got.RealServers, RealServer.Key, netip.AddrPort.Compare,
		func(wrs, grs *RealServer) {
			switch {
			case grs == nil:
				rsLines = append(rsLines, wholeListing(SectionIPVS, scope, Missing, []listed{{wrs.Key().String(), ipvsRealServerLine(want, *wrs)}})...)
				rsChanged = true
			case wrs == nil:
				rsLines = append(rsLines, wholeListing(SectionIPVS, scope, Extra, []listed{{grs.Key().String(), ipvsRealServerLine(got, *grs)}})...)
				rsChanged = true
			case !wrs.SameConfig(*grs):
				rsLines = append(rsLines, Difference{Section: SectionIPVS, Scope: scope, Key: grs.Key().String(), Kind: Changed,
					Want: ipvsRealServerLine(want, *wrs), Got: ipvsRealServerLine(got, *grs), Note: realServerChanges(*wrs, *grs)})
				rsChanged = true
			default:
				rsLines = append(rsLines, wholeListing(SectionIPVS, scope, Same, []listed{{grs.Key().String(), ipvsRealServerLine(got, *grs)}})...)
			}
		})
	svcChanged := !want.SameConfig(got)
	if !svcChanged && !rsChanged {
		return nil
	}
	svc := Difference{Section: SectionIPVS, Scope: scope, Key: scope, Kind: Same, Want: ipvsServiceLine(want), Got: ipvsServiceLine(got)}
	if svcChanged {
		svc.Kind, svc.Note = Changed, serviceChanges(want, got)
	} else {
		svc.Want = svc.Got
	}
	return append(Differences{svc}, rsLines...)
}

// IPVSBlock renders one virtual server the way `ipvsadm -Ln` lists it: the service line,
// then one line per real server in the order given. Callers sort first when they need to.
func IPVSBlock(vs VirtualServer) []string {
	var out []string
	for _, l := range ipvsListing(vs) {
		out = append(out, l.text)
	}
	return out
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
func diffLinks(want, got []Link) Differences {
	withGotsIndex := func(w, g Link) Link {
		w.Index = g.Index
		return w
	}
	return diffByName(SectionLinks, want, got, linkName, linkListing, withGotsIndex)
}

// linkListing is the link as FormatLinks prints it, addresses sorted; the address lines
// are keyed by the address, the others by the link's name.
func linkListing(l Link) []listed {
	l.Addrs = sortedAddrs(l.Addrs)
	var out []listed
	for _, text := range outputLines(FormatLinks([]Link{l})) {
		out = append(out, listed{l.Name, text})
	}
	for i, p := range l.Addrs { // the address lines are the last ones
		out[len(out)-len(l.Addrs)+i].key = p.String()
	}
	return out
}

func sortedAddrs(addrs []netip.Prefix) []netip.Prefix {
	out := slices.Clone(addrs)
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), a.Bits()-b.Bits())
	})
	return out
}

// diffIPSets compares sets by name: their `ipset save` lines, members in a fixed order.
func diffIPSets(want, got []IPSet) Differences {
	return diffByName(SectionIPSets, want, got, ipsetName, ipsetListing, nil)
}

// diffByName compares the items of a section by name, each as its listing: an item on one
// side only is listed whole, one on both sides line by line. align, when not nil, gives
// want's item what Diff ignores, taken from got's.
func diffByName[T any](section Section, want, got []T, name func(T) string, listing func(T) []listed, align func(w, g T) T) Differences {
	var out Differences
	mergeByKey(sortedByName(want, name), sortedByName(got, name), name, strings.Compare, func(w, g *T) {
		switch {
		case g == nil:
			out = append(out, wholeListing(section, name(*w), Missing, listing(*w))...)
		case w == nil:
			out = append(out, wholeListing(section, name(*g), Extra, listing(*g))...)
		default:
			aligned := *w
			if align != nil {
				aligned = align(aligned, *g)
			}
			out = append(out, diffListing(section, name(*g), listing(aligned), listing(*g), lineNote)...)
		}
	})
	return out
}

// ipsetListing is the set as `ipset save` prints it, members sorted: the create line keyed
// by the set's name, the add lines by their member.
func ipsetListing(s IPSet) []listed {
	s.Members = sortedMembers(s)
	texts := outputLines(FormatIPSetSave([]IPSet{s}))
	out := []listed{{s.Name, texts[0]}}
	for i, m := range s.Members {
		out = append(out, listed{m.String(), texts[i+1]})
	}
	return out
}

// diffRuleset compares tables by name and, within a table, chains by name; the rules of a
// chain are compared in order, as `iptables -t T -S CHAIN` prints them, save for the runs
// of rules whose order carries no meaning.
func diffRuleset(section Section, want, got Ruleset) Differences {
	var out Differences
	for table, p := range chainPairs(want, got) {
		if p.inWant && p.inGot {
			p.want.Rules = alignOrderFreeRuns(p.want.Rules, p.got.Rules)
		}
		out = append(out, diffListing(section, table, chainListing(p.want, p.inWant), chainListing(p.got, p.inGot), ruleNote)...)
	}
	return out
}

// chainPair is one chain name of a table on both sides, and whether each side has it.
type chainPair struct {
	want, got     Chain
	inWant, inGot bool
}

// chainPairs yields, table by table, the chains of want in order and then those only got
// has, each with its table's name. Tables and chains are found by name, the first of a
// name as Ruleset.Table and Table.Chain find them, so a table without chains is no table.
func chainPairs(want, got Ruleset) iter.Seq2[string, chainPair] {
	return func(yield func(string, chainPair) bool) {
		for _, table := range namesInOrder(want.Tables, got.Tables, tableName) {
			wt, _ := want.Table(table)
			gt, _ := got.Table(table)
			for _, chain := range namesInOrder(wt.Chains, gt.Chains, chainName) {
				var p chainPair
				p.want, p.inWant = wt.Chain(chain)
				p.got, p.inGot = gt.Chain(chain)
				if !yield(table, p) {
					return
				}
			}
		}
	}
}

// chainListing is the chain as `iptables -S CHAIN` prints it, every line keyed by the
// chain's name; nothing when the chain is absent.
func chainListing(c Chain, ok bool) []listed {
	if !ok {
		return nil
	}
	var out []listed
	for _, text := range outputLines(FormatIPTablesS(Ruleset{Tables: []Table{{Chains: []Chain{c}}}}, "", c.Name)) {
		out = append(out, listed{c.Name, text})
	}
	return out
}

// ruleNote and lineNote say where want has a moved line: chainListing's first line is
// the chain's -P or -N, so a rule's index in it is its iptables rule number.
func ruleNote(wantIndex int) string { return fmt.Sprintf("it as rule %d", wantIndex) }
func lineNote(wantIndex int) string { return fmt.Sprintf("it as line %d", wantIndex+1) }

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

// sortedMembers is a sorted copy of the set's members.
func sortedMembers(s IPSet) []Member {
	out := slices.Clone(s.Members)
	slices.SortFunc(out, Member.Compare)
	return out
}
