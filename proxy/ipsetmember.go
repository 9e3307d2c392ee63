package proxy

import "github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"

// canonicalMember writes an ipset member of a set type the way ipset prints it, so that
// two spellings of one element compare equal. The kernel prints members its own way;
// without this a member the proxier wrote differently would look stale and be deleted,
// deleting the very element it wants. Text that does not parse is kept as it is.
func canonicalMember(setType, m string) string {
	pm, err := dataplane.ParseMember(setType, m)
	if err != nil {
		return m
	}
	return pm.String()
}
