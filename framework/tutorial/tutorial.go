// Package tutorial holds the seed tutorial's checks: one table of named assertions about
// what a node shows once kube-proxy runs in ipvs mode and the seed's Service exists
// (section 4: the ClusterIP virtual server, the NodePort, kube-ipvs0, the KUBE-NODE-PORT
// rule, the nat budget, no iptables-mode Service chains, traffic, and the ClusterIP virtual
// server's counters counting it). Each check judges a Node - its dataplane.State and,
// where the check is about what a person sees, the command transcript - and returns a
// Verdict with the evidence.
//
// The seedlab suite (suites/seedlab) and `make lab`'s walk (hack/report/seedwalk) both
// judge with this table, so the tutorial has one oracle. A verdict's title is a message of
// the catalogue (framework/tutorial/lang), so the same verdict prints in English or Chinese.
package tutorial

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/fixtures"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

// NodePortRule is section 4.1.4's `iptables -t nat -S KUBE-NODE-PORT` line, verbatim.
const NodePortRule = `-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`

// NATBudget is the seed's "no more than 20 iptables rules" (section 1.3).
const NATBudget = 20

// Facts are what the seed's objects became on a cluster, as the API server tells: the
// checks look for them on the node.
type Facts struct {
	// Namespace is the seed Service's namespace; the iptables proxier's rules would name
	// "Namespace/service-test1" in their comments.
	Namespace string
	ClusterIP string
	PodIP     string
	// Scheduler is the IPVS scheduler kube-proxy was configured with; "" means rr, the
	// default the seed's kube-proxy logs.
	Scheduler string
	// Answer is the Pod's reply to an HTTP GET, trimmed; "" accepts any non-empty reply
	// (nginx's page).
	Answer string
	// HostEndpoint is where the host reaches NodePort 30089 (a forward, e.g. 127.0.0.1:33881);
	// it only names the host traffic check.
	HostEndpoint string
	// Requests is how many HTTP requests went to the ClusterIP between the two counter
	// listings (ShownStatsBefore, ShownStatsAfter): its virtual server must count them.
	Requests int
}

func (f Facts) scheduler() string { return kubeproxy.Scheduler(f.Scheduler) }

func (f Facts) vip() string { return net.JoinHostPort(f.ClusterIP, strconv.Itoa(fixtures.SeedPort)) }
func (f Facts) rip() string { return net.JoinHostPort(f.PodIP, strconv.Itoa(fixtures.SeedPort)) }

// Part is a part of a node's dataplane.State that a check reads.
type Part string

const (
	IPVS     Part = "the IPVS table"
	Links    Part = "the addresses of kube-ipvs0"
	IPSets   Part = "the ip sets"
	IPTables Part = "the nat table"
)

// Output is what a command printed and how it ended, as a person saw it.
type Output struct {
	Text string
	// Failure says how the command failed ("exit status 7", a timeout); "" when it succeeded.
	Failure string
}

// The commands of a transcript, by what a person types (or, for the traffic, does).
const (
	ShownIPVS          = "ipvsadm -Ln"
	ShownKubeIPVS0     = "ip addr show kube-ipvs0"
	ShownNodePortSet   = "ipset list KUBE-NODE-PORT-TCP"
	ShownNATSave       = "iptables-save -t nat"
	ShownNodePortChain = "iptables -t nat -S KUBE-NODE-PORT"
	ShownNATCount      = "iptables -t nat -S | grep -c '^-A'"
	ShownCurlClusterIP = "curl http://<ClusterIP>/ on the node"
	ShownCurlNodePort  = "curl http://<node address>:30089/ on the node"
	ShownCurlHost      = "curl http://<host endpoint>/ on the host"
	// The ClusterIP virtual server's counters before and after the requests, and its
	// connections after them.
	ShownStatsBefore = "ipvsadm -Ln --stats -t <ClusterIP>:80 before the requests"
	ShownStatsAfter  = "ipvsadm -Ln --stats -t <ClusterIP>:80 after the requests"
	ShownConnsAfter  = "ipvsadm -Ln -t <ClusterIP>:80 after the requests"
)

// Node is what the checks read of one node.
type Node struct {
	Name string
	// Address is the node's InternalIP: the NodePort must listen there.
	Address string
	State   dataplane.State
	// Unread says why a part of State could not be read; a check that needs the part fails
	// with the reason instead of passing on an empty table.
	Unread map[Part]error
	// Transcript holds outputs by command (the Shown* names). Checks about what a person
	// sees compare the printed text too; traffic checks read nothing else.
	Transcript map[string]Output
}

// FromTranscript reads a node's state from the outputs a person saw (ipvsadm -Ln, ip addr
// show kube-ipvs0, ipset list KUBE-NODE-PORT-TCP, iptables-save -t nat) with the
// project's parsers; what is missing or does not parse goes to Unread.
func FromTranscript(name, address string, t map[string]Output) Node {
	n := Node{Name: name, Address: address, State: dataplane.State{Node: name}, Unread: map[Part]error{}, Transcript: t}
	var err error
	if n.State.IPVS, err = parsed(t, ShownIPVS, dataplane.ParseIPVSAdm); err != nil {
		n.Unread[IPVS] = err
	}
	if n.State.Links, err = parsed(t, ShownKubeIPVS0, dataplane.ParseIPAddr); err != nil {
		n.Unread[Links] = err
	}
	if n.State.IPSets, err = parsed(t, ShownNodePortSet, dataplane.ParseIPSetList); err != nil {
		n.Unread[IPSets] = err
	}
	if n.State.IPTables, err = parsed(t, ShownNATSave, dataplane.ParseIPTablesSave); err != nil {
		n.Unread[IPTables] = err
	}
	return n
}

func parsed[T any](t map[string]Output, cmd string, parse func(string) (T, error)) (T, error) {
	var zero T
	o, ok := t[cmd]
	switch {
	case !ok:
		return zero, fmt.Errorf("the transcript has no output of %q", cmd)
	case o.Failure != "":
		return zero, fmt.Errorf("%q failed (%s):\n%s", cmd, o.Failure, o.Text)
	}
	v, err := parse(o.Text)
	if err != nil {
		return zero, fmt.Errorf("parsing the output of %q: %w", cmd, err)
	}
	return v, nil
}

// Verdict is a check's outcome on one node.
type Verdict struct {
	// Check is the check's ID.
	Check string
	// Title says what was asserted, with this cluster's addresses, as a message of the
	// catalogue (framework/tutorial/lang): Print renders it in the walk's language.
	Title lang.Text
	// Name is Title in English, for logs and test failures (Retitled keeps them together).
	Name string
	Pass bool
	// Detail is the evidence of a failure: what the node showed, the closest line marked.
	Detail string
}

// finding is what a check's judge returns: a failure's evidence, and a note on what it
// counted that belongs in the verdict's name either way.
type finding struct {
	failure string
	note    lang.Text
}

// Check is one named assertion of the tutorial.
type Check struct {
	// ID names the check in tests, reports and suite labels.
	ID string
	// Asserts says what the check asserts, without this cluster's addresses.
	Asserts string
	// Needs are the parts of the state the check reads.
	Needs []Part
	name  func(Facts, Node) lang.Text
	judge func(Facts, Node) finding
}

// Judge runs the check on a node.
func (c Check) Judge(f Facts, n Node) Verdict {
	v := Verdict{Check: c.ID}.Retitled(c.name(f, n))
	for _, p := range c.Needs {
		if err := n.Unread[p]; err != nil {
			v.Detail = fmt.Sprintf("%s of node %s could not be read: %v", p, n.Name, err)
			return v
		}
		if p == IPTables {
			if err := programmed(n.State.IPTables); err != nil {
				v.Detail = err.Error()
				return v
			}
		}
	}
	r := c.judge(f, n)
	if !r.note.IsZero() {
		v = v.Retitled(lang.T(lang.VerdictWithNote, v.Title, r.note))
	}
	v.Detail, v.Pass = r.failure, r.failure == ""
	return v
}

// programmed fails for a nat table without kube-proxy's KUBE-SERVICES chain, so that "at
// most 20 rules" and "no KUBE-SVC- chain" cannot pass on a node kube-proxy never touched.
func programmed(r dataplane.Ruleset) error {
	t, _ := r.Table("nat")
	if _, ok := t.Chain("KUBE-SERVICES"); !ok {
		return fmt.Errorf("the nat table has no KUBE-SERVICES chain: kube-proxy has not programmed it\niptables-save -t nat:\n%s",
			dataplane.FormatIPTablesSave(r))
	}
	return nil
}

// Lookup returns the check of an ID.
func Lookup(id string) (Check, bool) {
	for _, c := range Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// JudgeNode runs every check of the table on a node, in the table's order.
func JudgeNode(f Facts, n Node) []Verdict {
	vs := make([]Verdict, 0, len(Checks))
	for _, c := range Checks {
		vs = append(vs, c.Judge(f, n))
	}
	return vs
}

// Print writes, in the language, one PASS or FAIL line per verdict (a failure's detail
// indented under it, as the commands printed it) and a summary, and tells whether all
// passed.
func Print(w io.Writer, l lang.Lang, vs []Verdict) bool {
	fmt.Fprintf(w, "\n%s\n", l.Sprintf(lang.VerdictHeading))
	passed := 0
	for _, v := range vs {
		fmt.Fprintln(w, v.Line(l))
		if v.Pass {
			passed++
			continue
		}
		for d := range strings.Lines(strings.TrimRight(v.Detail, "\n") + "\n") {
			fmt.Fprintf(w, "        %s", d)
		}
	}
	fmt.Fprintln(w, l.Sprintf(lang.VerdictSummary, passed, len(vs)))
	return passed == len(vs)
}

// Line is the verdict's PASS or FAIL line in the language. A verdict made without a Title
// shows its Name.
func (v Verdict) Line(l lang.Lang) string {
	title := v.Name
	if !v.Title.IsZero() {
		title = l.Render(v.Title)
	}
	if v.Pass {
		return l.Sprintf(lang.VerdictPass, title)
	}
	return l.Sprintf(lang.VerdictFail, title)
}

// Retitled is the verdict with the title, its Name the title in English.
func (v Verdict) Retitled(t lang.Text) Verdict {
	v.Title, v.Name = t, lang.English.Render(t)
	return v
}
