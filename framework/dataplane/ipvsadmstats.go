package dataplane

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file holds ipvsadm's two counter listings, `ipvsadm -Ln --stats` (Stats) and
// `ipvsadm -Ln --rate` (Rates), with and without --exact. They share -Ln's service column
// and real server addresses, then print five numbers where -Ln prints the scheduler or the
// forwarding columns.

// IPVSAdmStatsHeader is the title `ipvsadm -Ln --stats` prints before the services: the
// version line, as in IPVSAdmHeader, and print_title's two column lines.
const IPVSAdmStatsHeader = "IP Virtual Server version 1.2.1 (size=4096)\n" +
	"Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n" +
	"  -> RemoteAddress:Port\n"

// IPVSAdmRateHeader is the title of `ipvsadm -Ln --rate`.
const IPVSAdmRateHeader = "IP Virtual Server version 1.2.1 (size=4096)\n" +
	"Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n" +
	"  -> RemoteAddress:Port\n"

// ipvsadmCounters is one of the two counter listings: statsCounters or rateCounters.
type ipvsadmCounters struct {
	// columns are the listing's column names, as its title prints them.
	columns [5]string
	// format names the listing in parse errors; parser the function that reads it.
	format, parser string
}

var (
	statsCounters = &ipvsadmCounters{ // --stats: Stats
		columns: [5]string{"Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"},
		format:  "ipvsadm -Ln --stats", parser: "ParseIPVSAdmStats",
	}
	rateCounters = &ipvsadmCounters{ // --rate: Rates
		columns: [5]string{"CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"},
		format:  "ipvsadm -Ln --rate", parser: "ParseIPVSAdmRate",
	}
)

// counterTitle recognises the column line of a counter listing, whatever its spacing.
func counterTitle(f []string) (*ipvsadmCounters, bool) {
	if len(f) != 7 || f[0] != "Prot" || f[1] != "LocalAddress:Port" {
		return nil, false
	}
	for _, c := range []*ipvsadmCounters{statsCounters, rateCounters} {
		if [5]string(f[2:]) == c.columns {
			return c, true
		}
	}
	return nil, false
}

func (s *Stats) values() [5]uint64 {
	if s == nil {
		return [5]uint64{}
	}
	return [5]uint64{s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes}
}

func (r *Rates) values() [5]uint64 {
	if r == nil {
		return [5]uint64{}
	}
	return [5]uint64{r.CPS, r.InPPS, r.OutPPS, r.InBPS, r.OutBPS}
}

// FormatIPVSAdmStats prints the virtual and real servers' Stats exactly as
// `ipvsadm -Ln --stats` (ipvsadm 1.31) does, without its title (IPVSAdmStatsHeader); exact
// is --exact. A server without Stats prints zeros. Services and real servers are printed
// in the given order, as FormatIPVSAdm prints them.
//
// The layout is print_service_entry's: the service column of -Ln as "%-33s", each real
// server as "  -> %-28s", then each value with print_largenum: "%9llu" below 100 million,
// else in thousands, millions, billions or trillions ("%8lluK" ... "%8lluT"); with
// --exact, the whole number right-aligned in 9 columns or its length plus one.
func FormatIPVSAdmStats(v IPVS, exact bool) string {
	return formatIPVSAdmCounters(v, statsCounters, exact)
}

// FormatIPVSAdmRate prints the Rates as `ipvsadm -Ln --rate` does, like FormatIPVSAdmStats.
// A real server's first three rates are printed with "%8llu", never shortened.
func FormatIPVSAdmRate(v IPVS, exact bool) string {
	return formatIPVSAdmCounters(v, rateCounters, exact)
}

func formatIPVSAdmCounters(v IPVS, c *ipvsadmCounters, exact bool) string {
	var b strings.Builder
	for _, vs := range v.Services {
		fmt.Fprintf(&b, "%-33s", ipvsadmServiceName(vs))
		vals := vs.Stats.values()
		if c == rateCounters {
			vals = vs.Rates.values()
		}
		for _, n := range vals {
			writeLargeNum(&b, n, exact)
		}
		b.WriteString("\n")
		for _, rs := range vs.RealServers {
			name := formatAddrPort(rs.Address, rs.Port)
			if rs.Address.Is4() && len(name) > 28 {
				name = name[:28]
			}
			fmt.Fprintf(&b, "  -> %-28s", name)
			vals, short := rs.Stats.values(), 0
			if c == rateCounters {
				vals, short = rs.Rates.values(), 3
			}
			for i, n := range vals {
				if i < short {
					fmt.Fprintf(&b, " %8d", n)
					continue
				}
				writeLargeNum(&b, n, exact)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// largeNumUnits are print_largenum's units, each with the value it is used below.
var largeNumUnits = []struct {
	below, unit uint64
	suffix      byte
}{
	{1e9, 1e3, 'K'},
	{1e11, 1e6, 'M'},
	{1e14, 1e9, 'G'},
	{math.MaxUint64, 1e12, 'T'},
}

// writeLargeNum writes n as ipvsadm's print_largenum does.
func writeLargeNum(b *strings.Builder, n uint64, exact bool) {
	if exact {
		s := strconv.FormatUint(n, 10)
		fmt.Fprintf(b, "%*s", max(9, len(s)+1), s)
		return
	}
	if n < 1e8 {
		fmt.Fprintf(b, "%9d", n)
		return
	}
	for _, u := range largeNumUnits {
		if n < u.below || u.suffix == 'T' {
			fmt.Fprintf(b, "%8d%c", n/u.unit, u.suffix)
			return
		}
	}
}

// ParseIPVSAdmStats reads `ipvsadm -Ln --stats` output, with or without --exact, with or
// without its title lines (the version line is absent when a service was named with -t,
// -u or -f), into virtual and real servers that hold their key and Stats only. Spacing
// and notes are read as ParseIPVSAdm reads them. A value in ipvsadm's short form (123K)
// is kept in full units, rounded down, and marks the Stats Rounded.
func ParseIPVSAdmStats(text string) (IPVS, error) {
	return parseIPVSAdmCounters(text, statsCounters)
}

// ParseIPVSAdmRate reads `ipvsadm -Ln --rate` output into servers that hold their key and
// Rates only, as ParseIPVSAdmStats does.
func ParseIPVSAdmRate(text string) (IPVS, error) {
	return parseIPVSAdmCounters(text, rateCounters)
}

func parseIPVSAdmCounters(text string, c *ipvsadmCounters) (IPVS, error) {
	var v IPVS
	seen := map[ServiceKey]bool{}
	cols := c.columns
	title := "the title \"Prot LocalAddress:Port " + strings.Join(cols[:], " ") + "\""
	for l, f := range fieldLines(text) {
		fail := func(err error) (IPVS, error) {
			return IPVS{}, &ParseError{Format: c.format, Line: l.n, Text: l.text, Err: err}
		}
		if other, ok := counterTitle(f); ok {
			if other != c {
				return fail(expected(title, "the title of "+other.format+" (read it with "+other.parser+")"))
			}
			continue
		}
		switch {
		case len(f) >= 4 && f[0] == "IP" && f[1] == "Virtual" && f[2] == "Server" && f[3] == "version":
			continue
		case f[0] == "Prot":
			return fail(expected(title, quoteFound(strings.Join(f, " "))+" (ipvsadm -Ln's title is read by ParseIPVSAdm)"))
		case len(f) >= 2 && f[0] == "->" && f[1] == "RemoteAddress:Port":
			if len(f) != 2 {
				return fail(expected(`"-> RemoteAddress:Port" alone on the second title line`, quoteFound(strings.Join(f, " "))))
			}
			continue
		case f[0] == "->":
			if err := addRealServer(&v, func() (RealServer, error) { return parseCounterRealServer(f[1:], c) }); err != nil {
				return fail(err)
			}
			continue
		}
		vs, rest, err := parseIPVSAdmServiceName(f, "five counters")
		if err == nil {
			err = setCounters(&vs.Stats, &vs.Rates, rest, c, 0)
		}
		if err == nil {
			err = addService(&v, seen, vs)
		}
		if err != nil {
			return fail(err)
		}
	}
	return v, nil
}

// parseCounterRealServer reads the fields after "->": address:port and five values, the
// first three of --rate's never shortened.
func parseCounterRealServer(f []string, c *ipvsadmCounters) (RealServer, error) {
	var rs RealServer
	if len(f) == 0 {
		return rs, expected("address:port and five counters after ->", "end of line")
	}
	a, p, err := parseAddrPort(f[0])
	if err != nil {
		return rs, err
	}
	rs.Address, rs.Port = a, p
	plain := 0
	if c == rateCounters {
		plain = 3
	}
	return rs, setCounters(&rs.Stats, &rs.Rates, f[1:], c, plain)
}

// setCounters reads the five values of f into a new Stats or Rates, as c lists them; the
// first plain ones must be whole numbers, without a unit.
func setCounters(stats **Stats, rates **Rates, f []string, c *ipvsadmCounters, plain int) error {
	cols := c.columns
	if len(f) != len(cols) {
		return expected("five counters ("+strings.Join(cols[:], ", ")+")", fmt.Sprintf("%d fields", len(f)))
	}
	var vals [5]uint64
	rounded := false
	for i, s := range f {
		n, r, err := parseLargeNum(cols[i], s, i >= plain)
		if err != nil {
			return err
		}
		vals[i], rounded = n, rounded || r
	}
	if c == rateCounters {
		*rates = &Rates{CPS: vals[0], InPPS: vals[1], OutPPS: vals[2], InBPS: vals[3], OutBPS: vals[4], Rounded: rounded}
	} else {
		*stats = &Stats{Conns: vals[0], InPkts: vals[1], OutPkts: vals[2], InBytes: vals[3], OutBytes: vals[4], Rounded: rounded}
	}
	return nil
}

// parseLargeNum reads a value print_largenum wrote: a whole number or, when units, a
// number of thousands to trillions (123K, 45M, 6G, 7T), returned in full units with
// rounded set.
func parseLargeNum(column, s string, units bool) (uint64, bool, error) {
	what := "a whole number for " + column
	if units {
		what = "a number for " + column + ", whole or with ipvsadm's K, M, G or T"
	}
	digits, unit := s, uint64(1)
	if units && s != "" {
		for _, u := range largeNumUnits {
			if s[len(s)-1] == u.suffix {
				digits, unit = s[:len(s)-1], u.unit
			}
		}
	}
	n, err := parseDecimal(what, digits, 64)
	if err != nil {
		return 0, false, expected(what, quoteFound(s))
	}
	if n > math.MaxUint64/unit {
		return 0, false, expected(what+" below 2^64", quoteFound(s))
	}
	return n * unit, unit > 1, nil
}
