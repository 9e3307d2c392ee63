package scenario

import (
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

func TestSeedStepsNameEveryCommandOnce(t *testing.T) {
	names := map[string]bool{}
	files := map[string]bool{}
	for _, s := range SeedSteps() {
		if !s.runs() {
			if s.Note == "" || s.Hidden {
				t.Errorf("a step that runs nothing must be a visible note: %+v", s)
			}
			continue
		}
		n := s.Command.Name
		if n == "" || names[n] || files[FileName(n)] {
			t.Errorf("command name %q is empty or not unique (file %s)", n, FileName(n))
		}
		names[n], files[FileName(n)] = true, true
		if !s.Hidden && s.Typed == "" {
			t.Errorf("visible step %q shows no typed line", n)
		}
	}
	// Every command the verdict reads is in the steps.
	for _, n := range []string{cmdIPVSAdm, cmdKubeIPVS0, cmdNodePortNAT, cmdNodePortSet, cmdNATCount, cmdNATSave, cmdCurlCluster, cmdCurlNodePort, cmdProxierLog} {
		if !names[n] {
			t.Errorf("the verdict reads %q, which no step runs", n)
		}
	}
}

// The reader's typed line is what runs, except where the lab says why it differs.
func TestSeedStepsRunWhatTheyShow(t *testing.T) {
	for _, s := range SeedSteps() {
		if !s.runs() || s.Hidden || s.Command.Shell == s.Typed {
			continue
		}
		if !strings.HasPrefix(s.Note, "lab:") {
			t.Errorf("step %q runs %q but shows %q without a lab note saying why", s.Command.Name, s.Command.Shell, s.Typed)
		}
	}
}

func TestSeedJob(t *testing.T) {
	steps := SeedSteps()
	job, err := SeedJob(steps, "/cache/seedguest", 0)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range job.Files {
		paths = append(paths, f.Path)
	}
	want := []string{GuestPath, "/usr/bin/kubectl", "/usr/bin/curl", "/root/" + manifests.ServiceIPVS, "/root/" + manifests.KubeProxyIPVS}
	if !slices.Equal(paths, want) {
		t.Errorf("job files %q, want %q", paths, want)
	}
	if job.Network == nil || job.Hostname != NodeName {
		t.Errorf("job network %v hostname %q; the NodePort needs a node address and the seed's node is %s", job.Network, job.Hostname, NodeName)
	}
	runs := 0
	for _, s := range steps {
		if s.runs() {
			runs++
		}
	}
	if len(job.Commands) != runs {
		t.Errorf("%d job commands for %d running steps", len(job.Commands), runs)
	}
	if got := string(job.Files[1].Data); !strings.Contains(got, `exec seedguest kubectl "$@"`) {
		t.Errorf("kubectl wrapper:\n%s", got)
	}
}

func TestPrinter(t *testing.T) {
	steps := []Step{
		{Heading: "== 1", Note: "a note only"},
		{Typed: "echo a\nb", Note: "lab: two lines", Command: kernellab.Command{Name: "first", Shell: "echo a"}},
		{Hidden: true, Command: kernellab.Command{Name: "hidden", Shell: "true"}},
		{Typed: "false", Command: kernellab.Command{Name: "fails", Shell: "false"}},
		{Typed: "never", Command: kernellab.Command{Name: "never", Shell: "sleep 1"}},
		{Heading: "== 2", Note: "trailing note"},
	}
	var b strings.Builder
	p := &printer{out: &b, steps: steps}
	p.done(kernellab.CommandResult{Index: 0, Name: "first", Output: "a", Finished: true})
	p.done(kernellab.CommandResult{Index: 1, Name: "hidden", Finished: true})
	p.done(kernellab.CommandResult{Index: 2, Name: "fails", ExitCode: 1, Finished: true})
	p.flush()
	want := "\n== 1\n  (a note only)\n" +
		"$ echo a\n> b\n  (lab: two lines)\na\n" +
		"$ false\n  [exit status 1]\n" +
		"\n== 2\n  (trailing note)\n"
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"ipvsadm -Ln":                   "ipvsadm-Ln.txt",
		"iptables-save -t nat":          "iptables-save-t-nat.txt",
		"ip addr show kube-ipvs0":       "ip-addr-show-kube-ipvs0.txt",
		"curl ClusterIP":                "curl-ClusterIP.txt",
		"k8s.conf":                      "k8s.conf.txt",
		" --odd//name-- ":               "odd-name.txt",
		"ipset list KUBE-NODE-PORT-TCP": "ipset-list-KUBE-NODE-PORT-TCP.txt",
	} {
		if got := FileName(in); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
	}
}
