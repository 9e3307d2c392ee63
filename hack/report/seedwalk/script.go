package seedwalk

import (
	"fmt"

	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// Names of the steps, the keys of their results in a Record.
const (
	StepTools          = "tools"
	StepModprobe       = "modprobe"
	StepLsmod          = "lsmod"
	StepConfigMaps     = "get configmaps"
	StepDescribe       = "describe configmap"
	StepEdit           = "edit configmap"
	StepDeletePods     = "delete pods"
	StepWaitKubeProxy  = "wait kube-proxy"
	StepKubeProxyPods  = "get kube-proxy pods"
	StepKubeProxyLog   = "kube-proxy log"
	StepFullLog        = "kube-proxy full log"
	StepProxyMode      = "proxyMode"
	StepIPVSBefore     = "ipvsadm before"
	StepLeftovers      = "iptables-mode chains"
	StepManifest       = "manifest"
	StepApply          = "apply"
	StepWaitService    = "wait service"
	StepMetrics        = "kube-proxy metrics"
	StepGet            = "get svc pods"
	StepIPVS           = "ipvsadm"
	StepKubeIPVS0      = "kube-ipvs0"
	StepNodePortChain  = "KUBE-NODE-PORT"
	StepNodePortSet    = "KUBE-NODE-PORT-TCP"
	StepNATCount       = "nat rule count"
	StepNATPerChain    = "nat rules per chain"
	StepNATSave        = "iptables-save nat"
	StepCurlCluster    = "curl ClusterIP"
	StepCurlNodePort   = "curl NodePort"
	StepCurlHost       = "curl NodePort from the host"
	StepStatsBefore    = "ipvsadm stats before"
	StepStatsAfter     = "ipvsadm stats after"
	StepConnsAfter     = "ipvsadm after"
	seedNodePort       = 30089
	seedServicePort    = 80
	seedServiceName    = "service-test1"
	seedPodName        = "nginx-test"
	seedNamespace      = "default"
	kubeProxyNamespace = "kube-system"
)

// ManifestPath is the seed's manifest as the walk applies it, relative to the walk's
// working directory (which holds a copy of the embedded manifests/ file).
const ManifestPath = "manifests/" + manifests.ServiceIPVS

// LeftoverChainsPattern is the grep -E pattern of the chains only the iptables proxier
// writes (framework/kubeproxy's leftover check names the same prefixes).
const LeftoverChainsPattern = "^-N KUBE-(SVC|SEP|EXT|FW|SVL)-"

// LogPattern is the grep -E pattern the walk shows kube-proxy's log through: the proxier
// it chose, the seed's scheduler line and the ipvs deprecation (1.35+).
const LogPattern = "Using [a-z]+ Proxier|scheduler not specified|deprecated"

// Script builds the steps of the walk. Some typed lines hold what the walk only learns on
// the way (the new kube-proxy pod's name, the ClusterIP), so the walk calls the step
// constructors below as it goes; Script lays them out in order from a finished run's
// facts, for tests and for reading.
func Script(f Facts) []Step {
	kpPod := ""
	if len(f.PodsAfter) > 0 {
		kpPod = f.PodsAfter[0]
	}
	steps := []Step{toolsStep(), modprobeStep(), lsmodStep(), configMapsStep(f.Method), describeStep()}
	if f.Method == MethodConfigMap {
		steps = append(steps, editStep(f.ModeBefore), deletePodsStep(), waitKubeProxyStep(f.Method))
	} else {
		steps = append(steps, waitKubeProxyStep(f.Method))
	}
	steps = append(steps, kubeProxyPodsStep(), kubeProxyLogStep(kpPod), fullLogStep(kpPod), proxyModeStep(), ipvsBeforeStep())
	if f.Method == MethodConfigMap {
		steps = append(steps, leftoversStep())
	}
	return append(steps, manifestStep(), applyStep(), waitServiceStep(), getStep(), ipvsStep(), kubeIPVS0Step(),
		nodePortChainStep(), nodePortSetStep(), natCountStep(), natPerChainStep(), natSaveStep(),
		statsBeforeStep(f.ClusterIP), curlClusterStep(f.ClusterIP), curlNodePortStep(f.NodeIP), curlHostStep(f.HostNodePort),
		statsAfterStep(f.ClusterIP), connsAfterStep(f.ClusterIP))
}

func toolsStep() Step {
	return Step{Name: StepTools, Heading: "2. prepare the node: ipset, ipvsadm and the IPVS modules", Where: Node,
		Typed: "ipvsadm --version && ipset --version",
		Note:  "the seed's `yum install ipset ipvsadm -y`: the lab node has no package manager; it carries Debian bookworm's ipvsadm and ipset"}
}

func modprobeStep() Step {
	return Step{Name: StepModprobe, Where: Node, Typed: "modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack",
		Note: "the seed's five modprobe lines in one; /etc/modules-load.d is for systemd, which the lab node does not run"}
}

func lsmodStep() Step {
	return Step{Name: StepLsmod, Where: Node, Typed: "lsmod | grep -e ip_vs -e nf_conntrack"}
}

func configMapsStep(method string) Step {
	h := "3.2 kube-proxy's configuration: the kube-proxy ConfigMap"
	if method == MethodCreation {
		h += " (method 1: mode ipvs from the cluster's creation, as kubeadm writes a KubeProxyConfiguration)"
	}
	return Step{Name: StepConfigMaps, Heading: h, Typed: "kubectl -n kube-system get configmaps",
		Note: "the lab's control plane runs no CoreDNS, flannel or kubeadm: the ConfigMaps are the API server's own and kube-proxy's"}
}

func describeStep() Step {
	return Step{Name: StepDescribe, Typed: "kubectl -n kube-system describe configmap kube-proxy"}
}

// EditStep is method 2's edit. kubectl edit opens an editor; the walk's editor is a sed
// script (KUBE_EDITOR) making the one change a person makes in vi.
func editStep(modeBefore string) Step {
	return Step{Name: StepEdit, Heading: "3.3.2 method 2: edit the ConfigMap, then delete the kube-proxy pods",
		Typed: "kubectl -n kube-system edit configmap kube-proxy",
		Note: fmt.Sprintf("the edit, made by KUBE_EDITOR=a sed script instead of vi: in config.conf, mode: %q -> mode: \"ipvs\"%s",
			modeBefore, modeBeforeNote(modeBefore))}
}

func modeBeforeNote(mode string) string {
	if mode == "iptables" {
		return "; the seed's ConfigMap says mode: \"\" (kubeadm's default, which is iptables on Linux); the lab cluster writes iptables explicitly"
	}
	return ""
}

func deletePodsStep() Step {
	return Step{Name: StepDeletePods, Typed: "kubectl -n kube-system delete pod -l k8s-app=kube-proxy"}
}

func waitKubeProxyStep(method string) Step {
	n := "lab: waiting until the DaemonSet's new kube-proxy pod is Ready (a person would run the next command a little later)"
	if method == MethodCreation {
		n = "lab: waiting until the kube-proxy pod is Ready"
	}
	return Step{Name: StepWaitKubeProxy, Note: n}
}

func kubeProxyPodsStep() Step {
	return Step{Name: StepKubeProxyPods, Typed: "kubectl -n kube-system get pods | grep proxy"}
}

func kubeProxyLogStep(pod string) Step {
	return Step{Name: StepKubeProxyLog, Typed: fmt.Sprintf("kubectl -n kube-system logs %s | grep -E '%s'", pod, LogPattern),
		Note: "the seed's `kubectl -n kube-system logs -f kube-proxy-bwvs4`, without -f and with the lines that matter picked out"}
}

// FullLogStep keeps the whole log for the verdict.
func fullLogStep(pod string) Step {
	return Step{Name: StepFullLog, Typed: "kubectl -n kube-system logs " + pod, Hidden: true}
}

func proxyModeStep() Step {
	return Step{Name: StepProxyMode, Where: Node, Typed: "curl -sS http://127.0.0.1:10249/proxyMode",
		Note: "kube-proxy's own answer; the lab node's curl is the node agent's minimal one (a GET)"}
}

func ipvsBeforeStep() Step {
	return Step{Name: StepIPVSBefore, Where: Node, Typed: "ipvsadm -Ln",
		Note: "only the API server's own Service, `kubernetes`, so far"}
}

func leftoversStep() Step {
	return Step{Name: StepLeftovers, Where: Node, Typed: fmt.Sprintf("iptables -t nat -S | grep -E '%s'", LeftoverChainsPattern),
		Note: "the chains the iptables proxier wrote before the switch; ipvs mode does not remove them (`kube-proxy --cleanup` would); exit status 1 is grep finding none"}
}

func manifestStep() Step {
	return Step{Name: StepManifest, Heading: "4.1.1 the manifest", Typed: "cat " + ManifestPath,
		Note: "the lab node runs no container images: its agent serves HTTP from the Pod's network namespace on port 80 instead of nginx"}
}

func applyStep() Step {
	return Step{Name: StepApply, Heading: "4.1.2 apply it", Typed: "kubectl apply -f " + ManifestPath}
}

func waitServiceStep() Step {
	return Step{Name: StepWaitService,
		Note: "lab: waiting until the Pod is Running and kube-proxy has put the Service into IPVS (a person would look a second later)"}
}

func getStep() Step {
	return Step{Name: StepGet, Typed: "kubectl get svc,pods -o wide"}
}

func ipvsStep() Step {
	return Step{Name: StepIPVS, Heading: "4.1.3 the IPVS rules", Where: Node, Typed: "ipvsadm -Ln"}
}

func kubeIPVS0Step() Step {
	return Step{Name: StepKubeIPVS0, Where: Node, Typed: "ip addr show kube-ipvs0",
		Note: "section 1.2: every ClusterIP is an address of kube-ipvs0"}
}

func nodePortChainStep() Step {
	return Step{Name: StepNodePortChain, Heading: "4.1.4 the iptables rules", Where: Node, Typed: "iptables -t nat -S KUBE-NODE-PORT"}
}

func nodePortSetStep() Step {
	return Step{Name: StepNodePortSet, Where: Node, Typed: "ipset list KUBE-NODE-PORT-TCP",
		Note: "the set that rule matches: the node's NodePorts"}
}

func natCountStep() Step {
	return Step{Name: StepNATCount, Where: Node, Typed: "iptables -t nat -S | grep -c '^-A'",
		Note: "section 1.3: ipvs mode needs few iptables rules, no more than 20, however many Services there are"}
}

func natPerChainStep() Step {
	return Step{Name: StepNATPerChain, Where: Node, Typed: `iptables -t nat -S | awk '$1 == "-A" {print $2}' | sort | uniq -c | sort -rn`}
}

// NATSaveStep keeps the nat table in iptables-save form for the verdict's parser.
func natSaveStep() Step {
	return Step{Name: StepNATSave, Where: Node, Typed: "iptables-save -t nat", Hidden: true}
}

// StatsBeforeStep shows the ClusterIP virtual server's counters before the requests; its
// ActiveConn and InActConn are in the ipvsadm -Ln of 4.1.3.
func statsBeforeStep(clusterIP string) Step {
	return Step{Name: StepStatsBefore, Heading: "traffic through IPVS (the seed stops at the rules; this is what they are for)",
		Where: Node, Typed: fmt.Sprintf("ipvsadm -Ln --stats -t %s:%d", clusterIP, seedServicePort),
		Note: "the ClusterIP virtual server's counters before the requests: connections, packets and bytes it forwarded"}
}

func curlClusterStep(clusterIP string) Step {
	return Step{Name: StepCurlCluster, Where: Node, Typed: fmt.Sprintf("curl -sS http://%s/", clusterIP),
		Note: "the Pod answers with its name"}
}

// ClusterIPRequests is how many requests the walk sends to the ClusterIP between the two
// counter listings (curlClusterStep's one GET); the NodePort requests go to another
// virtual server.
const ClusterIPRequests = 1

// StatsAfterStep shows the counters again once the kernel has counted the requests.
func statsAfterStep(clusterIP string) Step {
	return Step{Name: StepStatsAfter, Where: Node, Typed: fmt.Sprintf("ipvsadm -Ln --stats -t %s:%d", clusterIP, seedServicePort),
		Note: fmt.Sprintf("after the %d request to the ClusterIP: the kernel adds its per-CPU counters up every 2 seconds, so the walk lists them until they show it (at most %s)",
			ClusterIPRequests, statsWait)}
}

func connsAfterStep(clusterIP string) Step {
	return Step{Name: StepConnsAfter, Where: Node, Typed: fmt.Sprintf("ipvsadm -Ln -t %s:%d", clusterIP, seedServicePort),
		Note: "the request's connection, closed: InActConn until its TIME_WAIT ends"}
}

func curlNodePortStep(nodeIP string) Step {
	return Step{Name: StepCurlNodePort, Where: Node, Typed: fmt.Sprintf("curl -sS http://%s:%d/", nodeIP, seedNodePort),
		Note: nodeIP + " is the node's address"}
}

func curlHostStep(hostNodePort string) Step {
	return Step{Name: StepCurlHost, Typed: fmt.Sprintf("curl -sS http://%s/", hostNodePort),
		Note: fmt.Sprintf("from the host: QEMU forwards %s to the node's port %d", hostNodePort, seedNodePort)}
}
