package scenario

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// The seed's cluster as the lab reproduces it. The node's address is the lab guest's
// with a NIC (hack/lab/kernellab: QEMU user networking); the rest is the seed's output.
const (
	NodeName      = "node1"
	NodeIP        = "10.0.2.15"
	PodName       = "nginx-test"
	PodIP         = "10.244.3.214"
	ServiceName   = "service-test1"
	ClusterIP     = "10.106.71.137"
	ServicePort   = 80
	NodePort      = 30089
	ClusterCIDR   = "10.244.0.0/16"
	GuestHome     = "/root"
	ProxierLog    = "/var/log/kube-proxy.log"
	ProxierPID    = "/run/kube-proxy.pid"
	StoreLog      = "/var/log/seedlab.log"
	configInGuest = GuestHome + "/" + manifests.KubeProxyIPVS
)

// Step is one thing the reader of the seed does, as the lab prints it: an optional section
// heading, the command line the reader types, a note on what the lab does differently, and
// the guest command that really runs (whose output is printed). A step without a command is
// a note only; a hidden step runs for the verdict and is not printed.
type Step struct {
	Heading string
	Typed   string
	Note    string
	Command kernellab.Command
	Hidden  bool
}

func (s Step) runs() bool { return len(s.Command.Args) > 0 || s.Command.Shell != "" }

// Names of the commands the verdict reads.
const (
	cmdIPVSAdm      = "ipvsadm -Ln"
	cmdKubeIPVS0    = "ip addr show kube-ipvs0"
	cmdNodePortNAT  = "iptables -t nat -S KUBE-NODE-PORT"
	cmdNATCount     = "nat rule count"
	cmdNodePortSet  = "ipset list KUBE-NODE-PORT-TCP"
	cmdNATSave      = "iptables-save -t nat"
	cmdCurlCluster  = "curl ClusterIP"
	cmdCurlNodePort = "curl NodePort"
	cmdProxierLog   = "proxier log"
	cmdFinalLog     = "proxier log at the end"
	cmdStoreLog     = "store log"
)

func sh(name, script string) kernellab.Command {
	return kernellab.Command{Name: name, Shell: script, Dir: GuestHome}
}

// typedAndRun is a step whose guest command is exactly what the reader types.
func typedAndRun(heading, name, line, note string) Step {
	return Step{Heading: heading, Typed: line, Note: note, Command: sh(name, line)}
}

// SeedSteps are the seed tutorial's sections 2 to 4.1 on the lab node.
func SeedSteps() []Step {
	clusterURL := fmt.Sprintf("http://%s/", ClusterIP)
	nodePortURL := fmt.Sprintf("http://%s:%d/", NodeIP, NodePort)
	modulesConf := "cat >> /etc/modules-load.d/k8s.conf << 'EOF'\nip_vs\nip_vs_rr\nip_vs_wrr\nip_vs_sh\nnf_conntrack\nEOF"
	nodeLine := fmt.Sprintf("seedguest node --config=%s --hostname-override=%s --cluster-cidr=%s >%s 2>&1 &",
		manifests.KubeProxyIPVS, NodeName, ClusterCIDR, ProxierLog)
	return []Step{
		{Heading: "== 2. prepare the node: install ipset and ipvsadm", Typed: "yum install ipset ipvsadm -y",
			Note:    "lab: the guest has no package manager; it carries Debian bookworm's ipvsadm and ipset (and iptables 1.8.9, iproute2):",
			Command: sh("tool versions", "ipvsadm --version && ipset --version && iptables --version")},
		typedAndRun("== 2. load the IPVS modules", "modprobe", "modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack", ""),
		typedAndRun("", "lsmod", "lsmod | grep -E '^(ip_vs|nf_conntrack)'", ""),
		{Typed: modulesConf, Note: "lab: no systemd in the guest to read it at boot; the lab's /init loads ip_vs itself",
			Command: sh("modules-load.d", "mkdir -p /etc/modules-load.d && "+modulesConf)},
		typedAndRun("", "k8s.conf", "cat /etc/modules-load.d/k8s.conf", ""),
		{Heading: "== 3.1-3.2 kube-proxy's configuration (kubectl -n kube-system describe configmap kube-proxy)",
			Note: "lab: there is no kube-system ConfigMap on a lab node; method 1's configuration file stands for it"},
		{Heading: "== 3.3.1 method 1: a KubeProxyConfiguration with mode: ipvs", Typed: "cat " + manifests.KubeProxyIPVS,
			Note:    "manifests/kube-proxy-ipvs.yaml: the seed's snippet without its SupportIPVSProxyMode gate, which kube-proxy no longer knows",
			Command: sh("config", "cat "+manifests.KubeProxyIPVS)},
		{Typed: nodeLine,
			Note: "lab: kube-proxy's part is played by the project's reference IPVS proxier (proxy.New), reading this same file, " +
				"inside `seedguest node`. Until the lab cluster exists there is no API server: `seedguest node` also holds a fake API " +
				"object store (client-go's fake clientset) that the proxier watches, a kubelet that runs Pods as network namespaces, " +
				"and an EndpointSlice controller. The lab waits for the proxier's first sync:",
			Command: sh("start proxier", "mkdir -p /var/log; "+nodeLine+" echo $! >"+ProxierPID+"; seedguest wait-synced -pidfile "+ProxierPID)},
		{Heading: "== 3.3.2 method 2: edit the kube-proxy ConfigMap, then kubectl -n kube-system delete pod -l k8s-app=kube-proxy",
			Note: "not in the lab (no ConfigMap, no DaemonSet on a lab node): `make e2e` does it on a kind cluster (suites/seedlab)"},
		{Typed: "cat " + ProxierLog, Note: "the seed's `kubectl -n kube-system logs -f kube-proxy-bwvs4`",
			Command: sh(cmdProxierLog, "cat "+ProxierLog)},
		{Heading: "== 4.1.1 the manifest", Typed: "cat " + manifests.ServiceIPVS,
			Note:    "manifests/service-ipvs.yml; the lab runs no container images: its kubelet serves HTTP from the Pod's network namespace instead of nginx",
			Command: sh("manifest", "cat "+manifests.ServiceIPVS)},
		typedAndRun("== 4.1.2 apply it", "kubectl apply", "kubectl apply -f "+manifests.ServiceIPVS,
			"lab: this kubectl is `seedguest kubectl`, talking to the fake API object store in `seedguest node`, which does the API server's "+
				"defaulting and allocation (it hands out the seed's 10.106.71.137 and 10.244.3.214 first), schedules the Pod on node1, starts it "+
				"(a network namespace wired by a veth, hack/lab/pods, with an HTTP server on :80) and writes its EndpointSlice. "+
				"What the proxier programs from there is the real kernel's."),
		typedAndRun("", "get pods", "kubectl get pods -o wide", ""),
		typedAndRun("", "get svc", "kubectl get svc", ""),
		{Typed: fmt.Sprintf("seedguest wait-vs TCP %s:%d %s:%d", ClusterIP, ServicePort, PodIP, ServicePort),
			Note:    "lab: wait until the proxier has put the Service into the kernel (a person would just look a second later)",
			Command: sh("wait", fmt.Sprintf("seedguest wait-vs TCP %s:%d %s:%d", ClusterIP, ServicePort, PodIP, ServicePort))},
		typedAndRun("== 4.1.3 the IPVS rules", cmdIPVSAdm, "ipvsadm -Ln", ""),
		typedAndRun("", cmdKubeIPVS0, "ip addr show kube-ipvs0", ""),
		typedAndRun("== 4.1.4 the iptables rules", cmdNodePortNAT, "iptables -t nat -S KUBE-NODE-PORT", ""),
		typedAndRun("", cmdNodePortSet, "ipset list KUBE-NODE-PORT-TCP",
			"the set that rule matches: the NodePorts of the node"),
		typedAndRun("", cmdNATCount, "iptables-save -t nat | grep -c '^-A'",
			"the seed: a few iptables rules, at most 20, however many Services there are"),
		{Hidden: true, Command: sh(cmdNATSave, "iptables-save -t nat")},
		typedAndRun("== traffic through IPVS (the seed stops at the rules; this is what they are for)", cmdCurlCluster, "curl "+clusterURL,
			"lab: the guest has no curl (and busybox's static wget crashes in its resolver): this curl is `seedguest curl`, one plain HTTP GET"),
		typedAndRun("", cmdCurlNodePort, "curl "+nodePortURL, NodeIP+" is the node's address (eth0, QEMU user networking)"),
		typedAndRun("", "connections", "ipvsadm -Lnc", ""),
		{Hidden: true, Command: sh(cmdFinalLog, "cat "+ProxierLog)},
		{Hidden: true, Command: sh(cmdStoreLog, "cat "+StoreLog)},
	}
}

// SeedOptions configure RunSeed.
type SeedOptions struct {
	// GuestBinary is the built hack/lab/seedguest (BuildGuest).
	GuestBinary string
	// Out receives the walk-through and the verdict.
	Out io.Writer
	// Timeout bounds the guest run (default 5 minutes).
	Timeout time.Duration
	// SaveDir, when set, receives each command's output as NAME.txt (testdata, debugging).
	SaveDir string
	Logger  *slog.Logger
}

// SeedJob is the lab job of the steps: the guest program as seedguest and kubectl, the two
// manifests in /root, a NIC (the NodePort needs a node address), hostname node1.
func SeedJob(steps []Step, guestBinary string, timeout time.Duration) (kernellab.Job, error) {
	svc, err := manifests.FS.ReadFile(manifests.ServiceIPVS)
	if err != nil {
		return kernellab.Job{}, err
	}
	cfg, err := manifests.FS.ReadFile(manifests.KubeProxyIPVS)
	if err != nil {
		return kernellab.Job{}, err
	}
	job := kernellab.Job{
		Name: "seed",
		Files: []kernellab.File{
			{Path: GuestPath, Source: guestBinary, Mode: 0o755},
			{Path: "/usr/bin/kubectl", Data: wrapper("kubectl", "the object store of `seedguest node`"), Mode: 0o755},
			{Path: "/usr/bin/curl", Data: wrapper("curl", "one HTTP GET"), Mode: 0o755},
			{Path: GuestHome + "/" + manifests.ServiceIPVS, Data: svc},
			{Path: configInGuest, Data: cfg},
		},
		Network:  &kernellab.Network{},
		Hostname: NodeName,
		Timeout:  timeout,
	}
	for _, s := range steps {
		if s.runs() {
			job.Commands = append(job.Commands, s.Command)
		}
	}
	return job, nil
}

// wrapper is a guest script that makes `seedguest CMD` answer to the name CMD.
func wrapper(cmd, what string) []byte {
	return fmt.Appendf(nil, "#!/bin/sh\n# The lab's %s: %s (hack/lab/seedguest, hack/lab/scenario).\nexec seedguest %s \"$@\"\n", cmd, what, cmd)
}

// RunSeed boots the lab, walks through the steps printing each as it completes, and returns
// the verdicts. The error is for a run that did not complete (QEMU, timeout, Ctrl-C); failed
// checks are in the verdicts.
func RunSeed(ctx context.Context, l *kernellab.Lab, opts SeedOptions) ([]Verdict, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	steps := SeedSteps()
	job, err := SeedJob(steps, opts.GuestBinary, opts.Timeout)
	if err != nil {
		return nil, err
	}
	cfg, _ := manifests.FS.ReadFile(manifests.KubeProxyIPVS)
	p := &printer{out: opts.Out, steps: steps}
	job.OnDone = p.done
	fmt.Fprintf(opts.Out, "The seed tutorial, sections 2 to 4.1, on lab node %s (a real Linux kernel with IPVS under QEMU; `$` lines are what the reader types):\n", NodeName)
	res, runErr := l.Run(ctx, job)
	p.flush()
	if runErr != nil {
		return nil, runErr
	}
	outs := map[string]kernellab.CommandResult{}
	for _, c := range res.Commands {
		outs[c.Name] = c
	}
	if opts.SaveDir != "" {
		if err := SaveOutputs(opts.SaveDir, res.Commands); err != nil {
			return nil, err
		}
	}
	return Judge(cfg, outs), nil
}

// SaveOutputs writes each command's output to dir as FileName(name).
func SaveOutputs(dir string, cmds []kernellab.CommandResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range cmds {
		if err := os.WriteFile(filepath.Join(dir, FileName(c.Name)), []byte(c.Output), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// FileName turns a command name into a file name: runs of characters other than letters,
// digits, '.' and '_' become one '-', and ".txt" is added.
func FileName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-") + ".txt"
}

// printer prints each step when its command has finished: the steps before it that run
// nothing (notes), then its heading, typed line, note and output.
type printer struct {
	mu    sync.Mutex
	out   io.Writer
	steps []Step
	next  int
}

func (p *printer) done(c kernellab.CommandResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.next < len(p.steps) {
		s := p.steps[p.next]
		p.next++
		if !s.runs() {
			p.print(s, nil)
			continue
		}
		if s.Command.Name != c.Name {
			// The guest reports commands in order, so this is a step that never ran.
			p.print(s, &kernellab.CommandResult{Name: s.Command.Name, ExitCode: -1})
			continue
		}
		p.print(s, &c)
		return
	}
}

// flush prints the notes left after the last command.
func (p *printer) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ; p.next < len(p.steps); p.next++ {
		if s := p.steps[p.next]; !s.runs() {
			p.print(s, nil)
		}
	}
}

func (p *printer) print(s Step, c *kernellab.CommandResult) {
	if s.Hidden {
		return
	}
	if s.Heading != "" {
		fmt.Fprintf(p.out, "\n%s\n", s.Heading)
	}
	if s.Typed != "" {
		for i, l := range strings.Split(s.Typed, "\n") {
			prefix := "$ "
			if i > 0 {
				prefix = "> "
			}
			fmt.Fprintf(p.out, "%s%s\n", prefix, l)
		}
	}
	if s.Note != "" {
		fmt.Fprintf(p.out, "  (%s)\n", s.Note)
	}
	if c == nil {
		return
	}
	out := c.Output
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	fmt.Fprint(p.out, out)
	switch {
	case !c.Finished:
		fmt.Fprintf(p.out, "  [lab: this command did not finish]\n")
	case c.ExitCode != 0:
		fmt.Fprintf(p.out, "  [exit status %d]\n", c.ExitCode)
	}
}
