package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// Sysctls are the kernel parameters kube-proxy in IPVS mode sets or reads, with slashes as
// kernel.Kernel's Sysctl takes them; readSysctls adds every net/ipv4/vs one the node has.
// One a node does not have (bridge-nf-call-iptables without br_netfilter) is left out.
var Sysctls = []string{
	"net/ipv4/vs/conntrack",
	"net/ipv4/vs/conn_reuse_mode",
	"net/ipv4/vs/expire_nodest_conn",
	"net/ipv4/vs/expire_quiescent_template",
	"net/ipv4/ip_forward",
	"net/ipv4/conf/all/arp_ignore",
	"net/ipv4/conf/all/arp_announce",
	"net/ipv4/conf/all/route_localnet",
	"net/bridge/bridge-nf-call-iptables",
	"net/netfilter/nf_conntrack_max",
	"net/netfilter/nf_conntrack_tcp_timeout_established",
	"net/netfilter/nf_conntrack_tcp_timeout_close_wait",
	"net/netfilter/nf_conntrack_tcp_timeout_time_wait",
}

// The conntrack table's size, as sysctls.
const (
	conntrackCount = "net/netfilter/nf_conntrack_count"
	conntrackMax   = "net/netfilter/nf_conntrack_max"
)

// readSysctls reads Sysctls and the net/ipv4/vs directory under procSys (empty: not
// listed), keyed by their dotted names.
func readSysctls(sc sysctl.Interface, procSys string) (map[string]string, error) {
	names := slices.Clone(Sysctls)
	if procSys != "" {
		entries, err := os.ReadDir(filepath.Join(procSys, "net/ipv4/vs"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("listing the IPVS sysctls: %w", err)
		}
		for _, e := range entries {
			if n := "net/ipv4/vs/" + e.Name(); !e.IsDir() && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	out := map[string]string{}
	for _, n := range names {
		v, err := sc.Get(n)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
			// Not on this node, or write-only (some net/ipv4/vs entries are).
		case err != nil:
			return nil, err
		default:
			out[strings.ReplaceAll(n, "/", ".")] = v
		}
	}
	return out, nil
}

// readConntrack reads the conntrack table's size; nil when the node has no nf_conntrack.
func readConntrack(sc sysctl.Interface) (*dataplane.Conntrack, error) {
	var c dataplane.Conntrack
	for _, f := range []struct {
		name string
		to   *uint64
	}{{conntrackCount, &c.Count}, {conntrackMax, &c.Max}} {
		v, err := sc.Get(f.name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if *f.to, err = parseCount(v); err != nil {
			return nil, fmt.Errorf("sysctl %s: %w", f.name, err)
		}
	}
	return &c, nil
}

// parseCount reads a /proc/sys counter: a decimal number, its newline optional.
func parseCount(text string) (uint64, error) {
	t := strings.TrimSuffix(text, "\n")
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("expected a decimal count, found %q", text)
	}
	return n, nil
}

// readState reads the node's whole dataplane through k: IPVS with timeouts, links, ipsets,
// the rulesets whose *-save binary the node has (skipped tells of the others), sysctls
// and the conntrack table's size.
func readState(k *kernel.Kernel, node, procSys string, skipped func(error)) (dataplane.State, error) {
	opts := kernel.Everything(node)
	opts.IPTables, opts.IP6Tables = false, false
	s, err := kernel.Read(k, opts)
	if err != nil {
		return s, err
	}
	if err := kernel.ReadRulesetsIfInstalled(k, &s, skipped); err != nil {
		return s, err
	}
	if k.Sysctl == nil {
		return s, nil
	}
	if s.Sysctls, err = readSysctls(k.Sysctl, procSys); err != nil {
		return s, err
	}
	s.Conntrack, err = readConntrack(k.Sysctl)
	return s, err
}
