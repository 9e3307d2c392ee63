package lang

// Message IDs. A new message is an ID here and an entry below with both languages
// (TestCatalogue fails otherwise); the Chinese headings are the seed's own.
const (
	// The lab walk's introduction and progress.
	IntroTitle         ID = "walk.intro.title"
	IntroControlPlane  ID = "walk.intro.control-plane"
	IntroNode          ID = "walk.intro.node"
	IntroProxy         ID = "walk.intro.kube-proxy"
	IntroSwitch        ID = "walk.intro.switch"
	IntroPrompts       ID = "walk.intro.prompts"
	ProxyUpstream      ID = "walk.proxy.upstream"
	ProxyReference     ID = "walk.proxy.reference"
	SwitchConfigMap    ID = "walk.switch.configmap"
	SwitchCreation     ID = "walk.switch.creation"
	LabCreating        ID = "walk.lab.creating"
	LabUp              ID = "walk.lab.up"
	LabBinariesCached  ID = "walk.lab.binaries-cached"
	WalkStopped        ID = "walk.stopped"
	ExistingTitle      ID = "walk.existing.title"
	ExistingTitleEdits ID = "walk.existing.title-edits"
	ExistingInspector  ID = "walk.existing.inspector"

	// Section headings of the steps.
	HeadPrepare          ID = "step.heading.prepare"
	HeadModulesExisting  ID = "step.heading.modules-existing"
	HeadConfigMap        ID = "step.heading.configmap"
	HeadConfigMapCreated ID = "step.heading.configmap-creation"
	HeadMethod2          ID = "step.heading.method2"
	HeadManifest         ID = "step.heading.manifest"
	HeadApply            ID = "step.heading.apply"
	HeadIPVS             ID = "step.heading.ipvsadm"
	HeadIPTables         ID = "step.heading.iptables"
	HeadTraffic          ID = "step.heading.traffic"

	// Explanations under the typed lines.
	NoteTools            ID = "step.note.tools"
	NoteModprobe         ID = "step.note.modprobe"
	NoteConfigMaps       ID = "step.note.configmaps"
	NoteEdit             ID = "step.note.edit"
	NoteEditFromIPTables ID = "step.note.edit-from-iptables"
	NoteWaitNewKubeProxy ID = "step.note.wait-new-kube-proxy"
	NoteWaitKubeProxy    ID = "step.note.wait-kube-proxy"
	NoteKubeProxyLog     ID = "step.note.kube-proxy-log"
	NoteProxyMode        ID = "step.note.proxy-mode"
	NoteProxyModeInspect ID = "step.note.proxy-mode-inspector"
	NoteIPVSBefore       ID = "step.note.ipvsadm-before"
	NoteLeftovers        ID = "step.note.leftovers"
	NoteManifest         ID = "step.note.manifest"
	NoteManifestExisting ID = "step.note.manifest-existing"
	NoteWaitService      ID = "step.note.wait-service"
	NoteIPVSDump         ID = "step.note.ipvsdump"
	NoteKubeIPVS0        ID = "step.note.kube-ipvs0"
	NoteNodePortSet      ID = "step.note.nodeport-set"
	NoteNATCount         ID = "step.note.nat-count"
	NoteCurlClusterIP    ID = "step.note.curl-clusterip"
	NoteCurlNodePort     ID = "step.note.curl-nodeport"
	NoteCurlHost         ID = "step.note.curl-host"
	NoteCurlHostExisting ID = "step.note.curl-host-existing"
	NoteStatsBefore      ID = "step.note.stats-before"
	NoteStatsInspector   ID = "step.note.stats-inspector"
	NoteStatsAfter       ID = "step.note.stats-after"
	NoteConnsAfter       ID = "step.note.conns-after"
	StepExitStatus       ID = "step.exit-status"
	StepLabError         ID = "step.lab-error"

	// Section 1: what the student will see, each claim proven by a line of the output.
	SeeHeading     ID = "see.heading"
	SeeIntro       ID = "see.intro"
	SeeClaim       ID = "see.claim"
	SeePointer     ID = "see.pointer"
	SeeProof       ID = "see.proof"
	SeeNotShown    ID = "see.not-shown"
	ClaimKubeIPVS0 ID = "see.claim.kube-ipvs0"
	ClaimVirtual   ID = "see.claim.virtual-server"
	ClaimInput     ID = "see.claim.input"
	ClaimMasq      ID = "see.claim.masq"
	ClaimFewRules  ID = "see.claim.few-rules"
	ClaimIPSets    ID = "see.claim.ipsets"

	// The verdict.
	VerdictHeading  ID = "verdict.heading"
	VerdictPass     ID = "verdict.pass"
	VerdictFail     ID = "verdict.fail"
	VerdictSummary  ID = "verdict.summary"
	VerdictOnNode   ID = "verdict.on-node"
	VerdictWithNote ID = "verdict.with-note"

	// The walk's own checks (hack/report/seedwalk).
	CheckModules          ID = "check.modules"
	CheckConfigCreation   ID = "check.config-creation"
	CheckConfigEdited     ID = "check.config-edited"
	CheckPodsRunning      ID = "check.pods-running"
	CheckPodsReplaced     ID = "check.pods-replaced"
	CheckLogIPVS          ID = "check.log-ipvs"
	CheckLogScheduler     ID = "check.log-scheduler"
	CheckNoDeprecationRef ID = "check.deprecation-reference"
	CheckDeprecation      ID = "check.deprecation"
	CheckNoDeprecation    ID = "check.no-deprecation"
	CheckProxyMode        ID = "check.proxy-mode"
	CheckGet              ID = "check.get"

	// The tutorial's checks table (framework/tutorial).
	CheckClusterIPBlock  ID = "check.clusterip-block"
	CheckClusterIPServer ID = "check.clusterip-server"
	CheckNodePortServer  ID = "check.nodeport-server"
	CheckKubeIPVS0       ID = "check.kube-ipvs0"
	CheckNodePortRule    ID = "check.nodeport-rule"
	CheckNodePortSet     ID = "check.nodeport-set"
	CheckNATBudget       ID = "check.nat-budget"
	CheckNoChains        ID = "check.no-service-chains"
	CheckNoChainsLeft    ID = "check.no-service-chains-leftovers"
	CheckTrafficCluster  ID = "check.traffic-clusterip"
	CheckTrafficNodePort ID = "check.traffic-nodeport"
	CheckTrafficHost     ID = "check.traffic-host"
	CheckTrafficCounters ID = "check.traffic-counters"
	NoteCounters         ID = "check.note.counters"
	NoteCountersConns    ID = "check.note.counters-connections"
	NoteOtherAddresses   ID = "check.note.other-addresses"
	NoteLeftoverRules    ID = "check.note.leftover-rules"
	NoteRuleCount        ID = "check.note.rule-count"

	// The worksheet (make lab-worksheet).
	SheetTitle       ID = "sheet.title"
	SheetRun         ID = "sheet.run"
	SheetHowTo       ID = "sheet.how-to"
	SheetOnHost      ID = "sheet.on-host"
	SheetOnNode      ID = "sheet.on-node"
	SheetQuestion    ID = "sheet.question"
	SheetAnswer      ID = "sheet.answer"
	SheetVerdict     ID = "sheet.verdict"
	QModules         ID = "sheet.q.modules"
	QMode            ID = "sheet.q.mode"
	QKubeProxyPod    ID = "sheet.q.kube-proxy-pod"
	QProxier         ID = "sheet.q.proxier"
	QProxyMode       ID = "sheet.q.proxy-mode"
	QIPVSBefore      ID = "sheet.q.ipvsadm-before"
	QClusterIP       ID = "sheet.q.clusterip"
	QRealServer      ID = "sheet.q.real-server"
	QKubeIPVS0       ID = "sheet.q.kube-ipvs0"
	QMatchSet        ID = "sheet.q.match-set"
	QSetMembers      ID = "sheet.q.set-members"
	QNATCount        ID = "sheet.q.nat-count"
	QBiggestChain    ID = "sheet.q.biggest-chain"
	QAnswered        ID = "sheet.q.answered"
	ANATCountWithin  ID = "sheet.a.nat-count-within"
	ANATCountBeyond  ID = "sheet.a.nat-count-beyond"
	ALine            ID = "sheet.a.line"
	AOutput          ID = "sheet.a.output"
	ABiggestChain    ID = "sheet.a.biggest-chain"
	ANotInThisOutput ID = "sheet.a.not-in-output"
)

var catalogue = []entry{
	{IntroTitle, "The seed tutorial, sections 2 to 4.1, on the lab cluster:", "种子教程第 2 至 4.1 节,在实验集群上:"},
	{IntroControlPlane, "  control plane  etcd, kube-apiserver, kube-controller-manager %s on 127.0.0.1 (nothing listens beyond loopback)",
		"  控制平面       etcd、kube-apiserver、kube-controller-manager %s,运行在 127.0.0.1(只监听回环地址)"},
	{IntroNode, "  node           %s: Debian's kernel with IPVS under QEMU; its agent plays the kubelet (Pods are network namespaces serving HTTP)",
		"  节点           %s:QEMU 中运行带 IPVS 的 Debian 内核;节点代理充当 kubelet(Pod 是提供 HTTP 服务的网络命名空间)"},
	{IntroProxy, "  kube-proxy     %s (KUBE_PROXY=reference or another release, e.g. KUBE_PROXY=v1.35.4)",
		"  kube-proxy     %s(可用 KUBE_PROXY=reference 或其他版本,例如 KUBE_PROXY=v1.35.4)"},
	{IntroSwitch, "  switch         %s", "  切换方式       %s"},
	{IntroPrompts, `"$ " lines run on the host (kubectl %s against the lab's API server), %q lines on the node; each step's real output follows, then its time.`,
		`"$ " 开头的行在主机上执行(kubectl %s 连接实验集群的 API server),%q 开头的行在节点上执行;每一步之后是它的真实输出和耗时。`},
	{ProxyUpstream, "upstream kube-proxy %s", "上游 kube-proxy %s"},
	{ProxyReference, "the project's reference IPVS proxier (cmd/ipvs-proxier) as kube-proxy", "本项目的参考 IPVS 代理(cmd/ipvs-proxier)充当 kube-proxy"},
	{SwitchConfigMap, "method 2 (the seed's main path): kube-proxy starts in iptables mode; the walk edits the kube-proxy ConfigMap and deletes its pod",
		"3.3.2 方法2(教程的主线):kube-proxy 先以 iptables 模式启动;演练修改 kube-proxy 的 ConfigMap 并删除其 pod"},
	{SwitchCreation, "method 1: mode ipvs in kube-proxy's configuration from the cluster's creation",
		"3.3.1 方法1:集群创建时 kube-proxy 的配置即为 mode ipvs"},
	{LabCreating, "lab: creating the cluster: control plane on 127.0.0.1, node %s booting under QEMU, kube-proxy in %s mode (progress on stderr) ...",
		"lab: 正在创建集群:控制平面在 127.0.0.1,节点 %s 在 QEMU 中启动,kube-proxy 为 %s 模式(进度见 stderr)……"},
	{LabBinariesCached, "lab: upstream %s binaries cached in %s", "lab: 上游 %s 二进制文件已缓存于 %s"},
	{WalkStopped, "the walk stopped: %s", "演练中止:%s"},
	{LabUp, "lab: cluster up in %s", "lab: 集群已就绪,用时 %s"},
	{ExistingTitle, "== the seed tutorial on your cluster, read-only", "== 在你的集群上演练种子教程,只读"},
	{ExistingTitleEdits, "== the seed tutorial on your cluster, read-only but for the ConfigMap switch you allowed",
		"== 在你的集群上演练种子教程,只读(你允许的 ConfigMap 切换除外)"},
	{ExistingInspector, "   every node is read through the node inspector (a DaemonSet the walk deploys and removes); nothing is loaded or written on a node",
		"   每个节点都通过节点检查器读取(演练部署并在结束时删除的 DaemonSet);不在节点上加载或写入任何东西"},

	{HeadPrepare, "2. prepare the node: ipset, ipvsadm and the IPVS modules", "2 环境准备"},
	{HeadModulesExisting, "2. the IPVS modules on every node (the walk loads none: it only reads)", "2 环境准备:每个节点上的 IPVS 模块(演练只读取,不加载)"},
	{HeadConfigMap, "3.2 kube-proxy's configuration: the kube-proxy ConfigMap", "3.2 查看kube-proxy的所有属性信息"},
	{HeadConfigMapCreated, "3.2 kube-proxy's configuration: the kube-proxy ConfigMap (method 1: mode ipvs from the cluster's creation, as kubeadm writes a KubeProxyConfiguration)",
		"3.2 查看kube-proxy的所有属性信息(3.3.1 方法1:资源清单的修改方法,集群创建时即为 mode ipvs)"},
	{HeadMethod2, "3.3.2 method 2: edit the ConfigMap, then delete the kube-proxy pods", "3.3.2 方法2:configmap修改方法"},
	{HeadManifest, "4.1.1 the manifest", "4.1.1 定义资源配置清单"},
	{HeadApply, "4.1.2 apply it", "4.1.2 应用资清配置清单"},
	{HeadIPVS, "4.1.3 the IPVS rules", "4.1.3 查看ipvsadm规则"},
	{HeadIPTables, "4.1.4 the iptables rules", "4.1.4 查看iptables规则"},
	{HeadTraffic, "traffic through IPVS (the seed stops at the rules; this is what they are for)", "经过 IPVS 的流量(教程止于规则;规则正是为此而设)"},

	{NoteTools, "the seed's `yum install ipset ipvsadm -y`: the lab node has no package manager; it carries Debian bookworm's ipvsadm and ipset",
		"即教程的 `yum install ipset ipvsadm -y`:实验节点没有包管理器,自带 Debian bookworm 的 ipvsadm 和 ipset"},
	{NoteModprobe, "the seed's five modprobe lines in one; /etc/modules-load.d is for systemd, which the lab node does not run",
		"教程的五行 modprobe 合为一行;/etc/modules-load.d 由 systemd 读取,实验节点不运行 systemd"},
	{NoteConfigMaps, "the lab's control plane runs no CoreDNS, flannel or kubeadm: the ConfigMaps are the API server's own and kube-proxy's",
		"实验控制平面不运行 CoreDNS、flannel 或 kubeadm:这些 ConfigMap 是 API server 自己的和 kube-proxy 的"},
	{NoteEdit, `the edit, made by KUBE_EDITOR=a sed script instead of vi: in config.conf, mode: %q -> mode: "ipvs"`,
		`这次修改由 KUBE_EDITOR(一个 sed 脚本)代替 vi 完成:config.conf 中 mode: %q -> mode: "ipvs"`},
	{NoteEditFromIPTables, `the edit, made by KUBE_EDITOR=a sed script instead of vi: in config.conf, mode: %q -> mode: "ipvs"; the seed's ConfigMap says mode: "" (kubeadm's default, which is iptables on Linux); the lab cluster writes iptables explicitly`,
		`这次修改由 KUBE_EDITOR(一个 sed 脚本)代替 vi 完成:config.conf 中 mode: %q -> mode: "ipvs";教程的 ConfigMap 写的是 mode: ""(kubeadm 的默认值,在 Linux 上即 iptables),实验集群明确写成 iptables`},
	{NoteWaitNewKubeProxy, "lab: waiting until the DaemonSet's new kube-proxy pod is Ready (a person would run the next command a little later)",
		"lab: 等待 DaemonSet 的新 kube-proxy pod 就绪(人会稍后再执行下一条命令)"},
	{NoteWaitKubeProxy, "lab: waiting until the kube-proxy pod is Ready", "lab: 等待 kube-proxy pod 就绪"},
	{NoteKubeProxyLog, "the seed's `kubectl -n kube-system logs -f kube-proxy-bwvs4`, without -f and with the lines that matter picked out",
		"即教程的 `kubectl -n kube-system logs -f kube-proxy-bwvs4`,去掉 -f,只挑出要紧的行"},
	{NoteProxyMode, "kube-proxy's own answer; the lab node's curl is the node agent's minimal one (a GET)",
		"kube-proxy 自己的回答;实验节点上的 curl 是节点代理的精简版(只做 GET)"},
	{NoteProxyModeInspect, "kube-proxy's own answer, fetched on the node by the inspector", "kube-proxy 自己的回答,由检查器在节点上获取"},
	{NoteIPVSBefore, "only the API server's own Service, `kubernetes`, so far", "目前只有 API server 自己的 Service:`kubernetes`"},
	{NoteLeftovers, "the chains the iptables proxier wrote before the switch; ipvs mode does not remove them (`kube-proxy --cleanup` would); exit status 1 is grep finding none",
		"切换前 iptables 代理写下的链;ipvs 模式不会删除它们(`kube-proxy --cleanup` 才会);退出码 1 表示 grep 一条也没找到"},
	{NoteManifest, "the lab node runs no container images: its agent serves HTTP from the Pod's network namespace on port 80 instead of nginx",
		"实验节点不运行容器镜像:节点代理在 Pod 的网络命名空间里于 80 端口提供 HTTP,代替 nginx"},
	{NoteManifestExisting, "the seed's nginx Pod and NodePort Service, applied in the walk's own namespace", "教程的 nginx Pod 和 NodePort Service,应用在演练自己的命名空间中"},
	{NoteWaitService, "lab: waiting until the Pod is Running and kube-proxy has put the Service into IPVS (a person would look a second later)",
		"lab: 等待 Pod 运行、kube-proxy 把 Service 写入 IPVS(人会晚一秒再看)"},
	{NoteIPVSDump, "ipvsadm -Ln's output byte for byte, read over netlink by the inspector (the node need not have ipvsadm)",
		"与 ipvsadm -Ln 的输出逐字节相同,由检查器经 netlink 读取(节点无需安装 ipvsadm)"},
	{NoteKubeIPVS0, "section 1.2: every ClusterIP is an address of kube-ipvs0", "1.2 关键点:每个 ClusterIP 都是 kube-ipvs0 的一个地址"},
	{NoteNodePortSet, "the set that rule matches: the node's NodePorts", "这条规则匹配的集合:节点的 NodePort"},
	{NoteNATCount, "section 1.3: ipvs mode needs few iptables rules, no more than 20, however many Services there are",
		"1.3 基本流程:无论有多少 Service,ipvs 模式只需极少量的 iptables 规则,不超过 20 条"},
	{NoteCurlClusterIP, "the Pod answers with its name", "Pod 以自己的名字作答"},
	{NoteStatsBefore, "the ClusterIP virtual server's counters before the requests: connections, packets and bytes it forwarded",
		"请求之前 ClusterIP 虚拟服务器的计数器:它转发过的连接数、包数和字节数"},
	{NoteStatsInspector, "ipvsadm -Ln --stats's output, read over netlink by the inspector: TCP %s is the ClusterIP's virtual server",
		"即 ipvsadm -Ln --stats 的输出,由检查器通过 netlink 读取:TCP %s 是 ClusterIP 的虚拟服务器"},
	{NoteStatsAfter, "after the %s request(s) to the ClusterIP: the kernel adds its per-CPU counters up every 2 seconds, so the walk lists them until they show it (at most %s)",
		"向 ClusterIP 发出 %s 个请求之后:内核每 2 秒汇总一次各 CPU 的计数器,所以演练会反复列出,直到计数器体现出请求(最多 %s)"},
	{NoteConnsAfter, "the request's connection, closed: InActConn until its TIME_WAIT ends", "请求的连接已关闭:在 TIME_WAIT 结束前计入 InActConn"},
	{NoteCurlNodePort, "%s is the node's address", "%s 是节点的地址"},
	{NoteCurlHost, "from the host: QEMU forwards %s to the node's port %s", "从主机访问:QEMU 把 %s 转发到节点的 %s 端口"},
	{NoteCurlHostExisting, "from this machine, at %s", "从本机访问 %s"},
	{StepExitStatus, "exit status %s", "退出码 %s"},
	{StepLabError, "lab: %s", "lab: %s"},

	{SeeHeading, "1. what you will see (the seed's 1.2 key points and 1.3 basic flow)", "1 基础知识:你将看到什么(1.2 关键点、1.3 基本流程)"},
	{SeeIntro, "each claim is proven by a line of this run's output, marked [n] under the step that prints it",
		"每一条都由本次运行输出中的一行证明,在打印它的那一步下方以 [n] 标出"},
	{SeeClaim, "  [%s] %s %s", "  [%s] %s %s"},
	{SeePointer, "      -> %s: `%s`", "      -> %s:`%s`"},
	{SeeProof, "  ^ [%s] `%s`", "  ^ [%s] `%s`"},
	{SeeNotShown, "  ^ [%s] not in this output: the claim is not proven on this node", "  ^ [%s] 本输出中没有:这一条在本节点上未得到证明"},
	{ClaimKubeIPVS0, "every Service's ClusterIP is an address of the virtual interface kube-ipvs0 on each node",
		"ipvs会在每个节点上创建一个名为kube-ipvs0的虚拟接口,并将集群所有Service对象的ClusterIP都配置在该接口"},
	{ClaimVirtual, "kube-proxy defines an IPVS virtual server for each Service", "kube-proxy为每个service生成一个虚拟服务器(IPVS Virtual Server)的定义"},
	{ClaimInput, "a packet for a ClusterIP is for an address of the node itself (kube-ipvs0), so it goes up netfilter's INPUT path, where IPVS hooks in and hands it to the Pod: no iptables rule rewrites it",
		"发往clusterIP的数据包直接交给kube-ipvs0(本机地址),于是进入netfilter的INPUT路径,IPVS挂在那里,把它转给Pod:没有iptables规则改写它"},
	{ClaimMasq, "IPVS forwards with the NAT model (Masq)", "默认情况下,这里的ipvs使用的是nat转发模型(Masq)"},
	{ClaimFewRules, "only a handful of iptables rules, no more than 20", "仅仅涉及到极少量的iptables规则(应该不会超过20条)"},
	{ClaimIPSets, "ip sets instead of per-Service chains: one rule matches a set whose members are the NodePorts",
		"用ipset代替每个Service一条链:一条规则匹配一个集合,集合的成员就是NodePort"},

	{VerdictHeading, "== verdict", "== 判定"},
	{VerdictPass, "PASS  %s", "PASS  %s"},
	{VerdictFail, "FAIL  %s", "FAIL  %s"},
	{VerdictSummary, "%s of %s checks passed", "%[2]s 项检查中 %[1]s 项通过"},
	{VerdictOnNode, "%s: %s", "%s:%s"},
	{VerdictWithNote, "%s (%s)", "%s(%s)"},

	{CheckModules, "lsmod lists the seed's modules: %s", "lsmod 列出教程的模块:%s"},
	{CheckConfigCreation, `config.conf says mode: "ipvs" from the cluster's creation (method 1)`, `config.conf 从集群创建起就是 mode: "ipvs"(方法1)`},
	{CheckConfigEdited, `kubectl edit changed config.conf's mode from %q to "ipvs" (method 2)`, `kubectl edit 把 config.conf 的 mode 从 %q 改成了 "ipvs"(方法2)`},
	{CheckPodsRunning, "kubectl -n kube-system get pods shows kube-proxy 1/1 Running", "kubectl -n kube-system get pods 显示 kube-proxy 1/1 Running"},
	{CheckPodsReplaced, "kubectl delete pod -l k8s-app=kube-proxy replaced the pod; the new one is 1/1 Running",
		"kubectl delete pod -l k8s-app=kube-proxy 替换了 pod;新 pod 为 1/1 Running"},
	{CheckLogIPVS, "kube-proxy logs %q (kubectl logs)", "kube-proxy 日志中有 %q(kubectl logs)"},
	{CheckLogScheduler, "ipvs.scheduler is empty and kube-proxy logs %q", "ipvs.scheduler 为空,kube-proxy 日志中有 %q"},
	{CheckNoDeprecationRef, "the reference proxier does not log the ipvs deprecation (it is not upstream kube-proxy)",
		"参考代理不记录 ipvs 弃用日志(它不是上游 kube-proxy)"},
	{CheckDeprecation, "kube-proxy 1.%s logs the ipvs deprecation (1.35 and later)", "kube-proxy 1.%s 记录了 ipvs 弃用日志(1.35 及以后)"},
	{CheckNoDeprecation, "kube-proxy 1.%s does not log an ipvs deprecation (before 1.35)", "kube-proxy 1.%s 没有 ipvs 弃用日志(1.35 之前)"},
	{CheckProxyMode, "kube-proxy's /proxyMode answers ipvs", "kube-proxy 的 /proxyMode 回答 ipvs"},
	{CheckGet, "kubectl get svc,pods -o wide: service/%s NodePort %s 80:%s/TCP, pod/%s 1/1 Running %s on %s",
		"kubectl get svc,pods -o wide:service/%s NodePort %s 80:%s/TCP,pod/%s 1/1 Running %s,在 %s 上"},

	{CheckClusterIPBlock, "ipvsadm -Ln shows the seed's block: TCP %s %s / -> %s Masq 1 0 0", "ipvsadm -Ln 显示教程中的规则块:TCP %s %s / -> %s Masq 1 0 0"},
	{CheckClusterIPServer, "the ClusterIP virtual server TCP %s %s -> %s Masq 1, its only real server", "ClusterIP 虚拟服务器 TCP %s %s -> %s Masq 1,唯一的真实服务器"},
	{CheckNodePortServer, "a NodePort virtual server on the node's address: TCP %s %s -> %s Masq 1", "节点地址上的 NodePort 虚拟服务器:TCP %s %s -> %s Masq 1"},
	{CheckKubeIPVS0, "the ClusterIP %s is on kube-ipvs0 (ip addr show kube-ipvs0)", "ClusterIP %s 在 kube-ipvs0 上(ip addr show kube-ipvs0)"},
	{CheckNodePortRule, "iptables -t nat -S KUBE-NODE-PORT has the seed's rule verbatim", "iptables -t nat -S KUBE-NODE-PORT 中有与教程一字不差的规则"},
	{CheckNodePortSet, "the set that rule matches, KUBE-NODE-PORT-TCP, holds %s", "这条规则匹配的集合 KUBE-NODE-PORT-TCP 中有 %s"},
	{CheckNATBudget, "ipvs mode's nat rules number at most %s", "ipvs 模式的 nat 规则不超过 %s 条"},
	{CheckNoChains, "no iptables rule names %s: its forwarding is IPVS's, and there is no KUBE-SVC- or KUBE-SEP- chain",
		"没有 iptables 规则提到 %s:它的转发由 IPVS 完成,也没有 KUBE-SVC- 或 KUBE-SEP- 链"},
	{CheckNoChainsLeft, "no iptables rule names %s: its forwarding is IPVS's; the KUBE-SVC- and KUBE-SEP- chains are the iptables proxier's leftovers of the switch (%s rules)",
		"没有 iptables 规则提到 %s:它的转发由 IPVS 完成;KUBE-SVC- 和 KUBE-SEP- 链是切换前 iptables 代理的遗留(%s 条规则)"},
	{CheckTrafficCluster, "from the node, the ClusterIP %s reaches the Pod", "从节点访问 ClusterIP %s 能到达 Pod"},
	{CheckTrafficNodePort, "from the node, the NodePort %s reaches the Pod", "从节点访问 NodePort %s 能到达 Pod"},
	{CheckTrafficHost, "from the host, the NodePort (forwarded from %s) reaches the Pod", "从主机访问 NodePort(经 %s 转发)能到达 Pod"},
	{CheckTrafficCounters, "traffic went through IPVS: TCP %s counted the %s request(s) sent to it (Conns and InPkts)",
		"流量经过了 IPVS:TCP %s 计入了发给它的 %s 个请求(Conns 和 InPkts)"},
	{NoteCounters, "Conns %s -> %s, InPkts %s -> %s, OutPkts %s -> %s", "Conns %s -> %s,InPkts %s -> %s,OutPkts %s -> %s"},
	{NoteCountersConns, "%s; then ActiveConn %s, InActConn %s", "%s;随后 ActiveConn %s,InActConn %s"},
	{NoteOtherAddresses, "and on its %s other addresses", "以及它的另外 %s 个地址"},
	{NoteRuleCount, "%s", "%s 条"},
	{NoteLeftoverRules, "%s; %s more are the iptables proxier's leftovers", "%s 条;另有 %s 条是 iptables 代理的遗留"},

	{SheetTitle, "Worksheet: kube-proxy in ipvs mode, the seed tutorial's sections 1 to 4.1", "练习单:ipvs 模式的 kube-proxy,种子教程第 1 至 4.1 节"},
	{SheetRun, "Recorded on a lab cluster: %s, %s, node %s (%s). Every output below is this run's.",
		"记录于实验集群:%s,%s,节点 %s(%s)。下面每段输出都来自这次运行。"},
	{SheetHowTo, "For each step: read the command and its output, answer the question from the output, then open the answer.",
		"每一步:读命令和它的输出,根据输出回答问题,再展开答案核对。"},
	{SheetOnHost, "on the host", "在主机上"},
	{SheetOnNode, "on the node %s", "在节点 %s 上"},
	{SheetQuestion, "**Question:** %s", "**问题:** %s"},
	{SheetAnswer, "Answer", "答案"},
	{SheetVerdict, "Verdict of this run", "本次运行的判定"},
	{QModules, "Which IPVS scheduler modules are loaded besides ip_vs?", "除 ip_vs 外,加载了哪些 IPVS 调度算法模块?"},
	{QMode, "Which proxy mode does config.conf give kube-proxy here?", "这里 config.conf 给 kube-proxy 的代理模式是什么?"},
	{QKubeProxyPod, "Which kube-proxy pod runs now, and how ready is it?", "现在运行的是哪个 kube-proxy pod,就绪情况如何?"},
	{QProxier, "Which proxier did kube-proxy say it uses?", "kube-proxy 说它使用哪种代理(Proxier)?"},
	{QProxyMode, "What does kube-proxy answer on /proxyMode?", "kube-proxy 在 /proxyMode 上回答什么?"},
	{QIPVSBefore, "Which virtual servers exist before the seed's Service is created?", "创建教程的 Service 之前,有哪些虚拟服务器?"},
	{QClusterIP, "Which ClusterIP did the API server give service-test1?", "API server 给 service-test1 分配的 ClusterIP 是什么?"},
	{QRealServer, "Which pod IP receives %s?", "哪个 pod IP 接收发往 %s 的流量?"},
	{QKubeIPVS0, "Which addresses does kube-ipvs0 hold?", "kube-ipvs0 上有哪些地址?"},
	{QMatchSet, "Which ip set does the KUBE-NODE-PORT rule match?", "KUBE-NODE-PORT 规则匹配哪个 ipset?"},
	{QSetMembers, "Which ports are members of that set?", "这个集合的成员是哪些端口?"},
	{QNATCount, "How many rules does the nat table hold? Is that within section 1.3's 20?", "nat 表有多少条规则?是否在 1.3 所说的 20 条以内?"},
	{QBiggestChain, "Which chain holds the most rules?", "哪条链的规则最多?"},
	{QAnswered, "Who answered the request?", "是谁回答了这个请求?"},
	{ANATCountWithin, "%s rules: within 20", "%s 条:在 20 条以内"},
	{ANATCountBeyond, "%s rules: more than 20 (on a node switched by method 2, the iptables proxier's leftovers count too)", "%s 条:超过 20 条(用方法2切换的节点上,iptables 代理的遗留也计算在内)"},
	{AOutput, "`%s`", "`%s`"},
	{ALine, "%s (the line `%s`)", "%s(见 `%s` 这一行)"},
	{ABiggestChain, "%s, with %s rules", "%s,共 %s 条规则"},
	{ANotInThisOutput, "not in this run's output: the step did not show it", "本次运行的输出中没有:这一步没有显示出来"},
}
