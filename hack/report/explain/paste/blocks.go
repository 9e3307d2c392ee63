package paste

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// commandWords are the words of a prompt's command before any pipe.
func commandWords(cmd string) []string {
	cmd, _, _ = strings.Cut(cmd, "|")
	return strings.Fields(cmd)
}

// ipAddrSource gives an ip addr block to dataplane.ParseIPAddr with the indentation it
// expects (pastes lose or add indentation): link lines flush left, the rest indented. Address
// lines pasted without their link line (`ip addr show kube-ipvs0 | grep inet`) are read as
// the device's the command names.
func (r *reader) ipAddrSource(b *pending, blk *Block, notes *[]string) []source {
	src := r.sourceOf(b.lines, func(t string) string {
		if linkHeader.MatchString(t) {
			return t
		}
		return "    " + t
	})
	if len(src) > 0 && strings.HasPrefix(src[0].text, " ") {
		if dev := ipAddrDevice(b.command); dev != "" {
			src = append([]source{{line: -1, text: "0: " + dev + ": <>"}}, src...)
			blk.Partial = true
			*notes = append(*notes, fmt.Sprintf("the link line of %s was not pasted: the address lines under `%s` are read as its", dev, b.command))
		}
	}
	return src
}

// ipAddrDevice is the device an `ip addr show` command names ("ip a s dev kube-ipvs0").
func ipAddrDevice(cmd string) string {
	w := commandWords(cmd)
	if len(w) == 0 || w[0] != "ip" {
		return ""
	}
	for i := 1; i < len(w); i++ {
		switch {
		case w[i] == "dev" && i+1 < len(w):
			return w[i+1]
		case strings.HasPrefix(w[i], "-"), w[i] == "addr", w[i] == "address", w[i] == "a", w[i] == "show", w[i] == "s", w[i] == "list", w[i] == "ls":
		default:
			return w[i]
		}
	}
	return ""
}

// iptablesCommand reads an iptables command's table (filter when not named), the chain
// after -S when one is named, and whether it is ip6tables.
func iptablesCommand(cmd string) (table, chain string, ipv6, ok bool) {
	w := commandWords(cmd)
	if len(w) == 0 {
		return "", "", false, false
	}
	tool := w[0]
	if !slices.Contains([]string{"iptables", "ip6tables", "iptables-save", "ip6tables-save", "iptables-legacy", "iptables-nft", "iptables-legacy-save", "iptables-nft-save"}, tool) {
		return "", "", false, false
	}
	ipv6 = strings.HasPrefix(tool, "ip6")
	table = "filter"
	for i := 1; i < len(w); i++ {
		switch a := w[i]; {
		case (a == "-t" || a == "--table") && i+1 < len(w):
			table = w[i+1]
			i++
		case strings.HasPrefix(a, "--table="):
			table = strings.TrimPrefix(a, "--table=")
		case strings.HasPrefix(a, "-t") && len(a) > 2 && !strings.HasPrefix(a, "--"):
			table = a[2:]
		case (a == "-S" || a == "--list-rules") && i+1 < len(w) && !strings.HasPrefix(w[i+1], "-"):
			chain = w[i+1]
			i++
		}
	}
	return table, chain, ipv6, true
}

// Marks of the nat and filter tables, for an `iptables -S` paste whose command was not
// pasted: the chains kube-proxy keeps in each and the targets only one allows.
var (
	natMarks    = []string{"PREROUTING", "POSTROUTING", "KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", "KUBE-LOAD-BALANCER", "KUBE-NODE-PORT", "MASQUERADE", "DNAT", "SNAT", "KUBE-NODEPORTS"}
	natPrefixes = []string{"KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SVL-"}
	filterMarks = []string{"INPUT", "FORWARD", "KUBE-FORWARD", "KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER", "KUBE-PROXY-FIREWALL", "KUBE-SOURCE-RANGES-FIREWALL", "REJECT", "KUBE-FIREWALL"}
)

// guessTable picks nat or filter by the chain names and targets of the lines: nat unless
// filter's marks outnumber nat's, as the tutorial's dumps are of the nat table.
func guessTable(texts []string) (table, why string) {
	nat, filter := 0, 0
	natWhy, filterWhy := "", ""
	for _, t := range texts {
		f := strings.Fields(t)
		for i, w := range f {
			if i != 1 && (i == 0 || f[i-1] != "-j") {
				continue
			}
			switch {
			case slices.Contains(natMarks, w) || slices.ContainsFunc(natPrefixes, func(p string) bool { return strings.HasPrefix(w, p) }):
				nat++
				if natWhy == "" {
					natWhy = w
				}
			case slices.Contains(filterMarks, w):
				filter++
				if filterWhy == "" {
					filterWhy = w
				}
			}
		}
	}
	if filter > nat {
		return "filter", filterWhy
	}
	return "nat", natWhy
}

// iptablesSSource gives an `iptables -S` block to dataplane.ParseIPTablesS, with the table
// its command names (or guessed), and the "-N CHAIN" lines a cut or grepped dump lost.
func (r *reader) iptablesSSource(b *pending, blk *Block, notes *[]string) []source {
	src := r.sourceOf(b.lines, func(t string) string { return t })
	table, chain, ipv6, ok := iptablesCommand(b.command)
	blk.IPv6 = ipv6
	if !ok {
		texts := make([]string, len(src))
		for i, s := range src {
			texts[i] = s.text
		}
		var why string
		table, why = guessTable(texts)
		if why != "" {
			why = " (" + why + " is a " + table + " chain or target)"
		}
		*notes = append(*notes, fmt.Sprintf("the iptables -S lines from line %d were pasted without their command: read as the %s table%s", r.p.Lines[b.lines[0]].N, table, why))
	}
	blk.Table = table
	blk.Partial = chain != ""
	declared := map[string]bool{}
	var missing []string
	for _, s := range src {
		f := strings.Fields(s.text)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "-P", "-N":
			declared[f[1]] = true
		case "-A":
			if !declared[f[1]] && !slices.Contains(missing, f[1]) {
				missing = append(missing, f[1])
			}
		}
	}
	if len(missing) == 0 {
		return src
	}
	blk.Partial = true
	added := make([]source, 0, len(missing)+len(src))
	for _, c := range missing {
		added = append(added, source{line: -1, text: "-N " + c})
	}
	*notes = append(*notes, fmt.Sprintf("rules of %s were pasted without the chain's -N or -P line: read as a chain of the %s table", strings.Join(missing, ", "), table))
	return append(added, src...)
}

// iptablesSaveSource gives an iptables-save block to dataplane.ParseIPTablesSave, closing a
// table whose COMMIT was cut and opening one whose "*table" line was.
func (r *reader) iptablesSaveSource(b *pending, blk *Block, notes *[]string) []source {
	table, _, ipv6, ok := iptablesCommand(b.command)
	blk.IPv6 = ipv6
	if !ok || table == "filter" && !strings.Contains(b.command, "-t") {
		table = "nat"
	}
	var out []source
	open := ""
	for _, s := range r.sourceOf(b.lines, func(t string) string { return t }) {
		switch {
		case strings.HasPrefix(s.text, "*"):
			if open != "" {
				*notes = append(*notes, fmt.Sprintf("table %s has no COMMIT before *%s (cut from the paste?): closed there", open, s.text[1:]))
				out = append(out, source{line: -1, text: "COMMIT"})
			}
			open = s.text[1:]
		case s.text == "COMMIT":
			open = ""
		case strings.HasPrefix(s.text, "#"):
		case open == "":
			out = append(out, source{line: -1, text: "*" + table})
			open = table
			blk.Partial = true
			*notes = append(*notes, fmt.Sprintf("iptables-save lines from line %d come without their *table line: read as the %s table", r.p.Lines[s.line].N, table))
		}
		out = append(out, s)
	}
	if open != "" {
		out = append(out, source{line: -1, text: "COMMIT"})
		*notes = append(*notes, fmt.Sprintf("table %s has no COMMIT at the end of its iptables-save lines (cut from the paste?)", open))
	}
	return out
}

// setNamed tells whether an `ipset list` command names one set.
func setNamed(cmd string) bool {
	w := commandWords(cmd)
	if len(w) < 2 || w[0] != "ipset" {
		return false
	}
	var args []string
	for _, a := range w[2:] {
		if !strings.HasPrefix(a, "-") {
			args = append(args, a)
		}
	}
	return len(args) > 0
}

// merge adds a block's reading to its node's state. A part pasted twice keeps its later
// reading for services and sets of the same name (the later run is the newer); a link's
// addresses and a chain's rules are added once each.
func merge(n *Node, b Block) {
	s := &n.State
	for _, vs := range b.IPVS.Services {
		if cur, added := upsert(&s.IPVS.Services, vs, func(o dataplane.VirtualServer) bool { return o.Key() == vs.Key() }); !added {
			*cur = vs
		}
	}
	if b.IPVS.Timeouts != (dataplane.Timeouts{}) {
		s.IPVS.Timeouts = b.IPVS.Timeouts
	}
	for _, l := range b.Links {
		cur, added := upsert(&s.Links, l, func(o dataplane.Link) bool { return o.Name == l.Name })
		if added {
			continue
		}
		for _, a := range l.Addrs {
			if !slices.Contains(cur.Addrs, a) {
				cur.Addrs = append(cur.Addrs, a)
			}
		}
		if l.Index != 0 {
			cur.Index, cur.Up = l.Index, l.Up
		}
		if l.Kind != "" {
			cur.Kind = l.Kind
		}
	}
	for _, set := range b.IPSets {
		if cur, added := upsert(&s.IPSets, set, func(o dataplane.IPSet) bool { return o.Name == set.Name }); !added {
			*cur = set
		}
	}
	rs := &s.IPTables
	if b.IPv6 {
		rs = &s.IP6Tables
	}
	for _, t := range b.Rules.Tables {
		dt, added := upsert(&rs.Tables, t, func(o dataplane.Table) bool { return o.Name == t.Name })
		if added {
			continue
		}
		for _, c := range t.Chains {
			dc, added := upsert(&dt.Chains, c, func(o dataplane.Chain) bool { return o.Name == c.Name })
			if added {
				continue
			}
			if dc.Policy == "-" && c.Policy != "-" {
				dc.Policy = c.Policy
			}
			for _, rule := range c.Rules {
				if !slices.Contains(dc.Rules, rule) {
					dc.Rules = append(dc.Rules, rule)
				}
			}
		}
	}
}

// upsert returns the element of *xs that is like x, or appends x and returns it; added
// tells which.
func upsert[T any](xs *[]T, x T, like func(T) bool) (elem *T, added bool) {
	if i := slices.IndexFunc(*xs, like); i >= 0 {
		return &(*xs)[i], false
	}
	*xs = append(*xs, x)
	return &(*xs)[len(*xs)-1], true
}
