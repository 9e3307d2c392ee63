package seedwalk

import (
	"fmt"

	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
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
	return Step{Name: StepTools, Heading: lang.T(lang.HeadPrepare), Where: Node,
		Typed: "ipvsadm --version && ipset --version",
		Note:  lang.T(lang.NoteTools)}
}

func modprobeStep() Step {
	return Step{Name: StepModprobe, Where: Node, Typed: "modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack",
		Note: lang.T(lang.NoteModprobe)}
}

func lsmodStep() Step {
	return Step{Name: StepLsmod, Where: Node, Typed: "lsmod | grep -e ip_vs -e nf_conntrack"}
}

func configMapsStep(method string) Step {
	h := lang.T(lang.HeadConfigMap)
	if method == MethodCreation {
		h = lang.T(lang.HeadConfigMapCreated)
	}
	return Step{Name: StepConfigMaps, Heading: h, Typed: "kubectl -n kube-system get configmaps", Note: lang.T(lang.NoteConfigMaps)}
}

func describeStep() Step {
	return Step{Name: StepDescribe, Typed: "kubectl -n kube-system describe configmap kube-proxy"}
}

// EditStep is method 2's edit. kubectl edit opens an editor; the walk's editor is a sed
// script (KUBE_EDITOR) making the one change a person makes in vi.
func editStep(modeBefore string) Step {
	note := lang.T(lang.NoteEdit, modeBefore)
	if modeBefore == "iptables" {
		// The seed's ConfigMap says mode: "", which is iptables on Linux: say why ours differs.
		note = lang.T(lang.NoteEditFromIPTables, modeBefore)
	}
	return Step{Name: StepEdit, Heading: lang.T(lang.HeadMethod2), Typed: "kubectl -n kube-system edit configmap kube-proxy", Note: note}
}

func deletePodsStep() Step {
	return Step{Name: StepDeletePods, Typed: "kubectl -n kube-system delete pod -l k8s-app=kube-proxy"}
}

func waitKubeProxyStep(method string) Step {
	n := lang.T(lang.NoteWaitNewKubeProxy)
	if method == MethodCreation {
		n = lang.T(lang.NoteWaitKubeProxy)
	}
	return Step{Name: StepWaitKubeProxy, Note: n}
}

func kubeProxyPodsStep() Step {
	return Step{Name: StepKubeProxyPods, Typed: "kubectl -n kube-system get pods | grep proxy"}
}

func kubeProxyLogStep(pod string) Step {
	return Step{Name: StepKubeProxyLog, Typed: fmt.Sprintf("kubectl -n kube-system logs %s | grep -E '%s'", pod, LogPattern),
		Note: lang.T(lang.NoteKubeProxyLog)}
}

// FullLogStep keeps the whole log for the verdict.
func fullLogStep(pod string) Step {
	return Step{Name: StepFullLog, Typed: "kubectl -n kube-system logs " + pod, Hidden: true}
}

func proxyModeStep() Step {
	return Step{Name: StepProxyMode, Where: Node, Typed: "curl -sS http://127.0.0.1:10249/proxyMode",
		Note: lang.T(lang.NoteProxyMode)}
}

func ipvsBeforeStep() Step {
	return Step{Name: StepIPVSBefore, Where: Node, Typed: "ipvsadm -Ln",
		Note: lang.T(lang.NoteIPVSBefore)}
}

func leftoversStep() Step {
	return Step{Name: StepLeftovers, Where: Node, Typed: fmt.Sprintf("iptables -t nat -S | grep -E '%s'", LeftoverChainsPattern),
		Note: lang.T(lang.NoteLeftovers)}
}

func manifestStep() Step {
	return Step{Name: StepManifest, Heading: lang.T(lang.HeadManifest), Typed: "cat " + ManifestPath, Note: lang.T(lang.NoteManifest)}
}

func applyStep() Step {
	return Step{Name: StepApply, Heading: lang.T(lang.HeadApply), Typed: "kubectl apply -f " + ManifestPath}
}

func waitServiceStep() Step {
	return Step{Name: StepWaitService, Note: lang.T(lang.NoteWaitService)}
}

func getStep() Step {
	return Step{Name: StepGet, Typed: "kubectl get svc,pods -o wide"}
}

func ipvsStep() Step {
	return Step{Name: StepIPVS, Heading: lang.T(lang.HeadIPVS), Where: Node, Typed: "ipvsadm -Ln"}
}

func kubeIPVS0Step() Step {
	return Step{Name: StepKubeIPVS0, Where: Node, Typed: "ip addr show kube-ipvs0",
		Note: lang.T(lang.NoteKubeIPVS0)}
}

func nodePortChainStep() Step {
	return Step{Name: StepNodePortChain, Heading: lang.T(lang.HeadIPTables), Where: Node, Typed: "iptables -t nat -S KUBE-NODE-PORT"}
}

func nodePortSetStep() Step {
	return Step{Name: StepNodePortSet, Where: Node, Typed: "ipset list KUBE-NODE-PORT-TCP",
		Note: lang.T(lang.NoteNodePortSet)}
}

func natCountStep() Step {
	return Step{Name: StepNATCount, Where: Node, Typed: "iptables -t nat -S | grep -c '^-A'",
		Note: lang.T(lang.NoteNATCount)}
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
	return Step{Name: StepStatsBefore, Heading: lang.T(lang.HeadTraffic),
		Where: Node, Typed: fmt.Sprintf("ipvsadm -Ln --stats -t %s:%d", clusterIP, seedServicePort),
		Note: lang.T(lang.NoteStatsBefore)}
}

func curlClusterStep(clusterIP string) Step {
	return Step{Name: StepCurlCluster, Where: Node, Typed: fmt.Sprintf("curl -sS http://%s/", clusterIP),
		Note: lang.T(lang.NoteCurlClusterIP)}
}

// ClusterIPRequests is how many requests the walk sends to the ClusterIP between the two
// counter listings (curlClusterStep's one GET); the NodePort requests go to another
// virtual server.
const ClusterIPRequests = 1

// StatsAfterStep shows the counters again once the kernel has counted the requests.
func statsAfterStep(clusterIP string) Step {
	return Step{Name: StepStatsAfter, Where: Node, Typed: fmt.Sprintf("ipvsadm -Ln --stats -t %s:%d", clusterIP, seedServicePort),
		Note: lang.T(lang.NoteStatsAfter, ClusterIPRequests, statsWait)}
}

func connsAfterStep(clusterIP string) Step {
	return Step{Name: StepConnsAfter, Where: Node, Typed: fmt.Sprintf("ipvsadm -Ln -t %s:%d", clusterIP, seedServicePort),
		Note: lang.T(lang.NoteConnsAfter)}
}

func curlNodePortStep(nodeIP string) Step {
	return Step{Name: StepCurlNodePort, Where: Node, Typed: fmt.Sprintf("curl -sS http://%s:%d/", nodeIP, seedNodePort),
		Note: lang.T(lang.NoteCurlNodePort, nodeIP)}
}

func curlHostStep(hostNodePort string) Step {
	return Step{Name: StepCurlHost, Typed: fmt.Sprintf("curl -sS http://%s/", hostNodePort),
		Note: lang.T(lang.NoteCurlHost, hostNodePort, seedNodePort)}
}
