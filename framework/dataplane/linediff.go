package dataplane

import "slices"

// listed is one line of a listing with the key Difference names it by.
type listed struct{ key, text string }

// wholeListing makes Differences of one kind from a whole listing: an object only one
// side has, or the context around a change.
func wholeListing(section Section, scope string, kind Kind, ls []listed) Differences {
	out := make(Differences, 0, len(ls))
	for _, l := range ls {
		out = append(out, difference(section, scope, kind, l))
	}
	return out
}

// difference is one line of a listing as a Difference of the given kind: the text on the
// sides that have it.
func difference(section Section, scope string, kind Kind, l listed) Difference {
	d := Difference{Section: section, Scope: scope, Key: l.key, Kind: kind}
	switch kind {
	case Missing:
		d.Want = l.text
	case Extra:
		d.Got = l.text
	default:
		d.Want, d.Got = l.text, l.text
	}
	return d
}

// diffListing compares two listings of one object line by line: nothing when they are the
// same, otherwise every line, marked. A line on both sides that the longest common
// subsequence leaves out is one that moved: it is reported once, Moved, where got has it,
// with movedNote saying where want has it.
func diffListing(section Section, scope string, want, got []listed, movedNote func(wantIndex int) string) Differences {
	if slices.Equal(want, got) {
		return nil
	}
	ops := lcsDiff(want, got)
	// Pair every line only want has with a line only got has of the same text.
	extra := map[string][]int{}
	for i, op := range ops {
		if op.kind == Extra {
			extra[op.text] = append(extra[op.text], i)
		}
	}
	for i, op := range ops {
		if op.kind != Missing || len(extra[op.text]) == 0 {
			continue
		}
		j := extra[op.text][0]
		extra[op.text] = extra[op.text][1:]
		ops[j].kind, ops[j].want = Moved, op.want
		ops[i].kind = "" // reported at got's place
	}
	out := make(Differences, 0, len(ops))
	for _, op := range ops {
		if op.kind == "" {
			continue
		}
		d := difference(section, scope, op.kind, op.listed)
		if op.kind == Moved {
			d.Note = movedNote(op.want)
		}
		out = append(out, d)
	}
	return out
}

// lineOp is one line of a line diff: its kind (Same, Missing or Extra) and, for a line of
// want, its index there.
type lineOp struct {
	listed
	kind Kind
	want int
}

// maxLCSCells bounds the quadratic line diff; past it (thousands of rules in one chain,
// as iptables-mode leftovers can be) lines are compared as sets instead.
const maxLCSCells = 4 << 20

// lcsDiff returns the lines of a longest-common-subsequence diff.
func lcsDiff(want, got []listed) []lineOp {
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
			if want[i].text == got[j].text {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []lineOp
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case i < len(want) && j < len(got) && want[i].text == got[j].text:
			out = append(out, lineOp{got[j], Same, i})
			i++
			j++
		case j == len(got) || (i < len(want) && lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, lineOp{want[i], Missing, i})
			i++
		default:
			out = append(out, lineOp{got[j], Extra, -1})
			j++
		}
	}
	return out
}

// unorderedDiff marks the lines of want missing from got and the lines of got missing from
// want, ignoring order; used only for very long listings.
func unorderedDiff(want, got []listed) []lineOp {
	count := map[string]int{}
	for _, l := range got {
		count[l.text]++
	}
	var out []lineOp
	for i, l := range want {
		if count[l.text] > 0 {
			count[l.text]--
			out = append(out, lineOp{l, Same, i})
		} else {
			out = append(out, lineOp{l, Missing, i})
		}
	}
	for _, l := range got {
		if count[l.text] > 0 {
			count[l.text]--
			out = append(out, lineOp{l, Extra, -1})
		}
	}
	return out
}
