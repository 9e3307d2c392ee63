package seedwalk

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane/match"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/scenario"
)

// Verdict is one assertion on a walk's outputs; the lab's other walk-through
// (hack/lab/scenario) prints the same kind with scenario.PrintVerdicts.
type Verdict = scenario.Verdict

// SeedModules are the modules the seed's section 2 loads.
var SeedModules = []string{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"}

// Judge computes the verdicts of a walk from its record: every check reads a printed
// output with the project's parsers (ipvsadm -Ln, ip addr, iptables -S and -save, ipset
// list, kube-proxy's klog lines, /proxyMode) and, where it can, asks the dataplane
// matchers, so that a failure shows what the node showed. The facts (addresses, pod names)
// come from the API server and say what the outputs must contain.
func Judge(rec Record) []Verdict {
	f := rec.Facts
	res := func(name string) Result {
		r, ok := rec.Results[name]
		if !ok {
			return Result{ExitCode: -1, Err: "the walk did not get to this step"}
		}
		return r
	}
	ipvs, ipvsErr := parsed(res(StepIPVS), StepIPVS, dataplane.ParseIPVSAdm)
	links, linksErr := parsed(res(StepKubeIPVS0), StepKubeIPVS0, dataplane.ParseIPAddr)
	chain, chainErr := parsed(res(StepNodePortChain), StepNodePortChain, func(s string) (dataplane.Ruleset, error) { return dataplane.ParseIPTablesS(s, "nat") })
	sets, setsErr := parsed(res(StepNodePortSet), StepNodePortSet, dataplane.ParseIPSetList)
	nat, natErr := parsed(res(StepNATSave), StepNATSave, dataplane.ParseIPTablesSave)
	if natErr == nil {
		t, _ := nat.Table("nat")
		if _, ok := t.Chain("KUBE-SERVICES"); !ok {
			natErr = fmt.Errorf("the nat table has no KUBE-SERVICES chain: kube-proxy has not programmed it\n%s", dataplane.FormatIPTablesSave(nat))
		}
	}
	vip := fmt.Sprintf("%s:%d", f.ClusterIP, seedServicePort)
	rip := fmt.Sprintf("%s:%d", f.PodIP, seedServicePort)
	nodePort := fmt.Sprintf("%s:%d", f.NodeIP, seedNodePort)

	v := []Verdict{modulesVerdict(res(StepLsmod))}
	v = append(v, configVerdict(f, res(StepEdit)))
	v = append(v, podsVerdict(f, res(StepDeletePods), res(StepKubeProxyPods)))
	v = append(v, logVerdicts(f, res(StepFullLog), res(StepKubeProxyLog))...)
	v = append(v, proxyModeVerdict(res(StepProxyMode)))
	v = append(v, getVerdict(f, res(StepGet)))
	v = append(v, blockVerdict(vip, rip, ipvs, ipvsErr))
	v = append(v, scenario.Matched(fmt.Sprintf("a NodePort virtual server on the node's address: TCP %s rr -> %s Masq 1", nodePort, rip),
		ipvs, ipvsErr, match.HaveVirtualServer(dataplane.TCP, nodePort, match.WithScheduler("rr"),
			match.WithRealServer(rip, dataplane.Masq, 1), match.WithRealServerCount(1))))
	v = append(v, scenario.Matched(fmt.Sprintf("the ClusterIP %s is on kube-ipvs0 (ip addr show kube-ipvs0)", f.ClusterIP),
		links, linksErr, match.HaveAddressOn(dataplane.KubeIPVSInterface, f.ClusterIP)))
	v = append(v, nodePortRuleVerdict(res(StepNodePortChain), chain, chainErr))
	v = append(v, scenario.Matched(fmt.Sprintf("the set that rule matches, KUBE-NODE-PORT-TCP, holds %d", seedNodePort),
		sets, setsErr, match.HaveIPSetMember("KUBE-NODE-PORT-TCP", strconv.Itoa(seedNodePort))))
	v = append(v, natBudgetVerdict(res(StepNATCount), nat, natErr))
	v = append(v, noServiceRulesVerdict(f, res(StepNATSave), nat, natErr))
	v = append(v, trafficVerdict(fmt.Sprintf("from the node, the ClusterIP %s reaches the Pod", vip), res(StepCurlCluster)))
	v = append(v, trafficVerdict(fmt.Sprintf("from the node, the NodePort %s reaches the Pod", nodePort), res(StepCurlNodePort)))
	v = append(v, trafficVerdict(fmt.Sprintf("from the host, the NodePort (forwarded from %s) reaches the Pod", f.HostNodePort), res(StepCurlHost)))
	return v
}

func parsed[T any](r Result, name string, parse func(string) (T, error)) (T, error) {
	var zero T
	if !r.OK() {
		return zero, fmt.Errorf("%q %s:\n%s", name, status(r), r.Output)
	}
	v, err := parse(r.Output)
	if err != nil {
		return zero, fmt.Errorf("parsing the output of %q: %w", name, err)
	}
	return v, nil
}

func status(r Result) string {
	switch {
	case r.Err != "":
		return "failed: " + r.Err
	case r.ExitCode != 0:
		return "exited " + strconv.Itoa(r.ExitCode)
	}
	return "succeeded"
}

// LoadedModules reads lsmod's output (or lines of it, through grep): the first word of
// each line that is not the header.
func LoadedModules(lsmod string) map[string]bool {
	mods := map[string]bool{}
	for l := range strings.Lines(lsmod) {
		fs := strings.Fields(l)
		if len(fs) == 0 || fs[0] == "Module" {
			continue
		}
		mods[fs[0]] = true
	}
	return mods
}

func modulesVerdict(r Result) Verdict {
	name := "lsmod lists the seed's modules: " + strings.Join(SeedModules, " ")
	if !r.OK() {
		return Verdict{Name: name, Detail: fmt.Sprintf("lsmod | grep %s:\n%s", status(r), r.Output)}
	}
	loaded := LoadedModules(r.Output)
	var missing []string
	for _, m := range SeedModules {
		if !loaded[m] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return Verdict{Name: name, Detail: fmt.Sprintf("missing %s; lsmod shows:\n%s", strings.Join(missing, ", "), r.Output)}
	}
	return Verdict{Name: name, Pass: true}
}

// configVerdict: method 2 must have changed config.conf's mode to ipvs with kubectl edit;
// method 1 must have had it from the start.
func configVerdict(f Facts, edit Result) Verdict {
	after, _ := kubeproxy.Config(f.ConfigAfter).Get("mode")
	if f.Method == MethodCreation {
		name := `config.conf says mode: "ipvs" from the cluster's creation (method 1)`
		if after != "ipvs" {
			return Verdict{Name: name, Detail: fmt.Sprintf("config.conf's mode is %q:\n%s", after, f.ConfigAfter)}
		}
		return Verdict{Name: name, Pass: true}
	}
	name := fmt.Sprintf(`kubectl edit changed config.conf's mode from %q to "ipvs" (method 2)`, f.ModeBefore)
	switch {
	case f.ModeBefore == "ipvs":
		return Verdict{Name: name, Detail: "kube-proxy was in ipvs mode before the edit: method 2 switched nothing"}
	case !edit.OK() || !strings.Contains(edit.Output, "configmap/kube-proxy edited"):
		return Verdict{Name: name, Detail: fmt.Sprintf("kubectl edit %s:\n%s", status(edit), edit.Output)}
	case after != "ipvs":
		return Verdict{Name: name, Detail: fmt.Sprintf("after the edit, config.conf's mode is %q:\n%s", after, f.ConfigAfter)}
	}
	return Verdict{Name: name, Pass: true}
}

// podsVerdict: `kubectl get pods | grep proxy` shows each kube-proxy pod 1/1 Running; after
// method 2's delete, they are new pods, and the delete named every old one.
func podsVerdict(f Facts, del, get Result) Verdict {
	name := "kubectl -n kube-system get pods shows kube-proxy 1/1 Running"
	if f.Method == MethodConfigMap {
		name = "kubectl delete pod -l k8s-app=kube-proxy replaced the pod; the new one is 1/1 Running"
	}
	if len(f.PodsAfter) == 0 {
		return Verdict{Name: name, Detail: "no kube-proxy pod became Ready"}
	}
	if f.Method == MethodConfigMap {
		if !del.OK() {
			return Verdict{Name: name, Detail: fmt.Sprintf("kubectl delete %s:\n%s", status(del), del.Output)}
		}
		for _, p := range f.PodsBefore {
			if !strings.Contains(del.Output, fmt.Sprintf("pod %q deleted", p)) {
				return Verdict{Name: name, Detail: fmt.Sprintf("kubectl delete did not say it deleted %s:\n%s", p, del.Output)}
			}
			if slices.Contains(f.PodsAfter, p) {
				return Verdict{Name: name, Detail: fmt.Sprintf("pod %s is still there after the delete", p)}
			}
		}
	}
	if !get.OK() {
		return Verdict{Name: name, Detail: fmt.Sprintf("kubectl get pods | grep proxy %s:\n%s", status(get), get.Output)}
	}
	for _, p := range f.PodsAfter {
		if !hasLine(get.Output, p, "1/1", "Running") {
			return Verdict{Name: name, Detail: fmt.Sprintf("no line shows %s 1/1 Running:\n%s", p, get.Output)}
		}
	}
	return Verdict{Name: name, Pass: true}
}

// hasLine tells whether one line of text has all the words as fields.
func hasLine(text string, words ...string) bool {
	for l := range strings.Lines(text) {
		fs := strings.Fields(l)
		ok := true
		for _, w := range words {
			if !slices.Contains(fs, w) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// logVerdicts read kube-proxy's log: it chose the ipvs proxier, logged the seed's
// scheduler line when config.conf leaves the scheduler empty, and the ipvs deprecation
// exactly when it is an upstream release that deprecates ipvs mode (1.35+).
func logVerdicts(f Facts, full, shown Result) []Verdict {
	mode := Verdict{Name: fmt.Sprintf("kube-proxy logs %q (kubectl logs)", kubeproxy.MsgUsingIPVS)}
	if !full.OK() {
		mode.Detail = fmt.Sprintf("kubectl logs %s:\n%s", status(full), full.Output)
		return []Verdict{mode}
	}
	fd := kubeproxy.ScanLogs(full.Output)
	switch {
	case fd.Mode != "ipvs":
		mode.Detail = fmt.Sprintf("the log says it uses the %q proxier; errors: %v", fd.Mode, fd.Errors)
	case !strings.Contains(shown.Output, kubeproxy.MsgUsingIPVS):
		mode.Detail = "the full log has the line, but the walk's grep did not show it:\n" + shown.Output
	default:
		mode.Pass = true
	}
	v := []Verdict{mode}

	if sched, _ := kubeproxy.Config(f.ConfigAfter).Get("ipvs.scheduler"); sched == "" {
		s := Verdict{Name: fmt.Sprintf("ipvs.scheduler is empty and kube-proxy logs %q", kubeproxy.MsgSchedulerDefaulted), Pass: fd.SchedulerDefaulted}
		if !s.Pass {
			s.Detail = "the log lacks the line:\n" + full.Output
		}
		v = append(v, s)
	}

	d := Verdict{}
	switch {
	case f.Reference:
		d.Name = "the reference proxier does not log the ipvs deprecation (it is not upstream kube-proxy)"
		d.Pass = fd.Deprecation == ""
	case kubeproxy.DeprecationExpected(f.Minor):
		d.Name = fmt.Sprintf("kube-proxy 1.%d logs the ipvs deprecation (1.35 and later)", f.Minor)
		d.Pass = fd.Deprecation != ""
	default:
		d.Name = fmt.Sprintf("kube-proxy 1.%d does not log an ipvs deprecation (before 1.35)", f.Minor)
		d.Pass = fd.Deprecation == ""
	}
	if d.Pass {
		d.Detail = fd.Deprecation
	} else if fd.Deprecation != "" {
		d.Detail = "it logged: " + fd.Deprecation
	} else {
		d.Detail = "no deprecation line in the log:\n" + full.Output
	}
	return append(v, d)
}

func proxyModeVerdict(r Result) Verdict {
	name := "kube-proxy's /proxyMode answers ipvs"
	if !r.OK() {
		return Verdict{Name: name, Detail: fmt.Sprintf("curl %s:\n%s", status(r), r.Output)}
	}
	mode, err := kubeproxy.ParseProxyMode([]byte(r.Output))
	if err != nil {
		return Verdict{Name: name, Detail: err.Error()}
	}
	if mode != "ipvs" {
		return Verdict{Name: name, Detail: "it answers " + mode}
	}
	return Verdict{Name: name, Pass: true}
}

// getVerdict: `kubectl get svc,pods -o wide` shows the seed's Service as a NodePort
// 80:30089/TCP with its ClusterIP, and the Pod Running on the node with its address.
func getVerdict(f Facts, r Result) Verdict {
	name := fmt.Sprintf("kubectl get svc,pods -o wide: service/%s NodePort %s 80:%d/TCP, pod/%s 1/1 Running %s on %s",
		seedServiceName, f.ClusterIP, seedNodePort, seedPodName, f.PodIP, f.NodeName)
	if !r.OK() {
		return Verdict{Name: name, Detail: fmt.Sprintf("kubectl get %s:\n%s", status(r), r.Output)}
	}
	if f.ClusterIP == "" || f.PodIP == "" {
		return Verdict{Name: name, Detail: "the API server gave the Service no ClusterIP or the Pod no address"}
	}
	if !hasLine(r.Output, "service/"+seedServiceName, "NodePort", f.ClusterIP, fmt.Sprintf("80:%d/TCP", seedNodePort)) {
		return Verdict{Name: name, Detail: "no line shows the Service so:\n" + r.Output}
	}
	if !hasLine(r.Output, "pod/"+seedPodName, "1/1", "Running", f.PodIP, f.NodeName) {
		return Verdict{Name: name, Detail: "no line shows the Pod so:\n" + r.Output}
	}
	return Verdict{Name: name, Pass: true}
}

// blockVerdict wants the seed's section 4.1.3 block with this cluster's addresses, as
// ipvsadm renders it: the same scheduler, the one real server, Masq, weight 1, no
// connections yet.
func blockVerdict(vip, rip string, got dataplane.IPVS, parseErr error) Verdict {
	want := fmt.Sprintf("TCP %s rr\n-> %s Masq 1 0 0\n", vip, rip)
	name := fmt.Sprintf("ipvsadm -Ln shows the seed's block: TCP %s rr / -> %s Masq 1 0 0", vip, rip)
	if parseErr != nil {
		return Verdict{Name: name, Detail: parseErr.Error()}
	}
	m := match.HaveVirtualServer(dataplane.TCP, vip, match.WithScheduler("rr"), match.WithRealServer(rip, dataplane.Masq, 1), match.WithRealServerCount(1))
	if v := scenario.Matched(name, got, nil, m); !v.Pass {
		return v
	}
	w, err := dataplane.ParseIPVSAdm(want)
	if err != nil || len(w.Services) != 1 {
		return Verdict{Name: name, Detail: fmt.Sprintf("the expected block does not parse: %v", err)}
	}
	vs, _ := got.Service(w.Services[0].Key())
	wantLines, gotLines := dataplane.IPVSBlock(w.Services[0]), dataplane.IPVSBlock(vs)
	if !slices.Equal(wantLines, gotLines) {
		return Verdict{Name: name, Detail: fmt.Sprintf("expected the block\n  %s\nbut ipvsadm -Ln shows\n  %s",
			strings.Join(wantLines, "\n  "), strings.Join(gotLines, "\n  "))}
	}
	return Verdict{Name: name, Pass: true}
}

func nodePortRuleVerdict(r Result, chain dataplane.Ruleset, parseErr error) Verdict {
	name := "iptables -t nat -S KUBE-NODE-PORT has the seed's rule verbatim"
	if parseErr != nil {
		return Verdict{Name: name, Detail: parseErr.Error()}
	}
	if v := scenario.Matched(name, chain, nil, match.HaveRule("nat", "KUBE-NODE-PORT", scenario.SeedNodePortRule)); !v.Pass {
		return v
	}
	for l := range strings.Lines(r.Output) {
		if strings.TrimRight(l, "\r\n") == scenario.SeedNodePortRule {
			return Verdict{Name: name, Pass: true}
		}
	}
	return Verdict{Name: name, Detail: fmt.Sprintf("the rule is there but not spelled as in the seed:\n  want %s\n  got:\n%s", scenario.SeedNodePortRule, r.Output)}
}

// natBudgetVerdict: the rules ipvs mode writes in the nat table stay within the seed's 20,
// and the reader's `grep -c '^-A'` counts what iptables-save holds. The iptables proxier's
// leftovers of a method 2 switch are counted apart: they predate ipvs mode.
func natBudgetVerdict(count Result, nat dataplane.Ruleset, parseErr error) Verdict {
	name := fmt.Sprintf("ipvs mode's nat rules number at most %d", scenario.MaxNATRules)
	if parseErr != nil {
		return Verdict{Name: name, Detail: parseErr.Error()}
	}
	total := nat.RuleCount("nat")
	leftover := kubeproxy.LeftoverRules(nat, "nat")
	ipvsRules := kubeproxy.KubeProxyRules(nat, "nat") - leftover
	name = fmt.Sprintf("%s (%d", name, ipvsRules)
	if leftover > 0 {
		name += fmt.Sprintf("; %d more are the iptables proxier's leftovers", leftover)
	}
	name += ")"
	printed, err := strconv.Atoi(strings.TrimSpace(count.Output))
	switch {
	case ipvsRules > scenario.MaxNATRules:
		return Verdict{Name: name, Detail: dataplane.FormatIPTablesSave(nat)}
	case err != nil || printed != total:
		return Verdict{Name: name, Detail: fmt.Sprintf("iptables-save -t nat has %d rules, but `grep -c '^-A'` printed %q", total, strings.TrimSpace(count.Output))}
	}
	return Verdict{Name: name, Pass: true}
}

// noServiceRulesVerdict: the seed's summary, "the rules all became ipvsadm's; no iptables
// rules were generated": nothing in the nat table names the seed's Service (the iptables
// proxier's rules carry "default/service-test1:http" comments), and with method 1 there
// is no iptables-mode chain at all.
func noServiceRulesVerdict(f Facts, save Result, nat dataplane.Ruleset, parseErr error) Verdict {
	svc := seedNamespace + "/" + seedServiceName
	name := fmt.Sprintf("no iptables rule names %s: its forwarding is IPVS's", svc)
	if f.Method == MethodCreation {
		name += ", and there is no KUBE-SVC- chain"
	}
	if parseErr != nil {
		return Verdict{Name: name, Detail: parseErr.Error()}
	}
	for l := range strings.Lines(save.Output) {
		if strings.Contains(l, svc) {
			return Verdict{Name: name, Detail: "iptables-save -t nat has:\n" + l}
		}
	}
	if f.Method == MethodCreation {
		return scenario.Matched(name, nat, nil, match.HaveNoChainWithPrefix("nat", "KUBE-SVC-"))
	}
	return Verdict{Name: name, Pass: true}
}

// trafficVerdict wants the Pod's answer: the agent's HTTP server in the Pod's network
// namespace answers with the Pod's name.
func trafficVerdict(name string, r Result) Verdict {
	switch {
	case !r.OK():
		return Verdict{Name: name, Detail: fmt.Sprintf("the request %s:\n%s", status(r), r.Output)}
	case strings.TrimSpace(r.Output) != seedPodName:
		return Verdict{Name: name, Detail: fmt.Sprintf("expected the answer %q, got:\n%s", seedPodName, r.Output)}
	}
	return Verdict{Name: name, Pass: true}
}
