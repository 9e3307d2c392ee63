package differential

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// Names give addresses that the cluster allocates differently in every run a symbolic name
// taken from the API objects, so that two runs of one scenario compare. The scenarios pin
// what they can (ClusterIPs, NodePorts, external and load-balancer IPs are in their
// manifests); pod IPs cannot be pinned (the node agent hands them out, as a CNI plugin
// would), so they are named here.
type Names map[netip.Addr]string

// PodNames names the pods' IPs: a Pod created by name keeps it ("{nginx-test}"); the
// replicas of a workload are interchangeable, so they are named after the workload and
// numbered in the order of their IPs ("{web#0}", "{web#1}"). Two runs with the same
// number of replicas then name the same endpoints alike, whichever pod got which address.
// Pods without an IP are skipped.
func PodNames(pods []corev1.Pod) Names {
	type member struct {
		addr netip.Addr
		pod  string
	}
	groups := map[string][]member{}
	names := Names{}
	for _, p := range pods {
		for _, ip := range podIPs(p) {
			if w := workload(p); w != "" {
				groups[w] = append(groups[w], member{ip, p.Name})
			} else {
				names[ip] = "{" + p.Name + "}"
			}
		}
	}
	for w, ms := range groups {
		slices.SortFunc(ms, func(a, b member) int { return cmp.Or(a.addr.Compare(b.addr), strings.Compare(a.pod, b.pod)) })
		for i, m := range ms {
			names[m.addr] = fmt.Sprintf("{%s#%d}", w, i)
		}
	}
	return names
}

func podIPs(p corev1.Pod) []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	add(p.Status.PodIP)
	for _, ip := range p.Status.PodIPs {
		add(ip.IP)
	}
	return out
}

// workload is the name of what created the pod: a Deployment's pods are named
// <deployment>-<pod-template-hash>-<random>, other controllers' <owner>-<random>.
func workload(p corev1.Pod) string {
	if p.GenerateName == "" {
		return ""
	}
	base := strings.TrimSuffix(p.GenerateName, "-")
	if h := p.Labels["pod-template-hash"]; h != "" {
		base = strings.TrimSuffix(base, "-"+h)
	}
	return base
}

// placeholderNet holds the placeholders: 240.0.0.0/8 (reserved, "future use") is never a
// pod, Service or node address, so a placeholder cannot collide with a real one.
var placeholderNet = netip.MustParsePrefix("240.0.0.0/8")

// Symbols assign one placeholder address to each symbolic name of a scenario, the same on
// both sides, so that dataplane.Diff compares the sides' allocated addresses by name.
type Symbols struct {
	byName map[string]netip.Addr
	byAddr map[netip.Addr]string
}

// NewSymbols numbers the names of every side in sorted order.
func NewSymbols(sides ...Names) (*Symbols, error) {
	var all []string
	for _, names := range sides {
		for _, n := range names {
			if !slices.Contains(all, n) {
				all = append(all, n)
			}
		}
	}
	slices.Sort(all)
	s := &Symbols{byName: map[string]netip.Addr{}, byAddr: map[netip.Addr]string{}}
	a := placeholderNet.Addr()
	for _, n := range all {
		a = a.Next()
		if !placeholderNet.Contains(a) {
			return nil, fmt.Errorf("more than %d symbolic names: expected a scenario of a few pods", len(s.byName))
		}
		s.byName[n], s.byAddr[a] = a, n
	}
	return s, nil
}

// Apply returns a copy of st with every address names knows replaced by its name's
// placeholder: IPVS virtual and real servers, link addresses, ipset members and the
// addresses written in iptables rules.
func (s *Symbols) Apply(st dataplane.State, names Names) dataplane.State {
	sub := func(a netip.Addr) netip.Addr {
		if n, ok := names[a]; ok {
			return s.byName[n]
		}
		return a
	}
	out := st
	out.IPVS.Services = slices.Clone(st.IPVS.Services)
	for i := range out.IPVS.Services {
		vs := &out.IPVS.Services[i]
		if vs.Address.IsValid() {
			vs.Address = sub(vs.Address)
		}
		vs.RealServers = slices.Clone(vs.RealServers)
		for j := range vs.RealServers {
			vs.RealServers[j].Address = sub(vs.RealServers[j].Address)
		}
	}
	out.IPVS.Sort()
	out.Links = slices.Clone(st.Links)
	for i := range out.Links {
		addrs := slices.Clone(out.Links[i].Addrs)
		for j, p := range addrs {
			addrs[j] = netip.PrefixFrom(sub(p.Addr()), p.Bits())
		}
		out.Links[i].Addrs = addrs
	}
	text := func(t string) string {
		return substituteAddrs(t, func(a netip.Addr) string { return sub(a).String() })
	}
	out.IPSets = slices.Clone(st.IPSets)
	for i := range out.IPSets {
		ms := slices.Clone(out.IPSets[i].Members)
		for j := range ms {
			m := &ms[j]
			if m.IP.IsValid() {
				m.IP = sub(m.IP)
			}
			if m.IP2.IsValid() {
				m.IP2 = sub(m.IP2)
			}
			if m.Net.IsValid() {
				m.Net = netip.PrefixFrom(sub(m.Net.Addr()), m.Net.Bits())
			}
			m.Raw = text(m.Raw)
		}
		out.IPSets[i].Members = ms
	}
	out.IPTables = substituteRules(st.IPTables, text)
	out.IP6Tables = substituteRules(st.IP6Tables, text)
	return out
}

// Render prints the placeholders in text (from a diff of applied states) as their names.
func (s *Symbols) Render(text string) string {
	return substituteAddrs(text, func(a netip.Addr) string {
		if n, ok := s.byAddr[a]; ok {
			return n
		}
		return a.String()
	})
}

// renderDifferences prints the placeholders in the differences of applied states as their
// names.
func (s *Symbols) renderDifferences(ds dataplane.Differences) dataplane.Differences {
	out := slices.Clone(ds)
	for i := range out {
		d := &out[i]
		d.Scope, d.Key, d.Want, d.Got, d.Note = s.Render(d.Scope), s.Render(d.Key), s.Render(d.Want), s.Render(d.Got), s.Render(d.Note)
	}
	return out
}

func substituteRules(r dataplane.Ruleset, text func(string) string) dataplane.Ruleset {
	out := dataplane.Ruleset{Tables: slices.Clone(r.Tables)}
	for i := range out.Tables {
		chains := slices.Clone(out.Tables[i].Chains)
		for j := range chains {
			rules := slices.Clone(chains[j].Rules)
			for k := range rules {
				rules[k].Spec = text(rules[k].Spec)
			}
			chains[j].Rules = rules
		}
		out.Tables[i].Chains = chains
	}
	return out
}

// ipv4Token finds IPv4 addresses in set members ("10.244.0.5,tcp:80,10.244.0.5"), rules
// ("-s 10.244.0.5/32") and printed lines. The lab is single-stack IPv4; IPv6 pod addresses
// would pass through unnamed and show up as differences, not hide any.
var ipv4Token = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)

// substituteAddrs rewrites every IPv4 address in t with what repl gives for it.
func substituteAddrs(t string, repl func(netip.Addr) string) string {
	return ipv4Token.ReplaceAllStringFunc(t, func(tok string) string {
		a, err := netip.ParseAddr(tok)
		if err != nil {
			return tok
		}
		return repl(a)
	})
}

// APIServerName names the kubernetes Service's endpoint, and APIServerPort is the port
// it is given in comparisons: kube-apiserver's usual one, since the lab picks a free port
// for it in every run.
const (
	APIServerName = "{apiserver}"
	APIServerPort = 6443
)

// withAPIServer returns the names with the apiserver's address named, and a copy of st
// whose real servers at the apiserver's address and port have APIServerPort instead.
func withAPIServer(st dataplane.State, names Names, apiserver netip.AddrPort) (dataplane.State, Names) {
	if !apiserver.IsValid() {
		return st, names
	}
	out := maps.Clone(names)
	if out == nil {
		out = Names{}
	}
	out[apiserver.Addr()] = APIServerName
	st.IPVS.Services = slices.Clone(st.IPVS.Services)
	for i := range st.IPVS.Services {
		rss := slices.Clone(st.IPVS.Services[i].RealServers)
		for j := range rss {
			if rss[j].Key() == apiserver {
				rss[j].Port = APIServerPort
			}
		}
		st.IPVS.Services[i].RealServers = rss
	}
	return st, out
}
