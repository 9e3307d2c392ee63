package scenario

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
)

// Verdict is one assertion on the real outputs of a run.
type Verdict struct {
	Name string
	Pass bool
	// Detail says why it failed (a matcher's message, a parse error), or what it saw.
	Detail string
}

// The seed's own text, from its sections 4.1.3 and 4.1.4 (collapsed spaces as the seed
// prints them; the parsers read any spacing).
const (
	SeedIPVSBlock    = "TCP 10.106.71.137:80 rr\n-> 10.244.3.214:80 Masq 1 0 0\n"
	SeedNodePortRule = `-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ`
	// MaxNATRules is the seed's "no more than 20 iptables rules" (section 1.3).
	MaxNATRules = 20
)

// Judge computes the verdicts of a seed run from the guest commands' results (by command
// name) and the KubeProxyConfiguration the proxier was given. Every check parses the real
// output with the project's parsers and asks the dataplane matchers, so a failure reads
// like the node's table with the closest line marked.
func Judge(kubeProxyConfig []byte, outs map[string]kernellab.CommandResult) []Verdict {
	ipvs, ipvsErr := parsed(outs, cmdIPVSAdm, dataplane.ParseIPVSAdm)
	links, linksErr := parsed(outs, cmdKubeIPVS0, dataplane.ParseIPAddr)
	nodePortChain, chainErr := parsed(outs, cmdNodePortNAT, func(s string) (dataplane.Ruleset, error) { return dataplane.ParseIPTablesS(s, "nat") })
	sets, setsErr := parsed(outs, cmdNodePortSet, dataplane.ParseIPSetList)
	nat, natErr := parsed(outs, cmdNATSave, dataplane.ParseIPTablesSave)
	if natErr == nil {
		natErr = programmed(nat)
	}

	vip := fmt.Sprintf("%s:%d", ClusterIP, ServicePort)
	rip := fmt.Sprintf("%s:%d", PodIP, ServicePort)
	var v []Verdict
	v = append(v, seedBlockVerdict(ipvs, ipvsErr))
	v = append(v, Matched(fmt.Sprintf("the ClusterIP %s is on kube-ipvs0 (ip addr show kube-ipvs0)", ClusterIP),
		links, linksErr, match.HaveAddressOn(dataplane.KubeIPVSInterface, ClusterIP)))
	v = append(v, Matched(fmt.Sprintf("a NodePort virtual server on the node's address: TCP %s:%d rr -> %s Masq 1", NodeIP, NodePort, rip),
		ipvs, ipvsErr, match.HaveVirtualServer(dataplane.TCP, fmt.Sprintf("%s:%d", NodeIP, NodePort),
			match.WithScheduler("rr"), match.WithRealServer(rip, dataplane.Masq, 1), match.WithRealServerCount(1))))
	v = append(v, nodePortRuleVerdict(outs[cmdNodePortNAT], nodePortChain, chainErr))
	v = append(v, Matched(fmt.Sprintf("the set that rule matches, KUBE-NODE-PORT-TCP, holds %d", NodePort),
		sets, setsErr, match.HaveIPSetMember("KUBE-NODE-PORT-TCP", strconv.Itoa(NodePort))))
	v = append(v, natCountVerdict(outs[cmdNATCount], nat, natErr))
	v = append(v, Matched("no iptables-mode KUBE-SVC- chains in the nat table", nat, natErr, match.HaveNoChainWithPrefix("nat", "KUBE-SVC-")))
	v = append(v, trafficVerdict("traffic to the ClusterIP "+vip+" reaches the pod", outs[cmdCurlCluster]))
	v = append(v, trafficVerdict(fmt.Sprintf("traffic to the NodePort %s:%d reaches the pod", NodeIP, NodePort), outs[cmdCurlNodePort]))
	v = append(v, schedulerLogVerdict(kubeProxyConfig, outs[cmdProxierLog]))
	return v
}

// parsed runs a parser over a command's output; a command that did not succeed is an error.
func parsed[T any](outs map[string]kernellab.CommandResult, name string, parse func(string) (T, error)) (T, error) {
	var zero T
	c, ok := outs[name]
	switch {
	case !ok:
		return zero, fmt.Errorf("the run has no output of %q", name)
	case !c.OK():
		return zero, fmt.Errorf("%q %s:\n%s", name, status(c), c.Output)
	}
	v, err := parse(c.Output)
	if err != nil {
		return zero, fmt.Errorf("parsing the output of %q: %w", name, err)
	}
	return v, nil
}

func status(c kernellab.CommandResult) string {
	if !c.Finished {
		return "did not finish"
	}
	return "exited " + strconv.Itoa(c.ExitCode)
}

// Matched asks a Gomega matcher about a parsed value: a verdict named name, failing with
// the parse error or the matcher's failure message.
func Matched(name string, actual any, parseErr error, m types.GomegaMatcher) Verdict {
	if parseErr != nil {
		return Verdict{Name: name, Detail: parseErr.Error()}
	}
	ok, err := m.Match(actual)
	switch {
	case err != nil:
		return Verdict{Name: name, Detail: err.Error()}
	case !ok:
		return Verdict{Name: name, Detail: m.FailureMessage(actual)}
	}
	return Verdict{Name: name, Pass: true}
}

// seedBlockVerdict wants the seed's virtual server, rendered as ipvsadm renders it, among
// the real output's blocks: the same scheduler, the one real server, Masq, weight 1 and no
// connections yet.
func seedBlockVerdict(got dataplane.IPVS, parseErr error) Verdict {
	name := "ipvsadm -Ln shows the seed's block: TCP 10.106.71.137:80 rr / -> 10.244.3.214:80 Masq 1 0 0"
	if parseErr != nil {
		return Verdict{Name: name, Detail: parseErr.Error()}
	}
	want, err := dataplane.ParseIPVSAdm(SeedIPVSBlock)
	if err != nil || len(want.Services) != 1 {
		return Verdict{Name: name, Detail: fmt.Sprintf("the seed's block does not parse: %v", err)}
	}
	m := match.HaveVirtualServer(dataplane.TCP, fmt.Sprintf("%s:%d", ClusterIP, ServicePort),
		match.WithScheduler("rr"), match.WithRealServer(fmt.Sprintf("%s:%d", PodIP, ServicePort), dataplane.Masq, 1), match.WithRealServerCount(1))
	if ok, err := m.Match(got); err != nil || !ok {
		if err != nil {
			return Verdict{Name: name, Detail: err.Error()}
		}
		return Verdict{Name: name, Detail: m.FailureMessage(got)}
	}
	vs, _ := got.Service(want.Services[0].Key())
	wantLines, gotLines := dataplane.IPVSBlock(want.Services[0]), dataplane.IPVSBlock(vs)
	if !slices.Equal(wantLines, gotLines) {
		return Verdict{Name: name, Detail: fmt.Sprintf("expected the block\n  %s\nbut ipvsadm -Ln shows\n  %s",
			strings.Join(wantLines, "\n  "), strings.Join(gotLines, "\n  "))}
	}
	return Verdict{Name: name, Pass: true}
}

// programmed fails for a nat table without kube-proxy's KUBE-SERVICES chain, so that "at
// most 20 rules" and "no KUBE-SVC- chains" cannot pass on a node the proxier never touched.
func programmed(nat dataplane.Ruleset) error {
	t, _ := nat.Table("nat")
	if _, ok := t.Chain("KUBE-SERVICES"); !ok {
		return fmt.Errorf("the nat table has no KUBE-SERVICES chain: the proxier has not programmed it\niptables-save -t nat:\n%s",
			dataplane.FormatIPTablesSave(nat))
	}
	return nil
}

// nodePortRuleVerdict wants the seed's KUBE-NODE-PORT rule line for line (the text a person
// compares by eye), and the matcher to agree on the parsed chain.
func nodePortRuleVerdict(c kernellab.CommandResult, chain dataplane.Ruleset, parseErr error) Verdict {
	name := "iptables -t nat -S KUBE-NODE-PORT has the seed's rule verbatim"
	if parseErr != nil {
		return Verdict{Name: name, Detail: parseErr.Error()}
	}
	if v := Matched(name, chain, nil, match.HaveRule("nat", "KUBE-NODE-PORT", SeedNodePortRule)); !v.Pass {
		return v
	}
	for l := range strings.Lines(c.Output) {
		if strings.TrimRight(l, "\r\n") == SeedNodePortRule {
			return Verdict{Name: name, Pass: true}
		}
	}
	return Verdict{Name: name, Detail: fmt.Sprintf("the rule is there but not spelled as in the seed:\n  want %s\n  got:\n%s", SeedNodePortRule, c.Output)}
}

// natCountVerdict wants at most MaxNATRules rules in the nat table, counted from the parsed
// iptables-save, and the `grep -c '^-A'` the reader ran to say the same.
func natCountVerdict(countCmd kernellab.CommandResult, nat dataplane.Ruleset, parseErr error) Verdict {
	name := fmt.Sprintf("the nat table holds at most %d rules", MaxNATRules)
	v := Matched(name, nat, parseErr, match.HaveAtMostRules("nat", "", MaxNATRules))
	if !v.Pass {
		return v
	}
	n := nat.RuleCount("nat")
	v.Name = fmt.Sprintf("%s (%d)", name, n)
	printed, err := strconv.Atoi(strings.TrimSpace(countCmd.Output))
	if err != nil || printed != n {
		return Verdict{Name: v.Name, Detail: fmt.Sprintf("iptables-save -t nat has %d rules, but `grep -c '^-A'` printed %q", n, strings.TrimSpace(countCmd.Output))}
	}
	return v
}

// trafficVerdict wants the pod's own answer: its name and address, from the HTTP server
// the lab's kubelet runs in its network namespace.
func trafficVerdict(name string, c kernellab.CommandResult) Verdict {
	want := fmt.Sprintf("pod %s (%s:%d)", PodName, PodIP, ServicePort)
	switch {
	case !c.OK():
		return Verdict{Name: name, Detail: fmt.Sprintf("the request %s:\n%s", status(c), c.Output)}
	case !strings.Contains(c.Output, want):
		return Verdict{Name: name, Detail: fmt.Sprintf("expected an answer from %q, got:\n%s", want, c.Output)}
	}
	return Verdict{Name: name, Pass: true, Detail: strings.TrimSpace(c.Output)}
}

// schedulerLogVerdict: with the configuration's scheduler empty, the proxier must log the
// seed's line (section 3.3.2's `kubectl logs`); with one set, it must not.
func schedulerLogVerdict(kubeProxyConfig []byte, c kernellab.CommandResult) Verdict {
	obj, err := config.Decode(kubeProxyConfig)
	if err != nil {
		return Verdict{Name: "the proxier's log line about the IPVS scheduler", Detail: err.Error()}
	}
	logged := strings.Contains(c.Output, config.SchedulerDefaultedMessage)
	if obj.IPVS.Scheduler == "" {
		name := fmt.Sprintf("ipvs.scheduler is empty and the proxier logs %q", config.SchedulerDefaultedMessage)
		if !c.OK() || !logged {
			return Verdict{Name: name, Detail: fmt.Sprintf("the proxier's log (%s) lacks the line:\n%s", status(c), c.Output)}
		}
		return Verdict{Name: name, Pass: true}
	}
	name := fmt.Sprintf("ipvs.scheduler is %q and the proxier does not log %q", obj.IPVS.Scheduler, config.SchedulerDefaultedMessage)
	if logged {
		return Verdict{Name: name, Detail: "the log has the line:\n" + c.Output}
	}
	return Verdict{Name: name, Pass: true}
}

// PrintVerdicts writes one PASS or FAIL line per verdict (a failure's detail indented
// under it) and a summary, and tells whether all passed.
func PrintVerdicts(w io.Writer, vs []Verdict) bool {
	fmt.Fprintln(w, "\n== verdict")
	passed := 0
	for _, v := range vs {
		if v.Pass {
			passed++
			fmt.Fprintf(w, "PASS  %s\n", v.Name)
			continue
		}
		fmt.Fprintf(w, "FAIL  %s\n", v.Name)
		for l := range strings.Lines(strings.TrimRight(v.Detail, "\n") + "\n") {
			fmt.Fprintf(w, "        %s", l)
		}
	}
	fmt.Fprintf(w, "%d of %d checks passed\n", passed, len(vs))
	return passed == len(vs)
}
