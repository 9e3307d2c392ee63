package seedwalk

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial"
	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

// question is what a worksheet asks about a step's output, and how the answer is read from
// it: "" when the output does not hold the answer.
type question struct {
	ask    func(f Facts) lang.Text
	answer func(f Facts, out string) lang.Text
}

// questions are the worksheet's, by step. Every answer is read from this run's output.
var questions = map[string]question{
	StepLsmod: {fixed(lang.QModules), func(_ Facts, out string) lang.Text {
		var ms []string
		for m := range LoadedModules(out) {
			if strings.HasPrefix(m, "ip_vs_") {
				ms = append(ms, m)
			}
		}
		slices.Sort(ms)
		return plain(strings.Join(ms, ", "))
	}},
	StepDescribe: {fixed(lang.QMode), func(_ Facts, out string) lang.Text {
		return plain(findLine(out, func(fs []string) bool { return fs[0] == "mode:" }))
	}},
	StepKubeProxyPods: {fixed(lang.QKubeProxyPod), func(_ Facts, out string) lang.Text {
		l := findLine(out, func(fs []string) bool { return len(fs) > 2 && strings.HasPrefix(fs[0], "kube-proxy") })
		if l == "" {
			return lang.Text{}
		}
		fs := strings.Fields(l)
		return lang.T(lang.ALine, fs[0]+" "+fs[1]+" "+fs[2], l)
	}},
	StepKubeProxyLog: {fixed(lang.QProxier), func(_ Facts, out string) lang.Text {
		for line := range strings.Lines(out) {
			if _, rest, ok := strings.Cut(line, `"Using `); ok {
				if proxier, _, ok := strings.Cut(rest, ` Proxier"`); ok {
					return lang.T(lang.ALine, proxier, strings.TrimSpace(line))
				}
			}
		}
		return lang.Text{}
	}},
	StepProxyMode:  {fixed(lang.QProxyMode), func(_ Facts, out string) lang.Text { return plain(strings.TrimSpace(out)) }},
	StepIPVSBefore: {fixed(lang.QIPVSBefore), func(_ Facts, out string) lang.Text { return plain(virtualServers(out)) }},
	StepGet: {fixed(lang.QClusterIP), func(_ Facts, out string) lang.Text {
		l := findLine(out, func(fs []string) bool { return len(fs) > 2 && fs[0] == "service/"+seedServiceName })
		if l == "" {
			return lang.Text{}
		}
		return lang.T(lang.ALine, strings.Fields(l)[2], l)
	}},
	StepIPVS: {
		func(f Facts) lang.Text { return lang.T(lang.QRealServer, servicePort(f.ClusterIP, seedServicePort)) },
		func(f Facts, out string) lang.Text {
			ipvs, err := dataplane.ParseIPVSAdm(out)
			vip, perr := netip.ParseAddr(f.ClusterIP)
			if err != nil || perr != nil {
				return lang.Text{}
			}
			for _, vs := range ipvs.Services {
				if vs.Protocol != dataplane.TCP || vs.Address != vip || vs.Port != seedServicePort {
					continue
				}
				var rips []string
				for _, rs := range vs.RealServers {
					rips = append(rips, rs.Address.String())
				}
				return lang.T(lang.ALine, strings.Join(rips, ", "), masqLine(f, out))
			}
			return lang.Text{}
		}},
	StepKubeIPVS0: {fixed(lang.QKubeIPVS0), func(_ Facts, out string) lang.Text {
		links, err := dataplane.ParseIPAddr(out)
		if err != nil {
			return lang.Text{}
		}
		var addrs []string
		for _, l := range links {
			for _, a := range l.Addrs {
				addrs = append(addrs, a.String())
			}
		}
		return plain(strings.Join(addrs, ", "))
	}},
	StepNodePortChain: {fixed(lang.QMatchSet), func(f Facts, out string) lang.Text {
		if l := matchSetLine(f, out); l != "" {
			return lang.T(lang.ALine, "KUBE-NODE-PORT-TCP", l)
		}
		return lang.Text{}
	}},
	StepNodePortSet: {fixed(lang.QSetMembers), func(_ Facts, out string) lang.Text {
		sets, err := dataplane.ParseIPSetList(out)
		if err != nil || len(sets) != 1 {
			return lang.Text{}
		}
		var ms []string
		for _, m := range sets[0].Members {
			ms = append(ms, m.String())
		}
		return plain(strings.Join(ms, ", "))
	}},
	StepNATCount: {fixed(lang.QNATCount), func(f Facts, out string) lang.Text {
		n, err := strconv.Atoi(countLine(f, out))
		switch {
		case err != nil:
			return lang.Text{}
		case n <= tutorial.NATBudget:
			return lang.T(lang.ANATCountWithin, n)
		}
		return lang.T(lang.ANATCountBeyond, n)
	}},
	StepNATPerChain: {fixed(lang.QBiggestChain), func(_ Facts, out string) lang.Text {
		l := findLine(out, func(fs []string) bool { return len(fs) == 2 })
		if l == "" {
			return lang.Text{}
		}
		fs := strings.Fields(l)
		return lang.T(lang.ABiggestChain, fs[1], fs[0])
	}},
	StepCurlCluster:  {fixed(lang.QAnswered), answeredBy},
	StepCurlNodePort: {fixed(lang.QAnswered), answeredBy},
	StepCurlHost:     {fixed(lang.QAnswered), answeredBy},
}

func fixed(id lang.ID) func(Facts) lang.Text { return func(Facts) lang.Text { return lang.T(id) } }

func answeredBy(f Facts, out string) lang.Text { return plain(firstLine(f, out)) }

// plain is an answer that is a piece of the output itself; "" is no answer.
func plain(s string) lang.Text {
	if s == "" {
		return lang.Text{}
	}
	return lang.T(lang.AOutput, s)
}

// virtualServers lists ipvsadm's virtual server lines.
func virtualServers(out string) string {
	var vs []string
	for l := range strings.Lines(out) {
		if fs := strings.Fields(l); len(fs) > 1 && (fs[0] == "TCP" || fs[0] == "UDP" || fs[0] == "SCTP") {
			vs = append(vs, strings.Join(fs, " "))
		}
	}
	return strings.Join(vs, "; ")
}

// WriteWorksheet writes a recorded lab walk as a Markdown worksheet in the language: the
// seed's section 1 with the lines of this run that prove each claim, then each step with
// its command, its real output and, where the output answers one, a question with its
// answer (folded, for the student to open), and the run's verdict.
func WriteWorksheet(w io.Writer, l lang.Lang, rec Record) error {
	if rec.Facts.Existing {
		return fmt.Errorf("the record is of a walk on an existing cluster: worksheets are written from lab walks")
	}
	f := rec.Facts
	var b strings.Builder
	proxy := lang.T(lang.ProxyUpstream, f.KubeProxy)
	if f.Reference {
		proxy = lang.T(lang.ProxyReference)
	}
	method := lang.T(lang.SwitchConfigMap)
	if f.Method == MethodCreation {
		method = lang.T(lang.SwitchCreation)
	}
	fmt.Fprintf(&b, "# %s\n\n%s\n\n%s\n", l.Sprintf(lang.SheetTitle), l.Render(lang.T(lang.SheetRun, proxy, method, f.NodeName, f.NodeIP)), l.Sprintf(lang.SheetHowTo))

	fmt.Fprintf(&b, "\n## %s\n\n", l.Sprintf(lang.SeeHeading))
	for i, c := range Claims {
		fmt.Fprintf(&b, "%d. **%s** %s\n", i+1, c.Section, l.Sprintf(c.Text))
		for _, line := range c.ProvingLines(rec) {
			if line == "" {
				fmt.Fprintf(&b, "   - %s\n", l.Sprintf(lang.ANotInThisOutput))
				continue
			}
			fmt.Fprintf(&b, "   - `%s`\n", line)
		}
	}

	for _, s := range Script(f) {
		r, ok := rec.Results[s.Name]
		if !ok || s.Hidden {
			continue
		}
		// A step's parts, one blank line apart.
		var parts []string
		if !s.Heading.IsZero() {
			parts = append(parts, "## "+l.Render(s.Heading))
		}
		if s.Typed != "" {
			where := l.Sprintf(lang.SheetOnHost)
			if s.Where == Node {
				where = l.Sprintf(lang.SheetOnNode, f.NodeName)
			}
			parts = append(parts, "*"+where+"*", "```sh\n"+s.Typed+"\n```")
		}
		if !s.Note.IsZero() {
			parts = append(parts, "> "+l.Render(s.Note))
		}
		if out := strings.TrimRight(r.Output, "\n"); out != "" {
			parts = append(parts, "```text\n"+out+"\n```")
		}
		if q, ok := questions[s.Name]; ok {
			a := q.answer(f, r.Output)
			answer := l.Render(a)
			if a.IsZero() {
				answer = l.Sprintf(lang.ANotInThisOutput)
			}
			parts = append(parts, l.Render(lang.T(lang.SheetQuestion, q.ask(f))),
				"<details><summary>"+l.Sprintf(lang.SheetAnswer)+"</summary>", answer, "</details>")
		}
		fmt.Fprintf(&b, "\n%s\n", strings.Join(parts, "\n\n"))
	}

	fmt.Fprintf(&b, "\n## %s\n\n```text\n", l.Sprintf(lang.SheetVerdict))
	vs := Judge(rec)
	passed := 0
	for _, v := range vs {
		fmt.Fprintln(&b, v.Line(l))
		if v.Pass {
			passed++
		}
	}
	fmt.Fprintf(&b, "%s\n```\n", l.Sprintf(lang.VerdictSummary, passed, len(vs)))
	_, err := io.WriteString(w, b.String())
	return err
}
