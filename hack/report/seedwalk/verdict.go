package seedwalk

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

// Verdict is one assertion on a walk's outputs.
type Verdict = tutorial.Verdict

// SeedModules are the modules the seed's section 2 loads.
var SeedModules = []string{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"}

// shown maps the walk's steps to the commands of the tutorial's transcript.
var shown = map[string]string{
	StepIPVS:          tutorial.ShownIPVS,
	StepKubeIPVS0:     tutorial.ShownKubeIPVS0,
	StepNodePortSet:   tutorial.ShownNodePortSet,
	StepNATSave:       tutorial.ShownNATSave,
	StepNodePortChain: tutorial.ShownNodePortChain,
	StepNATCount:      tutorial.ShownNATCount,
	StepCurlCluster:   tutorial.ShownCurlClusterIP,
	StepCurlNodePort:  tutorial.ShownCurlNodePort,
	StepCurlHost:      tutorial.ShownCurlHost,
	StepStatsBefore:   tutorial.ShownStatsBefore,
	StepStatsAfter:    tutorial.ShownStatsAfter,
	StepConnsAfter:    tutorial.ShownConnsAfter,
}

// notReached is why a step the walk did not get to has no result.
const notReached = "the walk did not get to this step"

// Judge computes the verdicts of a walk from its record. The walk's own steps (modules,
// kube-proxy's configuration, pods, log and /proxyMode, kubectl get) are judged here; the
// node's dataplane and the traffic by the tutorial's table (framework/tutorial), on the
// state the walk's outputs show. The facts (addresses, pod names) come from the API server
// and say what the outputs must contain.
func Judge(rec Record) []Verdict {
	f := rec.Facts
	res := func(name string) Result {
		r, ok := rec.Results[name]
		if !ok {
			return Result{ExitCode: -1, Err: notReached}
		}
		return r
	}
	v := []Verdict{modulesVerdict(res(StepLsmod))}
	v = append(v, configVerdict(f, res(StepEdit)))
	v = append(v, podsVerdict(f, res(StepDeletePods), res(StepKubeProxyPods)))
	v = append(v, logVerdicts(f, res(StepFullLog), res(StepKubeProxyLog))...)
	v = append(v, proxyModeVerdict(res(StepProxyMode)))
	v = append(v, getVerdict(f, res(StepGet)))
	for i := range v {
		v[i] = v[i].Retitled(v[i].Title)
	}
	v = append(v, tutorial.JudgeNode(tutorialFacts(f), tutorialNode(rec, f.NodeName, f.NodeIP, ""))...)
	// Every other node of a cluster the walk did not create: its modules, kube-proxy's
	// answer and the tutorial's table on its outputs.
	for _, n := range f.Nodes {
		key := func(step string) string { return OnNode(step, n.Name) }
		nv := []Verdict{modulesVerdict(res(key(StepLsmod))), proxyModeVerdict(res(key(StepProxyMode)))}
		for _, x := range tutorial.JudgeNode(tutorialFacts(f), tutorialNode(rec, n.Name, n.IP, "@"+n.Name)) {
			if x.Check != tutorial.TrafficHost { // one host, judged with the first node
				nv = append(nv, x)
			}
		}
		for _, x := range nv {
			v = append(v, x.Retitled(lang.T(lang.VerdictOnNode, n.Name, x.Title)))
		}
	}
	return v
}

// tutorialFacts are the record's facts as the tutorial's checks read them: the scheduler
// is config.conf's (empty: rr), and the Pod is the lab agent's HTTP server, which answers
// with the Pod's name.
func tutorialFacts(f Facts) tutorial.Facts {
	sched, _ := kubeproxy.Config(f.ConfigAfter).Get("ipvs.scheduler")
	tf := tutorial.Facts{Namespace: seedNamespace, ClusterIP: f.ClusterIP, PodIP: f.PodIP, Scheduler: sched,
		Answer: seedPodName, HostEndpoint: f.HostNodePort, Requests: ClusterIPRequests}
	if f.Existing {
		// The seed's own nginx answers with its page.
		tf.Namespace, tf.Answer = f.Namespace, ""
	}
	return tf
}

// tutorialNode is a node as the walk's outputs show it (the results keyed step+suffix); a
// step that failed, or that the walk did not get to, carries why.
func tutorialNode(rec Record, name, address, suffix string) tutorial.Node {
	t := map[string]tutorial.Output{}
	for step, cmd := range shown {
		r, ok := rec.Results[step+suffix]
		if !ok {
			t[cmd] = tutorial.Output{Failure: notReached}
			continue
		}
		o := tutorial.Output{Text: r.Output}
		if !r.OK() {
			o.Failure = status(r)
		}
		t[cmd] = o
	}
	return tutorial.FromTranscript(name, address, t)
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
	name := lang.T(lang.CheckModules, strings.Join(SeedModules, " "))
	if !r.OK() {
		return Verdict{Title: name, Detail: fmt.Sprintf("lsmod | grep %s:\n%s", status(r), r.Output)}
	}
	loaded := LoadedModules(r.Output)
	var missing []string
	for _, m := range SeedModules {
		if !loaded[m] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return Verdict{Title: name, Detail: fmt.Sprintf("missing %s; lsmod shows:\n%s", strings.Join(missing, ", "), r.Output)}
	}
	return Verdict{Title: name, Pass: true}
}

// configVerdict: method 2 must have changed config.conf's mode to ipvs with kubectl edit;
// method 1 must have had it from the start.
func configVerdict(f Facts, edit Result) Verdict {
	after, _ := kubeproxy.Config(f.ConfigAfter).Get("mode")
	if f.Method == MethodCreation {
		name := lang.T(lang.CheckConfigCreation)
		if after != "ipvs" {
			return Verdict{Title: name, Detail: fmt.Sprintf("config.conf's mode is %q:\n%s", after, f.ConfigAfter)}
		}
		return Verdict{Title: name, Pass: true}
	}
	name := lang.T(lang.CheckConfigEdited, f.ModeBefore)
	switch {
	case f.ModeBefore == "ipvs":
		return Verdict{Title: name, Detail: "kube-proxy was in ipvs mode before the edit: method 2 switched nothing"}
	case !edit.OK() || !strings.Contains(edit.Output, "configmap/kube-proxy edited"):
		return Verdict{Title: name, Detail: fmt.Sprintf("kubectl edit %s:\n%s", status(edit), edit.Output)}
	case after != "ipvs":
		return Verdict{Title: name, Detail: fmt.Sprintf("after the edit, config.conf's mode is %q:\n%s", after, f.ConfigAfter)}
	}
	return Verdict{Title: name, Pass: true}
}

// podsVerdict: `kubectl get pods | grep proxy` shows each kube-proxy pod 1/1 Running; after
// method 2's delete, they are new pods, and the delete named every old one.
func podsVerdict(f Facts, del, get Result) Verdict {
	name := lang.T(lang.CheckPodsRunning)
	if f.Method == MethodConfigMap {
		name = lang.T(lang.CheckPodsReplaced)
	}
	if len(f.PodsAfter) == 0 {
		return Verdict{Title: name, Detail: "no kube-proxy pod became Ready"}
	}
	if f.Method == MethodConfigMap {
		if !del.OK() {
			return Verdict{Title: name, Detail: fmt.Sprintf("kubectl delete %s:\n%s", status(del), del.Output)}
		}
		for _, p := range f.PodsBefore {
			if !strings.Contains(del.Output, fmt.Sprintf("pod %q deleted", p)) {
				return Verdict{Title: name, Detail: fmt.Sprintf("kubectl delete did not say it deleted %s:\n%s", p, del.Output)}
			}
			if slices.Contains(f.PodsAfter, p) {
				return Verdict{Title: name, Detail: fmt.Sprintf("pod %s is still there after the delete", p)}
			}
		}
	}
	if !get.OK() {
		return Verdict{Title: name, Detail: fmt.Sprintf("kubectl get pods | grep proxy %s:\n%s", status(get), get.Output)}
	}
	for _, p := range f.PodsAfter {
		if !hasLine(get.Output, p, "1/1", "Running") {
			return Verdict{Title: name, Detail: fmt.Sprintf("no line shows %s 1/1 Running:\n%s", p, get.Output)}
		}
	}
	return Verdict{Title: name, Pass: true}
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
	mode := Verdict{Title: lang.T(lang.CheckLogIPVS, kubeproxy.MsgUsingIPVS)}
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
		s := Verdict{Title: lang.T(lang.CheckLogScheduler, kubeproxy.MsgSchedulerDefaulted), Pass: fd.SchedulerDefaulted}
		if !s.Pass {
			s.Detail = "the log lacks the line:\n" + full.Output
		}
		v = append(v, s)
	}

	d := Verdict{}
	switch {
	case f.Reference:
		d.Title = lang.T(lang.CheckNoDeprecationRef)
		d.Pass = fd.Deprecation == ""
	case kubeproxy.DeprecationExpected(f.Minor):
		d.Title = lang.T(lang.CheckDeprecation, f.Minor)
		d.Pass = fd.Deprecation != ""
	default:
		d.Title = lang.T(lang.CheckNoDeprecation, f.Minor)
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
	name := lang.T(lang.CheckProxyMode)
	if !r.OK() {
		return Verdict{Title: name, Detail: fmt.Sprintf("curl %s:\n%s", status(r), r.Output)}
	}
	mode, err := kubeproxy.ParseProxyMode([]byte(r.Output))
	if err != nil {
		return Verdict{Title: name, Detail: err.Error()}
	}
	if mode != "ipvs" {
		return Verdict{Title: name, Detail: "it answers " + mode}
	}
	return Verdict{Title: name, Pass: true}
}

// getVerdict: `kubectl get svc,pods -o wide` shows the seed's Service as a NodePort
// 80:30089/TCP with its ClusterIP, and the Pod Running on the node with its address.
func getVerdict(f Facts, r Result) Verdict {
	name := lang.T(lang.CheckGet, seedServiceName, f.ClusterIP, seedNodePort, seedPodName, f.PodIP, f.NodeName)
	if !r.OK() {
		return Verdict{Title: name, Detail: fmt.Sprintf("kubectl get %s:\n%s", status(r), r.Output)}
	}
	if f.ClusterIP == "" || f.PodIP == "" {
		return Verdict{Title: name, Detail: "the API server gave the Service no ClusterIP or the Pod no address"}
	}
	if !hasLine(r.Output, "service/"+seedServiceName, "NodePort", f.ClusterIP, fmt.Sprintf("80:%d/TCP", seedNodePort)) {
		return Verdict{Title: name, Detail: "no line shows the Service so:\n" + r.Output}
	}
	if !hasLine(r.Output, "pod/"+seedPodName, "1/1", "Running", f.PodIP, f.NodeName) {
		return Verdict{Title: name, Detail: "no line shows the Pod so:\n" + r.Output}
	}
	return Verdict{Title: name, Pass: true}
}
