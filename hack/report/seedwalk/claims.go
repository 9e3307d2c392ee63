package seedwalk

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

// Claim is a statement of the seed's section 1 (1.2 key points, 1.3 basic flow) that the
// walk's outputs prove: the walk states it before the steps, pointing at the step whose
// output proves it, and marks the proving line under that step's output. The lines are
// found in this run's outputs, never written in advance.
type Claim struct {
	// Section is the seed's section the claim is from.
	Section string
	Text    lang.ID
	Proofs  []Proof
}

// Proof is where a claim shows: a step, and the line of its output that proves it.
type Proof struct {
	Step string
	// Line finds the proving line in the step's output; "" when the output lacks it.
	Line func(f Facts, output string) string
}

// Claims are section 1's claims in the seed's order, numbered from 1 as the walk prints them.
var Claims = []Claim{
	{Section: "1.2", Text: lang.ClaimKubeIPVS0, Proofs: []Proof{{StepKubeIPVS0, clusterIPAddressLine}}},
	{Section: "1.2", Text: lang.ClaimVirtual, Proofs: []Proof{{StepIPVS, virtualServerLine}}},
	{Section: "1.3", Text: lang.ClaimInput, Proofs: []Proof{{StepKubeIPVS0, clusterIPAddressLine}, {StepCurlCluster, firstLine}}},
	{Section: "1.3", Text: lang.ClaimMasq, Proofs: []Proof{{StepIPVS, masqLine}}},
	{Section: "1.3", Text: lang.ClaimFewRules, Proofs: []Proof{{StepNATCount, countLine}}},
	{Section: "1.3", Text: lang.ClaimIPSets, Proofs: []Proof{{StepNodePortChain, matchSetLine}, {StepNodePortSet, nodePortMemberLine}}},
}

// findLine returns the first line of the output, trimmed, whose fields satisfy ok.
func findLine(output string, ok func(fields []string) bool) string {
	for l := range strings.Lines(output) {
		if fs := strings.Fields(l); len(fs) > 0 && ok(fs) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// clusterIPAddressLine is ip addr's "inet <ClusterIP>/32 scope global kube-ipvs0".
func clusterIPAddressLine(f Facts, out string) string {
	return findLine(out, func(fs []string) bool {
		return f.ClusterIP != "" && len(fs) > 1 && fs[0] == "inet" && strings.HasPrefix(fs[1], f.ClusterIP+"/")
	})
}

func servicePort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// virtualServerLine is ipvsadm's "TCP  <ClusterIP>:80 rr".
func virtualServerLine(f Facts, out string) string {
	return findLine(out, func(fs []string) bool {
		return f.ClusterIP != "" && len(fs) > 1 && fs[0] == "TCP" && fs[1] == servicePort(f.ClusterIP, seedServicePort)
	})
}

// masqLine is ipvsadm's "-> <Pod IP>:80 Masq 1 0 0".
func masqLine(f Facts, out string) string {
	return findLine(out, func(fs []string) bool {
		return f.PodIP != "" && len(fs) > 2 && fs[0] == "->" && fs[1] == servicePort(f.PodIP, seedServicePort) && fs[2] == "Masq"
	})
}

// firstLine is a reply's first line: the Pod answered.
func firstLine(_ Facts, out string) string { return findLine(out, func([]string) bool { return true }) }

// countLine is grep -c's count.
func countLine(_ Facts, out string) string {
	return findLine(out, func(fs []string) bool {
		_, err := strconv.Atoi(fs[0])
		return len(fs) == 1 && err == nil
	})
}

// matchSetLine is the KUBE-NODE-PORT rule matching the set KUBE-NODE-PORT-TCP.
func matchSetLine(_ Facts, out string) string {
	return findLine(out, func(fs []string) bool {
		for i := range fs[:len(fs)-1] {
			if fs[i] == "--match-set" && fs[i+1] == "KUBE-NODE-PORT-TCP" {
				return true
			}
		}
		return false
	})
}

// nodePortMemberLine is ipset's member line "30089".
func nodePortMemberLine(_ Facts, out string) string {
	return findLine(out, func(fs []string) bool { return len(fs) == 1 && fs[0] == strconv.Itoa(seedNodePort) })
}

// printClaims writes section 1 before the steps: each claim with the section heading and
// command of the steps that prove it. It needs no fact of the run (the commands show
// <ClusterIP> where the walk does not know it yet), so the live walk and its replay print
// the same text.
func printClaims(w io.Writer, l lang.Lang) {
	steps := Script(Facts{Method: MethodCreation, ClusterIP: "<ClusterIP>", NodeIP: "<node>", HostNodePort: "<host>"})
	heading := map[string]lang.Text{}
	typed := map[string]string{}
	var last lang.Text
	for _, s := range steps {
		if !s.Heading.IsZero() {
			last = s.Heading
		}
		heading[s.Name], typed[s.Name] = last, s.Typed
	}
	fmt.Fprintf(w, "\n== %s\n   (%s)\n", l.Sprintf(lang.SeeHeading), l.Sprintf(lang.SeeIntro))
	for i, c := range Claims {
		fmt.Fprintln(w, l.Sprintf(lang.SeeClaim, i+1, c.Section, l.Sprintf(c.Text)))
		for _, p := range c.Proofs {
			fmt.Fprintln(w, l.Sprintf(lang.SeePointer, l.Render(heading[p.Step]), typed[p.Step]))
		}
	}
}

// printProofs marks, under a step's output, the lines that prove section 1's claims, or
// says that the output lacks the line a claim points at.
func printProofs(w io.Writer, l lang.Lang, f Facts, step string, r Result) {
	for i, c := range Claims {
		for _, p := range c.Proofs {
			if p.Step != step {
				continue
			}
			if line := p.Line(f, r.Output); line != "" {
				fmt.Fprintln(w, l.Sprintf(lang.SeeProof, i+1, line))
			} else {
				fmt.Fprintln(w, l.Sprintf(lang.SeeNotShown, i+1))
			}
		}
	}
}

// ProvingLines are the lines of a record's outputs that prove a claim, one per proof ("" for
// a proof the outputs lack).
func (c Claim) ProvingLines(rec Record) []string {
	lines := make([]string, len(c.Proofs))
	for i, p := range c.Proofs {
		if r, ok := rec.Results[p.Step]; ok {
			lines[i] = p.Line(rec.Facts, r.Output)
		}
	}
	return lines
}
