// Package paste reads what a person pastes from nodes - `ipvsadm -Ln`, `ip addr show`,
// `iptables -S` or `iptables-save`, `ipset list` or `ipset save`, several at once, from
// several nodes - into one dataplane.State per node. It is the lenient reading: the strict
// parsers of package dataplane stay the suites' default and read every block here; this
// package only finds the blocks (by their content, helped by the shell prompts), removes
// what pasting adds (prompts, `>>> node` separators, `...` elisions, indentation, CRLF) and
// sets aside, with the reason, each line the strict parser refuses. Every input line ends
// up in Paste.Lines with what was made of it.
package paste

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Kind says what a line of a paste was taken for.
type Kind int

// The kinds of line.
const (
	// Blank is an empty line (or one of spaces).
	Blank Kind = iota
	// Separator starts a node's part: ">>> node1", "==> node1 <==", "=== node1 ===".
	Separator
	// Prompt is a shell prompt with its command: "[root@node1 ~]# ipvsadm -Ln".
	Prompt
	// Elision is where the person left lines out: "...", "…", "[...]".
	Elision
	// Output is a line a strict parser read, as part of a block of Format.
	Output
	// Skipped is a line nothing read; Reason says why.
	Skipped
)

func (k Kind) String() string {
	switch k {
	case Blank:
		return "blank"
	case Separator:
		return "separator"
	case Prompt:
		return "prompt"
	case Elision:
		return "elision"
	case Output:
		return "output"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Format is a tool output format, named as a person types the command.
type Format string

// The formats a paste may hold.
const (
	IPVSAdm         Format = "ipvsadm -Ln"
	IPVSAdmTimeouts Format = "ipvsadm -Ln --timeout"
	IPAddr          Format = "ip addr"
	IPTablesS       Format = "iptables -S"
	IPTablesSave    Format = "iptables-save"
	IPSetList       Format = "ipset list"
	IPSetSave       Format = "ipset save"
)

// Line is one line of the paste and what was made of it.
type Line struct {
	// N is the 1-based line number in the paste.
	N int
	// Text is the line as pasted, without its line ending.
	Text string
	Kind Kind
	// Node is the index in Paste.Nodes of the node the line belongs to; -1 for lines
	// before anything named or read a node (blank lines, prose).
	Node int
	// Format is the block's format for Output lines, and for Skipped lines that sat in a
	// block (the strict parser refused them).
	Format Format
	// Reason says why a Skipped line was not read.
	Reason string
}

// Node is one node's part of the paste.
type Node struct {
	// Name is the node's name from its separator or its prompts; "" when the paste did not
	// name it.
	Name string
	// State is what the node's blocks hold; State.Node is Name.
	State dataplane.State
	// Blocks are the node's outputs in paste order.
	Blocks []Block
	// Notes say what the reading assumed or repaired ("chain KUBE-NODE-PORT's -N line was
	// not pasted"), for a person to weigh what is read.
	Notes []string
	// namedBy tells how Name was found; host is the host name of the first prompt under a
	// separator.
	namedBy Kind
	host    string
}

// Block is one command's output in a node's part.
type Block struct {
	Format Format
	// Command is the command of the prompt above the block, "" when none was pasted.
	Command string
	// Table is the iptables table an IPTablesS block was read as.
	Table string
	// Lines are the indexes in Paste.Lines of the block's lines that were read, in order.
	Lines []int
	// Elided is true when the block has an elision inside it (or right after it).
	Elided bool
	// Partial is true when the block shows part of what its tool prints: one chain or one
	// set named on the command line, or headers that were not pasted.
	Partial bool
	// Refused counts the block's lines its parser refused (Skipped lines with the block's
	// Format): what was read is then a part of what the tool printed.
	Refused int
	// IPv6 is true for ip6tables output: its rules go to State.IP6Tables.
	IPv6 bool
	// IPVS, Links, IPSets and Rules hold what the block read, by its Format.
	IPVS   dataplane.IPVS
	Links  []dataplane.Link
	IPSets []dataplane.IPSet
	Rules  dataplane.Ruleset
}

// Paste is a whole paste, read.
type Paste struct {
	Lines []Line
	Nodes []Node
}

// Skipped lists the lines nothing read.
func (p Paste) Skipped() []Line {
	var out []Line
	for _, l := range p.Lines {
		if l.Kind == Skipped {
			out = append(out, l)
		}
	}
	return out
}

// reader holds the state of one Read.
type reader struct {
	p     Paste
	node  int // current node, -1 for none
	block *pending
	// command is the command of the last prompt in the current node, for the next block;
	// shown is that command for the lines after it, block or not.
	command, shown string
}

// pending is a block being collected.
type pending struct {
	format  Format
	command string
	lines   []int
	elided  bool
	indent  int // the indentation of its first line
	members bool
}

// Read reads a paste. It never fails: what it cannot read is in the result's Lines as
// Skipped, with the reason.
func Read(text string) Paste {
	r := &reader{node: -1}
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return r.p
	}
	for i, raw := range strings.Split(text, "\n") {
		r.line(Line{N: i + 1, Text: strings.TrimSuffix(raw, "\r"), Node: -1})
	}
	r.flush()
	for i := range r.p.Nodes {
		r.p.Nodes[i].State.Node = r.p.Nodes[i].Name
	}
	return r.p
}

// line takes the next line of the paste.
func (r *reader) line(l Line) {
	trimmed := strings.TrimSpace(l.Text)
	switch {
	case trimmed == "":
		l.Kind = Blank
		if r.block != nil && r.block.format == IPSetList {
			r.block.members = false // a blank line ends a set's block
		}
		r.add(l, false)
		return
	case isElision(trimmed):
		l.Kind = Elision
		if r.block != nil {
			r.block.elided = true
		}
		r.add(l, false)
		return
	}
	if name, ok := separator(trimmed); ok {
		r.flush()
		r.enter(name, Separator)
		r.command, r.shown = "", ""
		l.Kind = Separator
		r.add(l, false)
		return
	}
	if host, cmd, ok := prompt(trimmed); ok {
		r.flush()
		if host != "" {
			r.enter(host, Prompt)
		}
		r.command, r.shown = cmd, cmd
		l.Kind = Prompt
		r.add(l, false)
		return
	}
	f := r.classify(l.Text, trimmed)
	if f == "" {
		l.Kind, l.Reason = Skipped, "not the output of ipvsadm -Ln, ip addr, iptables -S, iptables-save, ipset list or ipset save"
		if r.shown != "" && r.block == nil {
			l.Reason = fmt.Sprintf("output of `%s`, which is not read", r.shown)
		}
		if r.block != nil && r.block.format == IPAddr && !strings.HasPrefix(l.Text, " ") {
			r.flush()
		}
		r.add(l, false)
		return
	}
	if r.block == nil || r.block.format != f {
		r.flush()
		if r.node < 0 {
			r.enter("", Blank)
		}
		r.block = &pending{format: f, command: r.command, indent: indentation(l.Text)}
		r.command = ""
	}
	if f == IPSetList {
		key, _, _ := strings.Cut(trimmed, ":")
		switch {
		case key == "Members" && strings.TrimSpace(strings.TrimPrefix(trimmed, "Members:")) == "":
			r.block.members = true
		case key == "Name":
			r.block.members = false
		}
	}
	l.Kind, l.Format = Output, f
	r.add(l, true)
}

// add appends a line to the paste, and to the open block when inBlock.
func (r *reader) add(l Line, inBlock bool) {
	l.Node = r.node
	r.p.Lines = append(r.p.Lines, l)
	if inBlock {
		r.block.lines = append(r.block.lines, len(r.p.Lines)-1)
	}
}

// enter makes the node of that name current, adding it when it is new. A name found by a
// prompt does not replace the node a separator named: the prompt's host name is often
// not the node's name ("k8s-master" for node "master1").
func (r *reader) enter(name string, by Kind) {
	if r.node >= 0 {
		cur := &r.p.Nodes[r.node]
		switch {
		case by == Prompt && cur.namedBy == Separator && (cur.host == "" || cur.host == name):
			// The first prompt under a separator names the node's host ("k8s-master" for
			// node "master1"); a prompt of another host starts that host's node.
			cur.host = name
			return
		case cur.Name == name && name != "":
			return
		case cur.Name == "" && len(cur.Blocks) == 0 && !r.hasLines(r.node):
			cur.Name, cur.namedBy = name, by
			return
		}
	}
	if name != "" {
		for i, n := range r.p.Nodes {
			if n.Name == name {
				r.node = i
				return
			}
		}
	}
	r.p.Nodes = append(r.p.Nodes, Node{Name: name, namedBy: by})
	r.node = len(r.p.Nodes) - 1
}

// hasLines tells whether any non-blank line was given to node i.
func (r *reader) hasLines(i int) bool {
	for _, l := range r.p.Lines {
		if l.Node == i && l.Kind != Blank {
			return true
		}
	}
	return false
}

// classify names the format a line belongs to, or "" when it is no tool's output. A line
// that only continues a block (an ip addr detail, an ipset member) belongs to the block.
func (r *reader) classify(text, trimmed string) Format {
	b := r.block
	if b != nil && b.format == IPTablesSave && (strings.HasPrefix(trimmed, "-A ") || strings.HasPrefix(trimmed, "[")) {
		return IPTablesSave
	}
	if b != nil && b.format == IPAddr && indentation(text) > b.indent && !linkHeader.MatchString(trimmed) {
		return IPAddr
	}
	if b != nil && b.format == IPSetList && b.members {
		if key, _, ok := strings.Cut(trimmed, ":"); !ok || key != "Name" {
			return IPSetList
		}
	}
	f := strings.Fields(trimmed)
	switch {
	case IsIPVSAdmTitle(trimmed), f[0] == "->", (f[0] == "TCP" || f[0] == "UDP" || f[0] == "SCTP" || f[0] == "FWM") && len(f) >= 3:
		return IPVSAdm
	case f[0] == "Timeout" && len(f) > 1 && f[1] == "(tcp":
		return IPVSAdmTimeouts
	case linkHeader.MatchString(trimmed), (f[0] == "inet" || f[0] == "inet6") && len(f) >= 2 && strings.Contains(f[1], "/"):
		return IPAddr
	case f[0] == "-P" || f[0] == "-N" || f[0] == "-A":
		return IPTablesS
	case strings.HasPrefix(trimmed, "*") && len(f) == 1, strings.HasPrefix(trimmed, ":") && len(f) >= 2, trimmed == "COMMIT",
		strings.HasPrefix(trimmed, "# Generated by ip"), strings.HasPrefix(trimmed, "# Completed on"):
		return IPTablesSave
	case (f[0] == "create" || f[0] == "add") && len(f) >= 3:
		return IPSetSave
	}
	if key, _, ok := strings.Cut(trimmed, ":"); ok && ipsetListFields[key] {
		return IPSetList
	}
	return ""
}

// ipsetListFields are the field names of an `ipset list` block.
var ipsetListFields = map[string]bool{
	"Name": true, "Type": true, "Revision": true, "Header": true, "Size in memory": true,
	"References": true, "Number of entries": true, "Members": true,
}

// IsIPVSAdmTitle tells whether a line is one of the title lines `ipvsadm -Ln` prints before
// the services ("IP Virtual Server version ...", "Prot LocalAddress:Port ...", "  ->
// RemoteAddress:Port ..."): the strict parser reads it alone as an empty table.
func IsIPVSAdmTitle(line string) bool {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "IP" && f[0] != "Prot" && f[0] != "->" {
		return false
	}
	v, err := dataplane.ParseIPVSAdm(line)
	return err == nil && len(v.Services) == 0
}

// linkHeader is the first line of a link in `ip addr`, as dataplane.ParseIPAddr reads it.
var linkHeader = regexp.MustCompile(`^\d+: [^\s:@]+(@[^\s:]+)?: <[^>]*>`)

// isElision recognises the marks people put where they cut output: "...", "…", "[...]",
// "(...)", "... (省略) ...", a line of dots.
func isElision(s string) bool {
	s = strings.Trim(s, "[]()<> ")
	if s == "" {
		return false
	}
	if strings.HasPrefix(s, "...") || strings.HasPrefix(s, "…") {
		return strings.HasSuffix(s, "...") || strings.HasSuffix(s, "…") || !strings.ContainsAny(s, "=:")
	}
	return false
}

// separatorForms are the lines people put between nodes: ">>> node1", "==> node1 <==" (as
// head and tail print file names), "=== node1 ===", "--- node1 ---".
var separatorForms = []*regexp.Regexp{
	regexp.MustCompile(`^>>>\s*(\S+)\s*(<<<)?$`),
	regexp.MustCompile(`^==>\s*(\S+)\s*<==$`),
	regexp.MustCompile(`^={3,}\s*(\S+)\s*={3,}$`),
	regexp.MustCompile(`^-{3,}\s*(\S+)\s*-{3,}$`),
}

func separator(s string) (string, bool) {
	for _, re := range separatorForms {
		if m := re.FindStringSubmatch(s); m != nil {
			return strings.TrimSuffix(m[1], ":"), true
		}
	}
	return "", false
}

// promptForms are shell prompts, with the host where the prompt shows it:
// "[root@node1 ~]# cmd", "root@node1:~# cmd", "node1 ~]# cmd" (the seed's, its "[root@" cut),
// "$ cmd", and "# cmd" for the commands this reader knows (a "# " line is otherwise a note).
var (
	promptBracket = regexp.MustCompile(`^\[(?:[^@\]\s]+@)?([^\]\s]+)(?:\s+[^\]]*)?\]\s?[#$]\s*(.*)$`)
	promptDebian  = regexp.MustCompile(`^[^\s@\[\]]+@([^\s:]+):\S*[#$]\s*(.*)$`)
	promptCut     = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\s+[^\]\s]*)?\]\s?[#$]\s*(.*)$`)
	promptBare    = regexp.MustCompile(`^[#$]\s+(.*)$`)
)

// commands are the tools whose commands a bare "# " prompt may run.
var commands = []string{"ipvsadm", "ip", "iptables", "ip6tables", "iptables-save", "ip6tables-save", "ipset", "kubectl", "cat", "ipvsdump"}

func prompt(s string) (host, cmd string, ok bool) {
	for _, re := range []*regexp.Regexp{promptBracket, promptDebian, promptCut} {
		if m := re.FindStringSubmatch(s); m != nil {
			return m[1], strings.TrimSpace(m[2]), true
		}
	}
	if m := promptBare.FindStringSubmatch(s); m != nil {
		cmd = strings.TrimSpace(m[1])
		tool, _, _ := strings.Cut(cmd, " ")
		if strings.HasPrefix(s, "$") || containsString(commands, tool) {
			return "", cmd, true
		}
	}
	return "", "", false
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func indentation(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t"))
}

// flush reads the open block with its strict parser and adds it to its node.
func (r *reader) flush() {
	b := r.block
	r.block = nil
	if b == nil {
		return
	}
	blk := Block{Format: b.format, Command: b.command, Elided: b.elided}
	node := &r.p.Nodes[r.node]
	var src []source
	var notes []string
	switch b.format {
	case IPAddr:
		src = r.ipAddrSource(b, &blk, &notes)
	case IPTablesS:
		src = r.iptablesSSource(b, &blk, &notes)
	case IPTablesSave:
		src = r.iptablesSaveSource(b, &blk, &notes)
	case IPSetList:
		// The count of "Number of entries:" is not checked: pastes cut member lists, with or
		// without "...". The line is read, and not given to the parser.
		src = slices.DeleteFunc(r.sourceOf(b.lines, func(t string) string { return t }), func(s source) bool {
			return strings.HasPrefix(s.text, "Number of entries:")
		})
		blk.Partial = setNamed(b.command)
	default:
		src = r.sourceOf(b.lines, func(t string) string { return t })
	}
	if !r.parse(&blk, src) {
		for _, i := range b.lines {
			if l := &r.p.Lines[i]; l.Kind == Output {
				l.Kind, l.Reason = Skipped, fmt.Sprintf("%s: the rest of its block was not read", b.format)
			}
		}
		return
	}
	for _, i := range b.lines {
		switch r.p.Lines[i].Kind {
		case Output:
			blk.Lines = append(blk.Lines, i)
		case Skipped:
			blk.Refused++
		}
	}
	if len(blk.Lines) == 0 {
		return
	}
	node.Notes = append(node.Notes, notes...)
	node.Blocks = append(node.Blocks, blk)
	merge(node, blk)
}

// source is one line of text given to a strict parser: a pasted line (line >= 0, an index
// in Paste.Lines) or one the reader added (-1), such as the "-N CHAIN" a partial dump lost.
type source struct {
	line int
	text string
}

// sourceOf gives the block's lines to a parser, each trimmed and passed through edit; a
// line edit empties stays in the block (it was read) but the parser does not see it.
func (r *reader) sourceOf(lines []int, edit func(string) string) []source {
	out := make([]source, 0, len(lines))
	for _, i := range lines {
		out = append(out, source{line: i, text: edit(strings.TrimSpace(r.p.Lines[i].Text))})
	}
	return out
}

// parse runs the block's strict parser until it accepts what is left: each line it
// refuses is marked Skipped with the parser's reason and taken out. It tells whether the
// parser accepted anything.
func (r *reader) parse(blk *Block, src []source) bool {
	for range min(len(src), maxRefused) + 1 {
		// Line n of the text is src[n-1]: the parser's line numbers index src.
		var text strings.Builder
		for _, s := range src {
			text.WriteString(s.text)
			text.WriteByte('\n')
		}
		err := r.parseAs(blk, text.String())
		if err == nil {
			return true
		}
		var pe *dataplane.ParseError
		if !errors.As(err, &pe) || pe.Line < 1 || pe.Line > len(src) {
			r.skipAll(src, blk.Format, err.Error())
			return false
		}
		bad := pe.Line - 1
		n := 1 + children(blk.Format, src[bad:])
		for i, s := range src[bad : bad+n] {
			if s.line < 0 {
				continue
			}
			l := &r.p.Lines[s.line]
			l.Kind, l.Reason = Skipped, fmt.Sprintf("%s: %v", blk.Format, pe.Err)
			if i > 0 {
				l.Reason = fmt.Sprintf("%s: belongs to a line that was not read (%s)", blk.Format, src[bad].text)
			}
		}
		src = append(src[:bad], src[bad+n:]...)
	}
	r.skipAll(src, blk.Format, fmt.Sprintf("its block has more than %d lines the parser refuses; the rest of the block was not read", maxRefused))
	return false
}

// maxRefused bounds the lines set aside in one block: each costs a new parse of the block,
// and a block that bad is not the tool's output.
const maxRefused = 100

func (r *reader) skipAll(src []source, f Format, why string) {
	for _, s := range src {
		if s.line >= 0 {
			l := &r.p.Lines[s.line]
			l.Kind, l.Reason = Skipped, fmt.Sprintf("%s: %s", f, why)
		}
	}
}

// parseAs reads text with the strict parser of the block's format into the block.
func (r *reader) parseAs(blk *Block, text string) error {
	var err error
	switch blk.Format {
	case IPVSAdm:
		blk.IPVS, err = dataplane.ParseIPVSAdm(text)
	case IPVSAdmTimeouts:
		blk.IPVS.Timeouts, err = dataplane.ParseIPVSAdmTimeouts(text)
	case IPAddr:
		blk.Links, err = dataplane.ParseIPAddr(text)
	case IPTablesS:
		blk.Rules, err = dataplane.ParseIPTablesS(text, blk.Table)
	case IPTablesSave:
		blk.Rules, err = dataplane.ParseIPTablesSave(text)
	case IPSetList:
		blk.IPSets, err = dataplane.ParseIPSetList(text)
	case IPSetSave:
		blk.IPSets, err = dataplane.ParseIPSetSave(text)
	default:
		err = fmt.Errorf("no parser for %q", blk.Format)
	}
	return err
}

// children counts the lines after src[0] that belong to it: the real servers of an ipvsadm
// service, the details of an ip addr link, the fields and members of an ipset list set.
// When the strict parser refuses the head they go with it, or they would be read as part
// of the head above.
func children(f Format, src []source) int {
	head := strings.TrimSpace(src[0].text)
	n := 0
	for _, s := range src[1:] {
		t := strings.TrimSpace(s.text)
		var child bool
		switch f {
		case IPVSAdm:
			child = !strings.HasPrefix(head, "->") && strings.HasPrefix(t, "->")
		case IPAddr:
			child = linkHeader.MatchString(head) && strings.HasPrefix(s.text, " ")
		case IPSetList:
			child = strings.HasPrefix(head, "Name:") && !strings.HasPrefix(t, "Name:")
		}
		if !child {
			break
		}
		n++
	}
	return n
}
