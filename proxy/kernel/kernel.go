// Package kernel gathers the narrow kernel interfaces of one node (IPVS, links, ip sets,
// iptables, sysctls, conntrack) into a Kernel, opens them on Linux or as fakes, and reads
// the node's whole dataplane back as one dataplane.State.
package kernel

import (
	"errors"
	"fmt"
	"io"
	"os/exec"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/conntrack"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipset"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// Kernel is what a proxier or a state reader talks to on one node.
type Kernel struct {
	IPVS     ipvs.Interface
	Links    netif.Interface
	IPSets   ipset.Interface
	IPTables iptables.Interface
	Sysctl   sysctl.Interface
	// ModuleParams are the parameters of loaded modules (/sys/module), read and written
	// like sysctls: the nf_conntrack hash size.
	ModuleParams sysctl.Interface
	// Conntrack is the connection tracking table, for deleting stale UDP entries. A
	// Kernel without it (nil) is still complete for reading and programming IPVS.
	Conntrack conntrack.Interface
}

// Linux opens the kernel the process runs on. It fails with ipvs.CheckKernel's error,
// which names the modules to load, when the kernel has no IPVS. Ip sets and iptables are
// not touched until read: a kind node has no iptables binaries, and reading IPVS there
// must still work.
func Linux() (*Kernel, error) {
	v, err := ipvs.NewLinux() // runs ipvs.CheckKernel first
	if err != nil {
		return nil, err
	}
	links, err := netif.NewLinux()
	if err != nil {
		v.Close()
		return nil, err
	}
	return &Kernel{
		IPVS:         v,
		Links:        links,
		IPSets:       ipset.NewLinux(),
		IPTables:     iptables.NewLinux(),
		Sysctl:       sysctl.NewLinux(),
		ModuleParams: sysctl.NewModuleParams(),
		Conntrack:    conntrack.NewLinux(),
	}, nil
}

// Fake returns a Kernel of empty in-memory fakes that behave like the kernel: an IPVS
// table with the default timeouts, no links, no sets, no rules, no sysctls. Tests reach
// the fakes' extra methods with a type assertion, e.g. k.IPVS.(*ipvs.Fake).
func Fake() *Kernel {
	return &Kernel{
		IPVS:         ipvs.NewFake(),
		Links:        netif.NewFake(),
		IPSets:       ipset.NewFake(),
		IPTables:     iptables.NewFake(),
		Sysctl:       sysctl.NewFake(),
		ModuleParams: sysctl.NewFakeModuleParams(),
		Conntrack:    conntrack.NewFake(),
	}
}

// FakeWith returns fakes that hold the state s, as if a proxier had programmed it: the
// virtual servers with their real servers and connection counters, the timeouts (unless
// zero), the links, the sets and the rulesets (applied with iptables-restore semantics on
// top of the fake's empty built-in tables). Node is not kept: Read takes it from
// ReadOptions.
func FakeWith(s dataplane.State) (*Kernel, error) {
	k := Fake()
	k.Links = netif.NewFake(s.Links...)
	v := k.IPVS.(*ipvs.Fake)
	for _, vs := range s.IPVS.Services {
		if err := v.AddService(vs); err != nil {
			return nil, err
		}
		for _, rs := range vs.RealServers {
			if err := v.AddRealServer(vs.Key(), rs); err != nil {
				return nil, err
			}
			if rs.ActiveConns != 0 || rs.InactiveConns != 0 {
				if err := v.SetConnections(vs.Key(), rs.Key(), rs.ActiveConns, rs.InactiveConns); err != nil {
					return nil, err
				}
			}
		}
	}
	if s.IPVS.Timeouts != (dataplane.Timeouts{}) {
		if err := v.SetTimeouts(s.IPVS.Timeouts); err != nil {
			return nil, err
		}
	}
	for _, set := range s.IPSets {
		if err := k.IPSets.Create(set); err != nil {
			return nil, err
		}
		if err := k.IPSets.Add(set.Name, set.Members...); err != nil {
			return nil, err
		}
	}
	for _, r := range []struct {
		fam iptables.Family
		set dataplane.Ruleset
	}{{iptables.IPv4, s.IPTables}, {iptables.IPv6, s.IP6Tables}} {
		if len(r.set.Tables) > 0 {
			if err := k.IPTables.Restore(r.fam, []byte(dataplane.FormatIPTablesSave(r.set))); err != nil {
				return nil, err
			}
		}
	}
	return k, nil
}

// Close releases the kernel handles (netlink sockets) of every part that holds one.
func (k *Kernel) Close() error {
	var errs []error
	for _, part := range []any{k.IPVS, k.Links, k.IPSets, k.IPTables, k.Sysctl, k.Conntrack} {
		if c, ok := part.(io.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// ReadOptions says which parts of the dataplane Read gathers. Each is optional so that a
// reader on a host lacking a tool (a kind node has no iptables or ipset binaries) can
// still read the rest.
type ReadOptions struct {
	// Node is copied into State.Node.
	Node string
	// IPVS reads the virtual servers with their real servers, Timeouts the IPVS timeouts.
	IPVS     bool
	Timeouts bool
	// Stats reads, with IPVS, the traffic counters of every virtual and real server
	// (dataplane.Stats and Rates); the IPVS handle must be an ipvs.StatsReader.
	Stats bool
	// Links reads every link with its addresses (kube-ipvs0 among them).
	Links bool
	// IPSets reads every ip set with its members.
	IPSets bool
	// IPTables and IP6Tables read the IPv4 and IPv6 rulesets: the tables named in Tables,
	// or all of them when Tables is empty.
	IPTables  bool
	IP6Tables bool
	Tables    []string
}

// Everything reads every part of the dataplane.
func Everything(node string) ReadOptions {
	return ReadOptions{Node: node, IPVS: true, Timeouts: true, Links: true, IPSets: true, IPTables: true, IP6Tables: true}
}

// Read gathers the parts of the dataplane that opts asks for. A part that fails is left
// empty and its error, which names the part, is joined into the returned error; the
// parts that were read are returned all the same.
func Read(k *Kernel, opts ReadOptions) (dataplane.State, error) {
	s := dataplane.State{Node: opts.Node}
	var errs []error
	read := func(asked bool, part string, iface any, f func() error) {
		if !asked {
			return
		}
		if iface == nil {
			errs = append(errs, fmt.Errorf("reading %s: this Kernel has no interface for it", part))
			return
		}
		if err := f(); err != nil {
			errs = append(errs, fmt.Errorf("reading %s: %w", part, err))
		}
	}
	read(opts.IPVS, "IPVS services", k.IPVS, func() (err error) {
		if opts.Stats {
			r, ok := k.IPVS.(ipvs.StatsReader)
			if !ok {
				return fmt.Errorf("this IPVS handle (%T) does not read the kernel's traffic counters: expected the Linux one", k.IPVS)
			}
			s.IPVS.Services, err = r.ServicesWithStats()
			return err
		}
		s.IPVS.Services, err = k.IPVS.Services()
		return err
	})
	read(opts.Timeouts, "IPVS timeouts", k.IPVS, func() (err error) {
		s.IPVS.Timeouts, err = k.IPVS.Timeouts()
		return err
	})
	read(opts.Links, "links", k.Links, func() (err error) {
		s.Links, err = k.Links.Links()
		return err
	})
	read(opts.IPSets, "ipsets", k.IPSets, func() (err error) {
		s.IPSets, err = k.IPSets.List()
		return err
	})
	read(opts.IPTables, "iptables (IPv4)", k.IPTables, func() (err error) {
		s.IPTables, err = k.IPTables.Save(iptables.IPv4, opts.Tables...)
		return err
	})
	read(opts.IP6Tables, "ip6tables (IPv6)", k.IPTables, func() (err error) {
		s.IP6Tables, err = k.IPTables.Save(iptables.IPv6, opts.Tables...)
		return err
	})
	return s, errors.Join(errs...)
}

// ReadRulesetsIfInstalled adds the iptables and ip6tables rulesets to s, leaving out a
// family whose *-save binary is not installed (kind nodes carry none): skipped is told
// why. Any other failure is returned.
func ReadRulesetsIfInstalled(k *Kernel, s *dataplane.State, skipped func(error)) error {
	for _, ipv6 := range []bool{false, true} {
		r, err := Read(k, ReadOptions{IPTables: !ipv6, IP6Tables: ipv6})
		switch {
		case errors.Is(err, exec.ErrNotFound):
			skipped(err)
		case err != nil:
			return err
		case ipv6:
			s.IP6Tables = r.IP6Tables
		default:
			s.IPTables = r.IPTables
		}
	}
	return nil
}
