package dataplane

import (
	"fmt"
	"strconv"
	"strings"
)

// FormatIPSetSave prints the sets as `ipset save` does: a "create" line with the options
// the model holds (family, hashsize, maxelem, range, comment, in ipset's order), then one
// "add" line per member. Options the kernel picks itself (bucketsize, initval) are not
// part of the model and not printed.
func FormatIPSetSave(sets []IPSet) string {
	var b strings.Builder
	for _, s := range sets {
		b.WriteString("create " + s.Name + " " + s.Type + ipsetHeader(s) + "\n")
		for _, m := range s.Members {
			b.WriteString("add " + s.Name + " " + m.String() + "\n")
		}
	}
	return b.String()
}

// ipsetHeader is the part of a create line after the type, with a leading space, as
// both `ipset save` and the Header: line of `ipset list` write it.
func ipsetHeader(s IPSet) string {
	var b strings.Builder
	if s.Family != "" {
		b.WriteString(" family " + s.Family)
	}
	if s.HashSize != 0 {
		b.WriteString(" hashsize " + strconv.FormatUint(uint64(s.HashSize), 10))
	}
	if s.MaxElem != 0 {
		b.WriteString(" maxelem " + strconv.FormatUint(uint64(s.MaxElem), 10))
	}
	if s.PortRange != "" {
		b.WriteString(" range " + s.PortRange)
	}
	if s.Comment {
		b.WriteString(" comment")
	}
	return b.String()
}

// ParseIPSetSave reads `ipset save` output: "create NAME TYPE options" then "add NAME
// MEMBER [options]" lines. Members are read with ParseMember. Options the model does not hold (bucketsize,
// initval, timeout, counters, per-member comment, timeout, packets, bytes, ...) are
// read and dropped.
func ParseIPSetSave(text string) ([]IPSet, error) {
	const format = "ipset save"
	var sets []IPSet
	index := map[string]int{}
	for _, l := range numberedLines(text) {
		fail := func(err error) ([]IPSet, error) {
			return nil, &ParseError{Format: format, Line: l.n, Text: l.text, Err: err}
		}
		words, err := Rule{Spec: l.text}.Args()
		if err != nil {
			return fail(err)
		}
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "create":
			if len(words) < 3 {
				return fail(expected(`"create NAME TYPE [options]"`, quoteFound(l.text)))
			}
			set := IPSet{Name: words[1], Type: words[2]}
			if err := checkSetName(set.Name); err != nil {
				return fail(err)
			}
			if _, dup := index[set.Name]; dup {
				return fail(expected("each set created once", "a second "+set.Name))
			}
			if !validSetType(set.Type) {
				return fail(expected("a set type such as hash:ip,port", quoteFound(set.Type)))
			}
			if err := parseSetOptions(&set, words[3:]); err != nil {
				return fail(err)
			}
			index[set.Name] = len(sets)
			sets = append(sets, set)
		case "add":
			if len(words) < 3 {
				return fail(expected(`"add NAME MEMBER [options]"`, quoteFound(l.text)))
			}
			i, ok := index[words[1]]
			if !ok {
				return fail(expected("a create line for the set before its members", "a member of "+quoteFound(words[1])))
			}
			if err := addMember(&sets[i], words[2], words[3:]); err != nil {
				return fail(err)
			}
		default:
			return fail(expected(`a "create" or "add" line`, quoteFound(words[0])))
		}
	}
	return sets, nil
}

// ParseIPSetList reads `ipset list` output: one block per set of "Name:", "Type:",
// "Revision:", "Header:", "Size in memory:", "References:", "Number of entries:" and
// "Members:" followed by the members, blocks separated by a blank line.
func ParseIPSetList(text string) ([]IPSet, error) {
	const format = "ipset list"
	var (
		sets      []IPSet
		cur       *IPSet
		inMembers bool
		entries   = -1 // "Number of entries", when given
		block     textLine
	)
	names := map[string]bool{}
	finish := func() error {
		if cur == nil {
			return nil
		}
		if cur.Type == "" {
			return &ParseError{Format: format, Line: block.n, Text: block.text, Err: expected("a Type: line in the set's block", "none")}
		}
		if inMembers && entries >= 0 && entries != len(cur.Members) {
			return &ParseError{Format: format, Line: block.n, Text: block.text,
				Err: expected(fmt.Sprintf("%d members as \"Number of entries\" says", entries), len(cur.Members))}
		}
		sets = append(sets, *cur)
		cur, inMembers, entries = nil, false, -1
		return nil
	}
	for _, l := range numberedLines(text) {
		fail := func(err error) ([]IPSet, error) {
			return nil, &ParseError{Format: format, Line: l.n, Text: l.text, Err: err}
		}
		line := strings.TrimSpace(l.text)
		if line == "" {
			if err := finish(); err != nil {
				return nil, err
			}
			continue
		}
		key, value, isField := strings.Cut(line, ":")
		if inMembers && !(isField && key == "Name") {
			words, err := Rule{Spec: line}.Args()
			if err != nil {
				return fail(err)
			}
			if err := addMember(cur, words[0], words[1:]); err != nil {
				return fail(err)
			}
			continue
		}
		if !isField {
			return fail(expected(`a "Field: value" line`, quoteFound(line)))
		}
		value = strings.TrimSpace(value)
		if key == "Name" {
			if err := finish(); err != nil {
				return nil, err
			}
			if err := checkSetName(value); err != nil {
				return fail(err)
			}
			if names[value] {
				return fail(expected("each set listed once", "a second "+value))
			}
			names[value] = true
			cur, block = &IPSet{Name: value}, l
			continue
		}
		if cur == nil {
			return fail(expected(`"Name:" first in a set's block`, quoteFound(line)))
		}
		switch key {
		case "Type":
			if !validSetType(value) {
				return fail(expected("a set type such as hash:ip,port", quoteFound(value)))
			}
			cur.Type = value
		case "Header":
			if err := parseSetOptions(cur, strings.Fields(value)); err != nil {
				return fail(err)
			}
		case "Revision", "Size in memory", "References":
			if _, err := parseDecimal("a number after "+key+":", value, 64); err != nil {
				return fail(err)
			}
		case "Number of entries":
			n, err := parseDecimal("a number after Number of entries:", value, 31)
			if err != nil {
				return fail(err)
			}
			entries = int(n)
		case "Members":
			if value != "" {
				return fail(expected("nothing after Members:", quoteFound(value)))
			}
			if cur.Type == "" {
				return fail(expected("a Type: line before Members:", "Members:"))
			}
			inMembers = true
		default:
			return fail(expected("an ipset list field (Name, Type, Revision, Header, Size in memory, References, Number of entries, Members)", quoteFound(key)))
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return sets, nil
}

// setOptionArgs lists the create options ipset prints, with whether each takes a value.
var setOptionArgs = map[string]bool{
	"family": true, "hashsize": true, "maxelem": true, "range": true, "comment": false,
	"bucketsize": true, "initval": true, "timeout": true, "netmask": true, "bitmask": true,
	"markmask": true, "probes": true, "resize": true, "size": true,
	"counters": false, "skbinfo": false, "forceadd": false,
}

// parseSetOptions reads the options of a create line or a Header: line.
func parseSetOptions(set *IPSet, words []string) error {
	for i := 0; i < len(words); i++ {
		opt := words[i]
		takesValue, known := setOptionArgs[opt]
		if !known {
			return expected("an ipset create option (family, hashsize, maxelem, range, comment, ...)", quoteFound(opt))
		}
		if !takesValue {
			if opt == "comment" {
				set.Comment = true
			}
			continue
		}
		if i+1 == len(words) {
			return expected("a value after "+opt, "end of line")
		}
		i++
		v := words[i]
		switch opt {
		case "family":
			if v != "inet" && v != "inet6" {
				return expected("family inet or inet6", quoteFound(v))
			}
			set.Family = v
		case "hashsize", "maxelem":
			n, err := parseDecimal(opt+" as a number 1-4294967295", v, 32)
			if err != nil || n == 0 {
				return expected(opt+" as a number 1-4294967295", quoteFound(v))
			}
			if opt == "hashsize" {
				set.HashSize = uint32(n)
			} else {
				set.MaxElem = uint32(n)
			}
		case "range":
			if !plainWord(v) {
				return expected("a range such as 0-65535", quoteFound(v))
			}
			set.PortRange = v
		}
	}
	return nil
}

// addMember reads a member of the set's type and skips the member's options.
func addMember(set *IPSet, member string, opts []string) error {
	m, err := parseMember(set.Type, member)
	if err != nil {
		return err
	}
	for i := 0; i < len(opts); i++ {
		switch opts[i] {
		case "timeout", "packets", "bytes", "comment", "skbmark", "skbprio", "skbqueue":
			i++
			if i == len(opts) {
				return expected("a value after "+opts[i-1], "end of line")
			}
		case "nomatch":
		default:
			return expected("a member option (timeout, packets, bytes, comment, skbmark, skbprio, skbqueue, nomatch)", quoteFound(opts[i]))
		}
	}
	set.Members = append(set.Members, m)
	return nil
}

// checkSetName accepts what ipset allows as a set name: 1-31 bytes, no blanks or quotes.
func checkSetName(name string) error {
	if len(name) > 31 || !plainWord(name) {
		return expected("a set name of 1-31 characters", quoteFound(name))
	}
	return nil
}

// plainWord tells whether s can be printed as one word and read back unchanged.
func plainWord(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n\"\\")
}

func validSetType(s string) bool { return plainWord(s) && strings.Contains(s, ":") }
