//go:build lab

package labe2e

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/pods"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipset"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/ipvs"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/netif"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/sysctl"
)

// scratchNode is a new network namespace of the guest's kernel, a node that has only just
// booted: lo, and the node's address on a dummy eth0. Its Kernel reaches into the
// namespace from the test's process: netlink sockets opened there, iptables-save and
// iptables-restore started from a thread inside it, sysctls read from one. The namespace
// goes when Close drops the last handle; nothing names it under /run/netns.
type scratchNode struct {
	ns netns.NsHandle
	k  *kernel.Kernel
}

// newScratchNode creates the namespace and opens its Kernel (conntrack left out: the
// proxier deletes stale UDP entries only, and an empty namespace has none).
func newScratchNode(nodeAddr netip.Prefix) (*scratchNode, error) {
	var ns netns.NsHandle
	err := pods.InNetns(netns.None(), func() error {
		var err error
		ns, err = netns.New()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create a network namespace for the sync from scratch: %w", err)
	}
	s := &scratchNode{ns: ns}
	if err := s.addNodeAddress(nodeAddr); err != nil {
		ns.Close()
		return nil, err
	}
	var v *ipvs.Linux
	if err := pods.InNetns(ns, func() error {
		var err error
		v, err = ipvs.NewLinux()
		return err
	}); err != nil {
		ns.Close()
		return nil, err
	}
	links, err := netif.NewLinuxAt(ns)
	if err != nil {
		v.Close()
		ns.Close()
		return nil, err
	}
	s.k = &kernel.Kernel{
		IPVS:     v,
		Links:    links,
		IPSets:   ipset.NewLinuxAt(ns),
		IPTables: iptables.NewLinuxWithRunner(s.run),
		Sysctl:   netnsSysctl{ns: ns, proc: sysctl.NewLinux()},
	}
	return s, nil
}

// Close releases the Kernel and the namespace.
func (s *scratchNode) Close() error {
	return errors.Join(s.k.Close(), s.ns.Close())
}

// addNodeAddress brings lo up and puts the node's address on a dummy eth0, up.
func (s *scratchNode) addNodeAddress(p netip.Prefix) error {
	// Only NETLINK_ROUTE: the guest's kernel has no XFRM, which a handle opens by default.
	h, err := netlink.NewHandleAt(s.ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open rtnetlink in the scratch namespace: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("set lo up in the scratch namespace: %w", err)
	}
	d := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: nodeLink}}
	if err := h.LinkAdd(d); err != nil {
		return fmt.Errorf("create dummy %s in the scratch namespace: %w", nodeLink, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if err := h.AddrAdd(d, addr); err != nil {
		return fmt.Errorf("add %s to %s in the scratch namespace: %w", p, nodeLink, err)
	}
	if err := h.LinkSetUp(d); err != nil {
		return fmt.Errorf("set %s up in the scratch namespace: %w", nodeLink, err)
	}
	return nil
}

// run is the iptables runner: the command starts from a thread inside the namespace, and
// a child process keeps the namespace of the thread that started it.
func (s *scratchNode) run(name string, args []string, stdin []byte) (stdout, stderr []byte, err error) {
	nsErr := pods.InNetns(s.ns, func() error {
		stdout, stderr, err = iptables.ExecRunner(name, args, stdin)
		return nil
	})
	if nsErr != nil {
		return nil, nil, nsErr
	}
	return stdout, stderr, err
}

// netnsSysctl reads and writes /proc/sys from a thread inside a namespace: the net/
// sysctls a thread sees there are its namespace's.
type netnsSysctl struct {
	ns   netns.NsHandle
	proc *sysctl.Linux
}

func (s netnsSysctl) Get(name string) (value string, err error) {
	nsErr := pods.InNetns(s.ns, func() error {
		value, err = s.proc.Get(name)
		return nil
	})
	return value, errors.Join(nsErr, err)
}

func (s netnsSysctl) Set(name, value string) error {
	return pods.InNetns(s.ns, func() error { return s.proc.Set(name, value) })
}
