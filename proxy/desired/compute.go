// Package desired computes, without any I/O, the dataplane upstream kube-proxy v1.37 in
// IPVS mode programs on one node for one IP family: IPVS virtual and real servers, the
// addresses bound on kube-ipvs0, the 17 ipsets and the iptables rules. The reconciler
// compares it with what the kernel holds; the suites assert on it.
//
// Compute is linear in Services plus endpoints and its output order is deterministic.
// Env.Service computes one Service alone, for a proxier that recomputes only what changed
// and assembles the rest from a cache (Env.Assemble).
package desired

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/config"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Input is everything the desired state depends on.
type Input struct {
	Services []*corev1.Service
	Slices   []*discoveryv1.EndpointSlice
	// NodeName picks local endpoints; NodeLabels give the zone for topology hints.
	NodeName   string
	NodeLabels map[string]string
	// NodeIP is the node's primary IP of Family (from the Node object or bindAddress), used
	// like kube-proxy's nodeIP: for nodePortAddresses "primary" and to tell whether
	// loadBalancerSourceRanges admit the node itself. Zero when unknown.
	NodeIP netip.Addr
	// NodePodCIDRs are the Node's spec.podCIDRs, used with detectLocalMode NodeCIDR.
	NodePodCIDRs []netip.Prefix
	// NodeAddresses are the node's local addresses outside kube-ipvs0, loopback excluded.
	// Compute keeps those of Family (and drops IPv6 link-local ones, as kube-proxy does);
	// NodePort virtual servers go on those nodePortAddresses selects, and an externalIP or
	// load-balancer IP found among them is not bound to kube-ipvs0.
	NodeAddresses []netip.Addr
	// Family is 4 or 6: like upstream, one computation covers one IP family. See Merge.
	Family int
	Config config.Config
}

// Result is the desired state and what was left out of it.
type Result struct {
	State dataplane.State
	// Skipped lists the objects (or parts) that produced nothing, with the reason, for logs.
	Skipped []Skip
}

// Skip records an object, or part of one, that the desired state leaves out.
type Skip struct {
	Kind      string // "Service" or "EndpointSlice"
	Namespace string
	Name      string
	Reason    string
}

func (s Skip) String() string {
	return s.Kind + " " + s.Namespace + "/" + s.Name + ": " + s.Reason
}

// Env holds what Compute derives once per sync from the node and the configuration, so that
// Services can be computed one at a time.
type Env struct {
	family        int
	addressType   discoveryv1.AddressType
	nodeName      string
	zone          string
	nodeIP        netip.Addr
	nodeAddrs     []netip.Addr // this family's node addresses, sorted
	nodePortIPs   []netip.Addr // the subset nodePortAddresses selects, sorted
	scheduler     string
	schedFlags    uint32
	externalIPs   bool
	masqueradeAll bool
	// notLocal is the match that selects traffic from outside the cluster's pods
	// ("! -s 10.244.0.0/16"), empty when no local-traffic detector is configured.
	notLocal string
	masqMark uint32
	timeouts dataplane.Timeouts
}

// NewEnv prepares the per-sync data; Input.Services and Input.Slices are not read.
func NewEnv(in Input) *Env {
	cfg := in.Config
	e := &Env{
		family:        in.Family,
		addressType:   discoveryv1.AddressTypeIPv4,
		nodeName:      in.NodeName,
		zone:          in.NodeLabels[labelZone],
		scheduler:     cfg.IPVS.Scheduler,
		masqueradeAll: cfg.MasqueradeAll,
		externalIPs:   true,
		masqMark:      1 << uint(cfg.MasqueradeBit&31),
		timeouts: dataplane.Timeouts{
			TCP:    uint32(cfg.IPVS.TCPTimeout / time.Second),
			TCPFin: uint32(cfg.IPVS.TCPFinTimeout / time.Second),
			UDP:    uint32(cfg.IPVS.UDPTimeout / time.Second),
		},
	}
	if e.family != 6 {
		e.family = 4
	} else {
		e.addressType = discoveryv1.AddressTypeIPv6
	}
	if e.scheduler == "" {
		e.scheduler = config.DefaultScheduler
	}
	if e.scheduler == "mh" {
		// kube-proxy sets IP_VS_SVC_F_SCHED2 (ipvsadm prints "mh-port") so that mh hashes
		// the source port too.
		e.schedFlags = dataplane.SchedFlag2
	}
	if on, set := cfg.FeatureGates["AllowServiceExternalIPs"]; set && !on {
		e.externalIPs = false
	}
	if in.NodeIP.IsValid() && dataplane.IPFamily(in.NodeIP.Unmap()) == e.family {
		e.nodeIP = in.NodeIP.Unmap()
	}
	for _, a := range in.NodeAddresses {
		a = a.Unmap()
		if !a.IsValid() || dataplane.IPFamily(a) != e.family || a.IsLoopback() || (e.family == 6 && a.IsLinkLocalUnicast()) {
			continue
		}
		e.nodeAddrs = append(e.nodeAddrs, a)
	}
	slices.SortFunc(e.nodeAddrs, netip.Addr.Compare)
	e.nodeAddrs = slices.Compact(e.nodeAddrs)
	prefixes := cfg.NodePortPrefixes(e.family, e.nodeIP)
	for _, a := range e.nodeAddrs {
		for _, p := range prefixes {
			if p.Contains(a) {
				e.nodePortIPs = append(e.nodePortIPs, a)
				break
			}
		}
	}
	e.notLocal = notLocalMatch(cfg, e.family, in.NodePodCIDRs)
	return e
}

// notLocalMatch is kube-proxy's LocalTrafficDetector.IfNotLocal for this family.
func notLocalMatch(cfg config.Config, family int, podCIDRs []netip.Prefix) string {
	switch cfg.DetectLocalMode {
	case config.DetectLocalClusterCIDR, "":
		if p, ok := cfg.ClusterCIDR(family); ok {
			return "! -s " + p.Masked().String()
		}
	case config.DetectLocalNodeCIDR:
		for _, p := range podCIDRs {
			if dataplane.IPFamily(p.Addr()) == family {
				return "! -s " + p.Masked().String()
			}
		}
	case config.DetectLocalBridgeInterface:
		return "! -i " + cfg.BridgeInterface
	case config.DetectLocalInterfaceNamePrefix:
		return "! -i " + cfg.InterfaceNamePrefix + "+"
	}
	return ""
}

// ServiceState is one Service's share of the desired state.
type ServiceState struct {
	Service types.NamespacedName
	// VirtualServers are sorted by key; each has its own RealServers slice.
	VirtualServers []dataplane.VirtualServer
	// Bind lists the addresses the Service needs on kube-ipvs0, sorted.
	Bind []netip.Addr
	// Members holds the members this Service puts in sets, one entry
	// per set it uses: a Service uses two or three of the NumSets, and the proxier keeps
	// a state per Service.
	Members []SetMembers
	// OutFilterDrops are KUBE-IPVS-OUT-FILTER rules that keep the node itself from load
	// balancer IPs whose source ranges exclude it.
	OutFilterDrops []string
	Skipped        []Skip
	// NoLocalInternal and NoLocalExternal say that a virtual server of a Local traffic
	// policy (internal, external) found endpoints but none on this node, so it got every
	// endpoint (or none) instead: kube-proxy's sync_proxy_rules_no_local_endpoints_total
	// counts such Services, per policy.
	NoLocalInternal, NoLocalExternal bool
}

// SetMembers are the members a Service puts in one set.
type SetMembers struct {
	Set     SetID
	Members []dataplane.Member
}

// addMembers appends members to the list of a set.
func (st *ServiceState) addMembers(id SetID, ms ...dataplane.Member) {
	if len(ms) == 0 {
		return
	}
	for i := range st.Members {
		if st.Members[i].Set == id {
			st.Members[i].Members = append(st.Members[i].Members, ms...)
			return
		}
	}
	st.Members = append(st.Members, SetMembers{Set: id, Members: slices.Clone(ms)})
}

// Empty tells whether the Service puts nothing in the kernel (it may still carry skip notes).
func (st *ServiceState) Empty() bool {
	return len(st.VirtualServers) == 0 && len(st.Bind) == 0 && len(st.Members) == 0 && len(st.OutFilterDrops) == 0
}

// Compute returns the desired state of one IP family of one node.
func Compute(in Input) Result {
	env := NewEnv(in)
	bySvc, skipped := SlicesByService(in.Slices)
	for _, list := range bySvc {
		for _, s := range list {
			env.checkSlice(s, &skipped)
		}
	}
	svcs := make([]*corev1.Service, 0, len(in.Services))
	for _, s := range in.Services {
		if s != nil {
			svcs = append(svcs, s)
		}
	}
	slices.SortFunc(svcs, func(a, b *corev1.Service) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	states := make([]ServiceState, 0, len(svcs))
	for _, svc := range svcs {
		nn := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		states = append(states, env.Service(svc, bySvc[nn]))
	}
	res := env.Assemble(states)
	res.Skipped = append(skipped, res.Skipped...)
	return res
}

// Service computes one Service with the EndpointSlices that name it (from SlicesByService).
func (e *Env) Service(svc *corev1.Service, svcSlices []*discoveryv1.EndpointSlice) ServiceState {
	st := ServiceState{Service: types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}}
	skip := func(reason string) ServiceState {
		st.Skipped = append(st.Skipped, Skip{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Reason: reason})
		return st
	}
	if name, ok := svc.Labels[LabelServiceProxyName]; ok {
		return skip("label " + LabelServiceProxyName + "=" + quote(name) + ": another proxy serves it")
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return skip("headless (clusterIP " + quote(svc.Spec.ClusterIP) + "): DNS serves it, no virtual server")
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return skip("type ExternalName: DNS serves it, no virtual server")
	}
	rawIP := clusterIPForFamily(svc, e.family)
	if rawIP == "" {
		return skip("no IPv" + strconv.Itoa(e.family) + " cluster IP; only the other family's computation covers it")
	}
	clusterIP, ok := parseIP(rawIP)
	if !ok || dataplane.IPFamily(clusterIP) != e.family {
		return skip("cluster IP " + quote(rawIP) + " is not an IPv" + strconv.Itoa(e.family) + " address")
	}
	if len(svc.Spec.Ports) == 0 {
		return skip("no ports")
	}

	s := e.newServiceInfo(svc, &st)
	for i := range svc.Spec.Ports {
		e.servicePort(svc, &svc.Spec.Ports[i], clusterIP, &s, svcSlices, &st)
	}

	slices.SortFunc(st.VirtualServers, func(a, b dataplane.VirtualServer) int { return a.Key().Compare(b.Key()) })
	slices.SortFunc(st.Bind, netip.Addr.Compare)
	st.Bind = slices.Compact(st.Bind)
	return st
}

// serviceInfo is what every port of a Service shares.
type serviceInfo struct {
	externalIPs   []netip.Addr // this family's, gated by AllowServiceExternalIPs
	anyExternalIP bool         // ungated, as kube-proxy's ExternallyAccessible reads it
	lbVIPs        []netip.Addr
	sourceRanges  []netip.Prefix
	internalLocal bool
	externalLocal bool
	healthCheck   int32
	persistent    bool
	timeout       uint32
}

func (e *Env) newServiceInfo(svc *corev1.Service, st *ServiceState) serviceInfo {
	var s serviceInfo
	spec := &svc.Spec
	externallyAccessible := spec.Type == corev1.ServiceTypeLoadBalancer || spec.Type == corev1.ServiceTypeNodePort ||
		(spec.Type == corev1.ServiceTypeClusterIP && len(spec.ExternalIPs) > 0)
	s.externalLocal = externallyAccessible && spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	s.internalLocal = spec.InternalTrafficPolicy != nil && *spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	if spec.Type == corev1.ServiceTypeLoadBalancer && s.externalLocal {
		s.healthCheck = spec.HealthCheckNodePort
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		s.persistent = true
		s.timeout = uint32(corev1.DefaultClientIPServiceAffinitySeconds)
		if c := spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			s.timeout = uint32(*c.ClientIP.TimeoutSeconds)
		}
	}
	for _, raw := range spec.ExternalIPs {
		a, ok := parseIP(raw)
		if !ok {
			st.Skipped = append(st.Skipped, Skip{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name,
				Reason: "externalIP " + quote(raw) + " is not an IP address; ignored"})
			continue
		}
		if dataplane.IPFamily(a) != e.family {
			continue
		}
		s.anyExternalIP = true
		if e.externalIPs {
			s.externalIPs = append(s.externalIPs, a)
		}
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP == "" || (ing.IPMode != nil && *ing.IPMode != corev1.LoadBalancerIPModeVIP) {
			continue // a hostname, or ipMode Proxy: the load balancer delivers to the node
		}
		a, ok := parseIP(ing.IP)
		if !ok {
			st.Skipped = append(st.Skipped, Skip{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name,
				Reason: "load balancer ingress IP " + quote(ing.IP) + " is not an IP address; ignored"})
			continue
		}
		if dataplane.IPFamily(a) == e.family {
			s.lbVIPs = append(s.lbVIPs, a)
		}
	}
	for _, raw := range spec.LoadBalancerSourceRanges {
		p, ok := parseCIDR(strings.TrimSpace(raw))
		if !ok {
			st.Skipped = append(st.Skipped, Skip{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name,
				Reason: "loadBalancerSourceRanges entry " + quote(raw) + " is not a CIDR; ignored"})
			continue
		}
		if dataplane.IPFamily(p.Addr()) != e.family {
			continue
		}
		if p.Bits() == 0 {
			// kube-proxy reads a range that admits everything as no restriction at all.
			s.sourceRanges = nil
			break
		}
		s.sourceRanges = append(s.sourceRanges, p)
	}
	return s
}

// servicePort adds what one port of a Service programs, in kube-proxy's order.
func (e *Env) servicePort(svc *corev1.Service, port *corev1.ServicePort, clusterIP netip.Addr, s *serviceInfo, svcSlices []*discoveryv1.EndpointSlice, st *ServiceState) {
	portSkip := func(reason string) {
		st.Skipped = append(st.Skipped, Skip{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name,
			Reason: "port " + quote(port.Name) + ": " + reason})
	}
	proto, ok := protocolOf(port.Protocol)
	if !ok {
		portSkip("protocol " + quote(string(port.Protocol)) + " is not TCP, UDP or SCTP; ignored")
		return
	}
	if port.Port <= 0 || port.Port > 65535 {
		portSkip("port number " + strconv.Itoa(int(port.Port)) + " is outside 1-65535; ignored")
		return
	}
	if port.NodePort < 0 || port.NodePort > 65535 {
		portSkip("nodePort " + strconv.Itoa(int(port.NodePort)) + " is outside 0-65535; ignored")
		return
	}
	svcPort := uint16(port.Port)
	lproto := proto.Lower()

	eps := e.portEndpoints(svcSlices, port.Name, port.Protocol)
	pol := portPolicy{
		internalLocal:        s.internalLocal,
		externalLocal:        s.externalLocal,
		externallyAccessible: port.NodePort != 0 || len(s.lbVIPs) != 0 || s.anyExternalIP,
	}
	cluster, local := e.categorize(eps, pol)
	// pick is kube-proxy's syncEndpoint: with a Local policy, the local endpoints, or, when
	// this node has none, every cluster endpoint (kubernetes#97081; see proxy/README.md).
	pick := func(onlyLocal bool) []dataplane.RealServer {
		if onlyLocal && len(local) > 0 {
			return realServers(local)
		}
		if onlyLocal && anyUsable(eps) {
			// As kube-proxy marks it, by the Service's policies, not the virtual server's.
			st.NoLocalInternal = st.NoLocalInternal || s.internalLocal
			st.NoLocalExternal = st.NoLocalExternal || s.externalLocal
		}
		return realServers(cluster)
	}
	vs := func(addr netip.Addr, p uint16, onlyLocal bool) {
		st.VirtualServers = append(st.VirtualServers, dataplane.VirtualServer{
			Protocol:    proto,
			Address:     addr,
			Port:        p,
			Scheduler:   e.scheduler,
			Persistent:  s.persistent,
			Timeout:     persistTimeout(s),
			SchedFlags:  e.schedFlags,
			RealServers: pick(onlyLocal),
		})
	}

	// Hairpin: traffic from a local endpoint to itself through the service is masqueraded.
	for i := range eps {
		if eps[i].local {
			a := eps[i].addr
			st.addMembers(SetLoopBack, dataplane.Member{IP: a, Proto: lproto, Port: eps[i].port, IP2: a})
		}
	}

	st.addMembers(SetClusterIP, ipPortMember(clusterIP, lproto, svcPort))
	vs(clusterIP, svcPort, s.internalLocal)
	st.Bind = append(st.Bind, clusterIP)

	for _, ip := range s.externalIPs {
		if s.externalLocal {
			st.addMembers(SetExternalIPLocal, ipPortMember(ip, lproto, svcPort))
		} else {
			st.addMembers(SetExternalIP, ipPortMember(ip, lproto, svcPort))
		}
		vs(ip, svcPort, s.externalLocal)
		if !e.isNodeAddr(ip) {
			st.Bind = append(st.Bind, ip)
		}
	}

	for _, ip := range s.lbVIPs {
		m := ipPortMember(ip, lproto, svcPort)
		st.addMembers(SetLoadBalancer, m)
		if s.externalLocal {
			st.addMembers(SetLoadBalancerLocal, m)
		}
		if len(s.sourceRanges) > 0 {
			st.addMembers(SetLoadBalancerFW, m)
			allowFromNode := false
			for _, cidr := range s.sourceRanges {
				st.addMembers(SetLoadBalancerSourceCIDR, dataplane.Member{IP: m.IP, Proto: m.Proto, Port: m.Port, Net: cidr.Masked()})
				if e.nodeIP.IsValid() && cidr.Contains(e.nodeIP) {
					allowFromNode = true
				}
			}
			if allowFromNode {
				st.addMembers(SetLoadBalancerSourceIP, dataplane.Member{IP: m.IP, Proto: m.Proto, Port: m.Port, IP2: ip})
			} else {
				st.OutFilterDrops = append(st.OutFilterDrops, outFilterDrop(ip, proto, svcPort))
			}
		}
		vs(ip, svcPort, s.externalLocal)
		if !e.isNodeAddr(ip) {
			st.Bind = append(st.Bind, ip)
		}
	}

	if port.NodePort != 0 {
		if len(e.nodePortIPs) == 0 {
			// kube-proxy skips the rest of the port, health check node port included.
			return
		}
		np := uint16(port.NodePort)
		var set, localSet SetID
		var members []dataplane.Member
		switch proto {
		case dataplane.TCP:
			set, localSet = SetNodePortTCP, SetNodePortLocalTCP
			members = []dataplane.Member{{Port: np}}
		case dataplane.UDP:
			set, localSet = SetNodePortUDP, SetNodePortLocalUDP
			members = []dataplane.Member{{Port: np}}
		case dataplane.SCTP:
			set, localSet = SetNodePortSCTP, SetNodePortLocalSCTP
			members = make([]dataplane.Member, 0, len(e.nodePortIPs))
			for _, ip := range e.nodePortIPs {
				members = append(members, ipPortMember(ip, lproto, np))
			}
		}
		st.addMembers(set, members...)
		if s.externalLocal {
			st.addMembers(localSet, members...)
		}
		for _, ip := range e.nodePortIPs {
			vs(ip, np, s.externalLocal)
		}
	}

	if s.healthCheck > 0 && s.healthCheck <= 65535 {
		st.addMembers(SetHealthCheckNodePort, dataplane.Member{Port: uint16(s.healthCheck)})
	}
}

func persistTimeout(s *serviceInfo) uint32 {
	if s.persistent {
		return s.timeout
	}
	return 0
}

// isNodeAddr tells whether another interface of the node holds the address, in which case
// kube-proxy does not bind it to kube-ipvs0.
func (e *Env) isNodeAddr(a netip.Addr) bool {
	_, found := slices.BinarySearchFunc(e.nodeAddrs, a, netip.Addr.Compare)
	return found
}

// Assemble joins per-Service states (in the order given, which decides conflicts) into the
// node's state: virtual servers sorted by key, kube-ipvs0's addresses, the 17 sets with
// sorted members, and the iptables rules the non-empty sets call for.
func (e *Env) Assemble(states []ServiceState) Result {
	var res Result
	nVS, nBind := 0, 0
	var nMembers [NumSets]int
	var nDrops int
	for i := range states {
		nVS += len(states[i].VirtualServers)
		nBind += len(states[i].Bind)
		for _, sm := range states[i].Members {
			nMembers[sm.Set] += len(sm.Members)
		}
		nDrops += len(states[i].OutFilterDrops)
		res.Skipped = append(res.Skipped, states[i].Skipped...)
	}

	type owned struct {
		vs  dataplane.VirtualServer
		svc int
	}
	all := make([]owned, 0, nVS)
	bind := make([]netip.Addr, 0, nBind)
	var members [NumSets][]dataplane.Member
	for id := range NumSets {
		members[id] = make([]dataplane.Member, 0, nMembers[id])
	}
	drops := make([]string, 0, nDrops)
	for i := range states {
		for _, vs := range states[i].VirtualServers {
			all = append(all, owned{vs, i})
		}
		bind = append(bind, states[i].Bind...)
		for _, sm := range states[i].Members {
			members[sm.Set] = append(members[sm.Set], sm.Members...)
		}
		drops = append(drops, states[i].OutFilterDrops...)
	}

	// Two Services may claim one virtual server (an externalIP:port both list). kube-proxy
	// then lets each sync overwrite the other's real servers; here the first Service wins.
	slices.SortStableFunc(all, func(a, b owned) int { return a.vs.Key().Compare(b.vs.Key()) })
	vss := make([]dataplane.VirtualServer, 0, len(all))
	kept := -1 // the Service whose virtual server was kept last
	for i := range all {
		if i > 0 && all[i].vs.Key() == all[i-1].vs.Key() {
			loser := states[all[i].svc].Service
			res.Skipped = append(res.Skipped, Skip{Kind: "Service", Namespace: loser.Namespace, Name: loser.Name,
				Reason: "virtual server " + all[i].vs.Key().String() + " is already " + states[kept].Service.String() + "'s; ignored"})
			continue
		}
		vss = append(vss, all[i].vs)
		kept = all[i].svc
	}

	slices.SortFunc(bind, netip.Addr.Compare)
	bind = slices.Compact(bind)
	addrs := make([]netip.Prefix, len(bind))
	ipvsIPs := make([]dataplane.Member, len(bind))
	for i, a := range bind {
		addrs[i] = netip.PrefixFrom(a, a.BitLen())
		ipvsIPs[i] = dataplane.Member{IP: a}
	}
	members[SetIPVSIPs] = ipvsIPs

	sets := make([]dataplane.IPSet, NumSets)
	var nonEmpty [NumSets]bool
	for id := range NumSets {
		spec := setSpecs[id]
		set := spec.IPSet(e.family)
		set.Members = sortMembers(members[id])
		nonEmpty[id] = len(set.Members) > 0
		sets[id] = set
	}

	slices.Sort(drops)
	drops = slices.Compact(drops)

	res.State = dataplane.State{
		Node:   e.nodeName,
		IPVS:   dataplane.IPVS{Services: vss, Timeouts: e.timeouts},
		Links:  []dataplane.Link{{Name: DummyInterface, Kind: "dummy", Addrs: addrs}},
		IPSets: sets,
	}
	rules := e.ruleset(nonEmpty, drops)
	if e.family == 6 {
		res.State.IP6Tables = rules
	} else {
		res.State.IPTables = rules
	}
	return res
}

// sortMembers sorts and deduplicates set members in the order `ipset save` lists them
// (ports numerically).
func sortMembers(m []dataplane.Member) []dataplane.Member {
	if len(m) == 0 {
		return nil
	}
	slices.SortFunc(m, dataplane.Member.Compare)
	return slices.Compact(m)
}
