// Package explain tells a student, line by line, what the node outputs they pasted show:
// what each IPVS virtual server is (a ClusterIP, a NodePort on which address, an external
// or load-balancer IP; which Service, when the cluster can be asked), and what looks wrong
// against the tutorial (no real servers, another scheduler, a ClusterIP missing from
// kube-ipvs0, iptables-mode chains left behind, too many nat rules). The paste is read
// leniently by hack/report/explain/paste; the tutorial's own rules come from
// framework/tutorial and kube-proxy's names from proxy/desired and framework/kubeproxy.
package explain

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/explain/paste"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/desired"
)

// DefaultScheduler is kube-proxy's scheduler when its configuration names none, as the
// seed's kube-proxy logs ("IPVS scheduler not specified, use rr by default").
const DefaultScheduler = kubeproxy.DefaultScheduler

// NodePortRange is the API server's default --service-node-port-range.
var NodePortRange = [2]uint16{30000, 32767}

// DefaultServiceCIDR is kubeadm's default service subnet (the seed's 10.106.71.137 is in it).
var DefaultServiceCIDR = netip.MustParsePrefix("10.96.0.0/12")

// Options say what the paste is judged against.
type Options struct {
	// Scheduler is the scheduler kube-proxy is configured with; "" is DefaultScheduler.
	Scheduler string
	// ServiceCIDRs are the cluster's service subnets: an address in one is a ClusterIP.
	ServiceCIDRs []netip.Prefix
	// Services, when not nil, names the Service of each virtual server.
	Services *Services
}

func (o Options) scheduler() string { return kubeproxy.Scheduler(o.Scheduler) }

// Role is what kind of Service address a virtual server serves.
type Role string

// The roles.
const (
	ClusterIP    Role = "ClusterIP"
	NodePort     Role = "NodePort"
	ExternalIP   Role = "external IP"
	LoadBalancer Role = "load-balancer IP"
	FirewallMark Role = "firewall mark"
	Unknown      Role = "unknown"
)

// Annotation explains one pasted line.
type Annotation struct {
	Line int
	Text string
	Note string
}

// Finding is something that looks wrong against the tutorial, at a line of the paste (0
// when it is about the node as a whole).
type Finding struct {
	Line int
	Text string
}

// NodeReport is what explain says about one node.
type NodeReport struct {
	Name string
	// Lines are the node's prompts and the read lines that have something to say, in
	// paste order.
	Lines []Annotation
	// Notes are what the reading assumed (paste.Node.Notes).
	Notes    []string
	Findings []Finding
	// Passed are the tutorial's checks the node passes, by their names.
	Passed []string
}

// Report is explain's answer for a whole paste.
type Report struct {
	Nodes []NodeReport
	// Skipped are the lines the reader set aside.
	Skipped []paste.Line
	// Lines is the number of lines of the paste.
	Lines int
}

// Explain explains every node of the paste.
func Explain(p paste.Paste, o Options) Report {
	r := Report{Skipped: p.Skipped(), Lines: len(p.Lines)}
	for i, n := range p.Nodes {
		r.Nodes = append(r.Nodes, explainNode(p, i, n, o))
	}
	return r
}

// nodeView is one node's state with the facts the roles are decided by.
type nodeView struct {
	st      dataplane.State
	o       Options
	ipvs0   dataplane.Link
	hasIPV0 bool
	// linksRead is true when an ip addr output was pasted for the node; ipvsCut when its
	// ipvsadm -Ln was pasted in part.
	linksRead, ipvsCut bool
}

func explainNode(p paste.Paste, idx int, n paste.Node, o Options) NodeReport {
	name := n.Name
	if name == "" {
		name = fmt.Sprintf("(unnamed node %d)", idx+1)
	}
	v := nodeView{st: n.State, o: o}
	v.ipvs0, v.hasIPV0 = n.State.Link(dataplane.KubeIPVSInterface)
	rep := NodeReport{Name: name, Notes: n.Notes}
	for _, b := range n.Blocks {
		switch {
		case b.Format == paste.IPAddr:
			v.linksRead = true
		case b.Format == paste.IPVSAdm && (b.Elided || b.Refused > 0):
			v.ipvsCut = true
		}
	}
	notes := map[int]string{}
	var findings []Finding
	for _, b := range n.Blocks {
		switch b.Format {
		case paste.IPVSAdm:
			findings = append(findings, v.ipvsadmBlock(p, b, notes)...)
		case paste.IPAddr:
			v.ipAddrBlock(p, b, notes)
		case paste.IPSetList, paste.IPSetSave:
			ipsetBlock(p, b, notes)
		case paste.IPTablesS, paste.IPTablesSave:
			iptablesBlock(p, b, notes)
		}
	}
	for i, l := range p.Lines {
		if l.Node != idx {
			continue
		}
		switch {
		case l.Kind == paste.Prompt && outputFollows(p, i):
			rep.Lines = append(rep.Lines, Annotation{Line: l.N, Text: strings.TrimSpace(l.Text)})
		case notes[i] != "":
			rep.Lines = append(rep.Lines, Annotation{Line: l.N, Text: reindent(l), Note: notes[i]})
		}
	}
	nodeFindings, passed := v.nodeFindings(p, n)
	rep.Findings, rep.Passed = append(findings, nodeFindings...), passed
	return rep
}

// outputFollows tells whether the prompt at line i has output that was read: the prompts
// of other commands (kubectl) are left out of the explanation.
func outputFollows(p paste.Paste, i int) bool {
	for _, l := range p.Lines[i+1:] {
		switch l.Kind {
		case paste.Output:
			return true
		case paste.Prompt, paste.Separator:
			return false
		}
	}
	return false
}

// reindent gives a line the indentation its tool prints, whatever the paste did to it:
// ipvsadm's real servers two spaces in, ip addr's details four.
func reindent(l paste.Line) string {
	t := strings.TrimSpace(l.Text)
	switch {
	case l.Format == paste.IPVSAdm && strings.HasPrefix(t, "->"):
		return "  " + t
	case l.Format == paste.IPAddr && !linkHeaderLine(t):
		return "    " + t
	}
	return t
}

func linkHeaderLine(t string) bool {
	_, ok := linkName(t)
	return ok
}

// ipvsadmBlock annotates the service and real server lines of an ipvsadm -Ln block. The
// block's read lines are its services (each followed by its real servers) in the order the
// strict parser read them.
func (v nodeView) ipvsadmBlock(p paste.Paste, b paste.Block, notes map[int]string) []Finding {
	var findings []Finding
	svc, rs := -1, 0
	for _, i := range b.Lines {
		f := strings.Fields(p.Lines[i].Text)
		switch {
		case len(f) == 0, paste.IsIPVSAdmTitle(p.Lines[i].Text):
			continue
		case f[0] == "->":
			if svc < 0 || rs >= len(b.IPVS.Services[svc].RealServers) {
				continue
			}
			notes[i] = realServerNote(b.IPVS.Services[svc].RealServers[rs])
			rs++
		default:
			svc, rs = svc+1, 0
			if svc >= len(b.IPVS.Services) {
				return findings
			}
			vs := b.IPVS.Services[svc]
			notes[i] = v.describe(vs)
			elided := len(vs.RealServers) == 0 && elidedAfter(p, i)
			if elided {
				notes[i] += " (its real servers were cut from the paste)"
			}
			findings = append(findings, v.serviceFindings(p.Lines[i].N, vs, elided)...)
		}
	}
	return findings
}

// elidedAfter tells whether the next line after line i that is not blank is an elision
// ("..."): a service line right above one may have had real servers.
func elidedAfter(p paste.Paste, i int) bool {
	for _, l := range p.Lines[i+1:] {
		if l.Kind != paste.Blank {
			return l.Kind == paste.Elision
		}
	}
	return false
}

func realServerNote(rs dataplane.RealServer) string {
	note := fmt.Sprintf("real server: the endpoint (Pod) %s, weight %d", netip.AddrPortFrom(rs.Address, rs.Port), rs.Weight)
	if rs.Weight == 0 {
		note += ": weight 0 takes no new connections (a terminating endpoint)"
	}
	if rs.Forward != dataplane.Masq {
		note += fmt.Sprintf("; forwarding %s, where kube-proxy only uses Masq (NAT)", rs.Forward)
	}
	return note
}

// role decides what a virtual server is, and why: the Service that owns the address when
// the cluster was asked, else kube-proxy's ipsets, the service CIDR, kube-ipvs0 and the
// NodePort range.
func (v nodeView) role(vs dataplane.VirtualServer) (Role, string) {
	if vs.FWMark != 0 {
		return FirewallMark, "kube-proxy does not create firewall-mark services"
	}
	if v.o.Services != nil {
		if m, ok := v.o.Services.Find(vs.Protocol, vs.Address, vs.Port, v.nodePortAddress(vs.Address)); ok {
			return m.Role, m.String()
		}
	}
	member := vs.Address.String() + "," + vs.Protocol.Lower() + ":" + strconv.Itoa(int(vs.Port))
	fam := 4
	if vs.IsIPv6() {
		fam = 6
	}
	inSet := func(id desired.SetID) bool {
		set, ok := v.st.IPSet(id.Spec().NameFor(fam))
		return ok && set.HasMember(member)
	}
	switch {
	case inSet(desired.SetLoadBalancer):
		return LoadBalancer, "in the set " + desired.SetLoadBalancer.Spec().NameFor(fam)
	case inSet(desired.SetExternalIP):
		return ExternalIP, "in the set " + desired.SetExternalIP.Spec().NameFor(fam)
	case inSet(desired.SetClusterIP):
		return ClusterIP, "in the set " + desired.SetClusterIP.Spec().NameFor(fam)
	}
	for _, c := range v.o.ServiceCIDRs {
		if c.Contains(vs.Address) {
			return ClusterIP, "in the service CIDR " + c.String()
		}
	}
	onIPVS0 := v.hasIPV0 && v.ipvs0.HasAddr(vs.Address)
	if !onIPVS0 && v.nodePortNumber(vs) {
		return NodePort, v.nodePortWhy(vs)
	}
	if onIPVS0 {
		return ClusterIP, "bound to kube-ipvs0, outside the service CIDR: a ClusterIP of another service CIDR, or an external or load-balancer IP (the KUBE-EXTERNAL-IP and KUBE-LOAD-BALANCER sets would tell)"
	}
	return Unknown, fmt.Sprintf("neither in the service CIDR %s (--service-cidr) nor on kube-ipvs0 nor a NodePort", prefixList(v.o.ServiceCIDRs))
}

// nodePortNumber tells whether the port is a NodePort: in KUBE-NODE-PORT-<PROTO> when the
// sets were pasted, else in the default NodePort range.
func (v nodeView) nodePortNumber(vs dataplane.VirtualServer) bool {
	if set, ok := v.nodePortSet(vs); ok {
		return set.HasMember(strconv.Itoa(int(vs.Port))) || set.HasMember(vs.Address.String()+","+vs.Protocol.Lower()+":"+strconv.Itoa(int(vs.Port)))
	}
	return vs.Port >= NodePortRange[0] && vs.Port <= NodePortRange[1]
}

func (v nodeView) nodePortSet(vs dataplane.VirtualServer) (dataplane.IPSet, bool) {
	id := desired.SetNodePortTCP
	switch vs.Protocol {
	case dataplane.UDP:
		id = desired.SetNodePortUDP
	case dataplane.SCTP:
		id = desired.SetNodePortSCTP
	}
	fam := 4
	if vs.IsIPv6() {
		fam = 6
	}
	return v.st.IPSet(id.Spec().NameFor(fam))
}

func (v nodeView) nodePortWhy(vs dataplane.VirtualServer) string {
	if set, ok := v.nodePortSet(vs); ok {
		return fmt.Sprintf("port %d is in the set %s", vs.Port, set.Name)
	}
	return fmt.Sprintf("port %d is in the NodePort range %d-%d", vs.Port, NodePortRange[0], NodePortRange[1])
}

// nodePortAddress tells whether the address is one a NodePort listens on: not on
// kube-ipvs0 (where ClusterIPs are).
func (v nodeView) nodePortAddress(a netip.Addr) bool {
	return !(v.hasIPV0 && v.ipvs0.HasAddr(a))
}

// linkOf names the link of the node that holds the address, when ip addr was pasted.
func (v nodeView) linkOf(a netip.Addr) string {
	for _, l := range v.st.Links {
		if l.HasAddr(a) {
			return l.Name
		}
	}
	return ""
}

// describe says what a virtual server is.
func (v nodeView) describe(vs dataplane.VirtualServer) string {
	role, why := v.role(vs)
	n := len(vs.RealServers)
	backends := fmt.Sprintf("%d real servers", n)
	if n == 1 {
		backends = "1 real server"
	}
	switch role {
	case FirewallMark:
		return fmt.Sprintf("firewall-mark service %d: %s", vs.FWMark, why)
	case NodePort:
		where := vs.Address.String()
		if l := v.linkOf(vs.Address); l != "" {
			where += " (" + l + ")"
		}
		return fmt.Sprintf("NodePort %d on the node address %s, %s; %s", vs.Port, where, why, backends)
	case Unknown:
		return fmt.Sprintf("not a Service address kube-proxy programs: %s; %s", why, backends)
	}
	return fmt.Sprintf("%s %s port %d, %s; %s", role, vs.Address, vs.Port, why, backends)
}

// serviceFindings are what is wrong with one virtual server against the tutorial.
func (v nodeView) serviceFindings(line int, vs dataplane.VirtualServer, elided bool) []Finding {
	var out []Finding
	key := vs.Key().String()
	if len(vs.RealServers) == 0 && !elided {
		out = append(out, Finding{line, fmt.Sprintf("%s has no real servers: the Service has no ready endpoint, so connections to it are refused; check its Pods are Ready and its selector matches them (kubectl get endpointslices)", key)})
	}
	if vs.Scheduler != v.o.scheduler() {
		out = append(out, Finding{line, fmt.Sprintf("%s uses the scheduler %s, not %s (kube-proxy's ipvs.scheduler, --scheduler): kube-proxy not restarted after a change, or another program's virtual server?", key, vs.Scheduler, v.o.scheduler())})
	}
	if v.o.Services != nil && vs.FWMark == 0 {
		if _, ok := v.o.Services.Find(vs.Protocol, vs.Address, vs.Port, v.nodePortAddress(vs.Address)); !ok {
			out = append(out, Finding{line, fmt.Sprintf("no Service of the cluster has %s: kube-proxy removes the virtual servers of deleted Services, so this one is stale (kube-proxy not syncing on this node?) or the paste is older than the cluster", key)})
		}
	}
	if role, _ := v.role(vs); role == ClusterIP && v.hasIPV0 && !v.ipvs0.HasAddr(vs.Address) {
		out = append(out, Finding{line, fmt.Sprintf("the ClusterIP %s is not on kube-ipvs0: kube-proxy binds every ClusterIP there (tutorial section 1.2); without it the node does not accept the address as its own", vs.Address)})
	}
	return out
}

// ipAddrBlock annotates the link lines and the addresses of an ip addr block.
func (v nodeView) ipAddrBlock(p paste.Paste, b paste.Block, notes map[int]string) {
	var cur string
	if len(b.Lines) > 0 && !linkHeaderLine(strings.TrimSpace(p.Lines[b.Lines[0]].Text)) && len(b.Links) > 0 {
		cur = b.Links[0].Name // address lines pasted without their link line (paste.Node.Notes)
	}
	nodePort := map[netip.Addr]bool{}
	for _, fam := range []bool{false, true} {
		for _, a := range kubeproxy.NodePortAddresses(v.st, fam) {
			nodePort[a] = true
		}
	}
	for _, i := range b.Lines {
		t := strings.TrimSpace(p.Lines[i].Text)
		f := strings.Fields(t)
		if len(f) == 0 {
			continue
		}
		if name, ok := linkName(t); ok {
			cur = name
			if name == dataplane.KubeIPVSInterface {
				notes[i] = "the dummy device kube-proxy binds every Service address to (tutorial 1.2); DOWN is normal"
			}
			continue
		}
		if (f[0] != "inet" && f[0] != "inet6") || len(f) < 2 {
			continue
		}
		pfx, err := netip.ParsePrefix(f[1])
		if err != nil {
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		a := pfx.Addr()
		var users []string
		for _, vs := range v.st.IPVS.Services {
			if vs.FWMark == 0 && vs.Address == a {
				users = append(users, vs.Key().String())
			}
		}
		switch {
		case cur == dataplane.KubeIPVSInterface && len(users) == 0:
			notes[i] = fmt.Sprintf("%s is bound for a Service, but no virtual server of the pasted ipvsadm -Ln uses it", a)
			if v.ipvsCut {
				notes[i] = fmt.Sprintf("%s is bound for a Service; its virtual server is not in the part of ipvsadm -Ln pasted", a)
			}
			if len(v.st.IPVS.Services) == 0 {
				notes[i] = fmt.Sprintf("a Service address (%s) bound for IPVS", a)
			}
		case cur == dataplane.KubeIPVSInterface:
			notes[i] = "a Service address, for " + strings.Join(users, ", ")
		case nodePort[a] && len(users) > 0:
			notes[i] = "a node address NodePorts listen on: " + strings.Join(users, ", ")
		case nodePort[a]:
			notes[i] = "a node address: kube-proxy opens every NodePort on it"
		}
	}
}

// linkName reads the name of an ip addr link line ("3: kube-ipvs0: <...>").
func linkName(t string) (string, bool) {
	num, rest, ok := strings.Cut(t, ": ")
	if !ok {
		return "", false
	}
	if _, err := strconv.Atoi(num); err != nil {
		return "", false
	}
	name, _, ok := strings.Cut(rest, ": ")
	name, _, _ = strings.Cut(name, "@")
	return name, ok
}

// ipsetBlock annotates the first line of each of kube-proxy's sets with what kube-proxy
// keeps in it (the comment kube-proxy gives the rules that match it).
func ipsetBlock(p paste.Paste, b paste.Block, notes map[int]string) {
	for _, i := range b.Lines {
		f := strings.Fields(p.Lines[i].Text)
		var name string
		switch {
		case len(f) >= 2 && f[0] == "Name:":
			name = f[1]
		case len(f) >= 3 && f[0] == "create":
			name = f[1]
		default:
			continue
		}
		for _, s := range desired.IPSets() {
			if s.NameFor(4) == name || s.NameFor(6) == name {
				notes[i] = s.Comment
			}
		}
	}
}

// iptablesBlock annotates the chains the iptables proxier left and the tutorial's
// KUBE-NODE-PORT rule.
func iptablesBlock(p paste.Paste, b paste.Block, notes map[int]string) {
	leftover := map[string]bool{}
	for _, l := range kubeproxy.FindLeftovers(b.Rules) {
		leftover[l.Chain] = true
	}
	for _, i := range b.Lines {
		t := strings.TrimSpace(p.Lines[i].Text)
		f := strings.Fields(t)
		switch {
		case t == tutorial.NodePortRule:
			notes[i] = "the tutorial's rule (section 4.1.4): traffic to a NodePort of KUBE-NODE-PORT-TCP is marked for masquerade"
		case len(f) >= 2 && f[0] == "-N" && leftover[f[1]]:
			notes[i] = "a chain of the iptables proxier, left from iptables mode"
		case len(f) >= 1 && strings.HasPrefix(f[0], ":") && leftover[f[0][1:]]:
			notes[i] = "a chain of the iptables proxier, left from iptables mode"
		}
	}
}

// nodeFindings are what is wrong with the node as a whole: iptables-mode leftovers, the
// nat budget, no kube-ipvs0.
func (v nodeView) nodeFindings(p paste.Paste, n paste.Node) ([]Finding, []string) {
	var out []Finding
	if v.linksRead && !v.hasIPV0 && len(v.st.IPVS.Services) > 0 {
		out = append(out, Finding{0, "the pasted ip addr output has no kube-ipvs0: kube-proxy in ipvs mode creates it on every node; was the output of `ip addr show kube-ipvs0` pasted (it prints nothing but an error when the device is missing)?"})
	}
	for _, rs := range []dataplane.Ruleset{v.st.IPTables, v.st.IP6Tables} {
		left := kubeproxy.FindLeftovers(rs)
		slices.SortFunc(left, func(a, b kubeproxy.Leftover) int { return strings.Compare(a.Chain, b.Chain) })
		for _, l := range left {
			out = append(out, Finding{chainLine(p, n, l.Chain), fmt.Sprintf("%s is left from iptables mode: ipvs mode does not remove the iptables proxier's chains; `kube-proxy --cleanup` does", l)})
		}
	}
	var passed []string
	if _, ok := v.st.IPTables.Table("nat"); ok {
		f, pass := v.natBudget(n)
		out = append(out, f...)
		passed = append(passed, pass...)
	}
	return out, passed
}

// natBudget judges the tutorial's budget of nat rules with the tutorial's own check. A
// nat table pasted in part cannot pass it: the count is then a lower bound.
func (v nodeView) natBudget(n paste.Node) ([]Finding, []string) {
	partial := false
	for _, b := range n.Blocks {
		if (b.Format == paste.IPTablesS || b.Format == paste.IPTablesSave) && (b.Partial || b.Elided || b.Refused > 0) {
			partial = true
		}
	}
	nat, _ := v.st.IPTables.Table("nat")
	if _, ok := nat.Chain("KUBE-SERVICES"); partial && !ok {
		return nil, nil // a chain or two of the table: nothing to count
	}
	check, _ := tutorial.Lookup(tutorial.NATRuleBudget)
	verdict := check.Judge(tutorial.Facts{}, tutorial.Node{Name: n.Name, State: v.st})
	if verdict.Pass && !partial {
		return nil, []string{verdict.Name}
	}
	if verdict.Pass {
		return nil, nil
	}
	detail, _, _ := strings.Cut(verdict.Detail, "\n")
	what := fmt.Sprintf("the tutorial's check %q fails: %s", verdict.Name, strings.TrimSuffix(detail, ":"))
	if partial {
		what += " (the paste holds part of the table: the whole has at least as many)"
	}
	return []Finding{{0, what}}, nil
}

// chainLine is the line that declares a chain in the node's paste, or 0.
func chainLine(p paste.Paste, n paste.Node, chain string) int {
	for _, b := range n.Blocks {
		if b.Format != paste.IPTablesS && b.Format != paste.IPTablesSave {
			continue
		}
		for _, i := range b.Lines {
			f := strings.Fields(strings.TrimSpace(p.Lines[i].Text))
			if len(f) >= 2 && f[0] == "-N" && f[1] == chain || len(f) >= 1 && f[0] == ":"+chain {
				return p.Lines[i].N
			}
		}
	}
	return 0
}

func prefixList(ps []netip.Prefix) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	if len(out) == 0 {
		return "(none given)"
	}
	return strings.Join(out, ",")
}
