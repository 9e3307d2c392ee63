package iptables

import "fmt"

// String names the family as the iptables documentation does.
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

// restoreCommand and saveCommand name the binaries of a family.
func (f Family) restoreCommand() string { return f.command("restore") }

func (f Family) saveCommand() string { return f.command("save") }

// command is the family's binary of an iptables tool: iptables-<tool>, ip6tables-<tool>.
func (f Family) command(tool string) string {
	if f == IPv6 {
		return "ip6tables-" + tool
	}
	return "iptables-" + tool
}

func checkFamily(f Family) error {
	if f != IPv4 && f != IPv6 {
		return fmt.Errorf("iptables family %d: expected iptables.IPv4 or iptables.IPv6", int(f))
	}
	return nil
}

// RestoreError is an iptables-restore transaction the kernel or iptables-restore refused.
// A table's changes apply at its COMMIT, all or nothing; iptables-nft-restore (and the
// fake) apply the whole input as one transaction, legacy iptables-restore table by table.
type RestoreError struct {
	Family Family
	// Line is the 1-based input line iptables-restore blamed (0 when it named none) and
	// Text that line of the input.
	Line int
	Text string
	// Msg is what went wrong: iptables-restore's stderr, or the fake's reason.
	Msg string
}

func (e *RestoreError) Error() string {
	cmd := e.Family.restoreCommand()
	if e.Line == 0 {
		return fmt.Sprintf("%s refused the input: %s", cmd, e.Msg)
	}
	return fmt.Sprintf("%s refused line %d %q: %s", cmd, e.Line, e.Text, e.Msg)
}
