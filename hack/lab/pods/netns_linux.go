package pods

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

type nsHandle = netns.NsHandle

// Create makes the pod: a new network namespace (held by a file descriptor, not mounted
// under /run/netns, so nothing outlives the process), a veth pair with eth0 inside it,
// addresses, routes and static neighbour entries on both ends. It must be called from the
// root namespace (any goroutine not inside Do) and needs CAP_NET_ADMIN. On failure,
// whatever was made is removed again.
func Create(spec Spec) (*Pod, error) {
	spec, err := spec.validate()
	if err != nil {
		return nil, err
	}
	root, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("pod %s: open rtnetlink in the root namespace: %w", spec.Name, err)
	}
	defer root.Close()
	if _, err := root.LinkByName(spec.HostVeth); err == nil {
		return nil, fmt.Errorf("pod %s: link %s already exists in the root namespace (a leftover of an earlier run?): delete it with `ip link del %s`",
			spec.Name, spec.HostVeth, spec.HostVeth)
	}
	ns, err := newNamespace()
	if err != nil {
		return nil, fmt.Errorf("pod %s: create a network namespace: %w", spec.Name, err)
	}
	p := &Pod{spec: spec, ns: ns}
	if err := p.wire(root); err != nil {
		if del := root.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: spec.HostVeth}}); del != nil && !isNotFound(del) {
			err = errors.Join(err, fmt.Errorf("undo: delete %s: %w", spec.HostVeth, del))
		}
		ns.Close()
		return nil, fmt.Errorf("pod %s: %w", spec.Name, err)
	}
	return p, nil
}

// newNamespace creates a network namespace and returns a handle to it; the thread that
// created it goes back to the namespace it was in.
func newNamespace() (netns.NsHandle, error) {
	var ns netns.NsHandle
	err := onThread(func() error {
		var err error
		ns, err = netns.New()
		return err
	})
	return ns, err
}

// Do runs fn on an OS thread inside the pod's network namespace and returns its error.
// Sockets fn creates belong to the pod and may be used from any goroutine afterwards. fn
// must not start goroutines that expect to be inside the pod: they run on other threads.
func (p *Pod) Do(fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(p.ns); err != nil {
			return fmt.Errorf("enter the network namespace of %s: %w", p, err)
		}
		return fn()
	})
}

// onThread runs fn, which may switch its thread's network namespace, on a locked thread
// and puts the thread back into the namespace it started in (InNetns without a namespace).
func onThread(fn func() error) error { return InNetns(netns.None(), fn) }

// InNetns runs fn on a locked OS thread inside ns (netns.None(): where the thread is; fn
// may then switch it, as netns.New does) and puts the thread back into the namespace it
// started in. Only a thread that is back is unlocked for other goroutines; one that cannot
// go back stays locked and Go retires it with its goroutine. Merely abandoning every such
// thread is not enough: when the goroutine ran on the main thread, Go parks that thread
// instead of ending it, and /proc/self/net (which follows the main thread) would show the
// other namespace to the whole process for good.
func InNetns(ns netns.NsHandle, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("remember the thread's network namespace: %w", err)
			return
		}
		defer orig.Close()
		var ferr error
		if ns.IsOpen() {
			if err := netns.Set(ns); err != nil {
				ferr = fmt.Errorf("enter network namespace %s: %w", ns, err)
			}
		}
		if ferr == nil {
			ferr = fn()
		}
		if err := netns.Set(orig); err != nil {
			ch <- errors.Join(ferr, fmt.Errorf("return the thread to its network namespace (the thread is retired): %w", err))
			return
		}
		runtime.UnlockOSThread()
		ch <- ferr
	}()
	return <-ch
}

// wire creates the veth pair and configures both ends.
func (p *Pod) wire(root *netlink.Handle) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: p.spec.HostVeth},
		PeerName:      PodInterface,
		PeerNamespace: netlink.NsFd(p.ns),
	}
	if err := root.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s with peer %s in the pod: %w", p.spec.HostVeth, PodInterface, err)
	}
	host, err := root.LinkByName(p.spec.HostVeth)
	if err != nil {
		return fmt.Errorf("look up %s: %w", p.spec.HostVeth, err)
	}
	inside, err := netlink.NewHandleAt(p.ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open rtnetlink in the pod: %w", err)
	}
	defer inside.Close()
	eth0, err := inside.LinkByName(PodInterface)
	if err != nil {
		return fmt.Errorf("look up %s in the pod: %w", PodInterface, err)
	}
	lo, err := inside.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("look up lo in the pod: %w", err)
	}
	for _, step := range []struct {
		what string
		do   func() error
	}{
		{"set lo up in the pod", func() error { return inside.LinkSetUp(lo) }},
		{"set " + PodInterface + " up in the pod", func() error { return inside.LinkSetUp(eth0) }},
		{"set " + p.spec.HostVeth + " up", func() error { return root.LinkSetUp(host) }},
	} {
		if err := step.do(); err != nil {
			return fmt.Errorf("%s: %w", step.what, err)
		}
	}
	for _, ip := range p.spec.IPs {
		gw, bits := GatewayIPv4, 32
		if ip.Is6() {
			gw, bits = GatewayIPv6, 128
		}
		addr := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(ip, bits))}
		if ip.Is6() {
			addr.Flags = unix.IFA_F_NODAD // usable at once; the pod is alone on its link
		}
		steps := []struct {
			what string
			do   func() error
		}{
			{fmt.Sprintf("add %s to %s in the pod", addr.IPNet, PodInterface), func() error { return inside.AddrAdd(eth0, addr) }},
			{fmt.Sprintf("resolve gateway %s to %s in the pod", gw, host.Attrs().HardwareAddr), func() error {
				return inside.NeighAdd(&netlink.Neigh{LinkIndex: eth0.Attrs().Index, Family: family(ip), State: netlink.NUD_PERMANENT,
					IP: gw.AsSlice(), HardwareAddr: host.Attrs().HardwareAddr})
			}},
			{fmt.Sprintf("route %s via %s in the pod", gw, PodInterface), func() error {
				return inside.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Scope: netlink.SCOPE_LINK,
					Dst: ipNet(netip.PrefixFrom(gw, bits))})
			}},
			{fmt.Sprintf("default route via %s in the pod", gw), func() error {
				return inside.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw.AsSlice(), Family: family(ip)})
			}},
			{fmt.Sprintf("resolve %s to %s on %s", ip, eth0.Attrs().HardwareAddr, p.spec.HostVeth), func() error {
				return root.NeighAdd(&netlink.Neigh{LinkIndex: host.Attrs().Index, Family: family(ip), State: netlink.NUD_PERMANENT,
					IP: ip.AsSlice(), HardwareAddr: eth0.Attrs().HardwareAddr})
			}},
			{fmt.Sprintf("route %s via %s", ip, p.spec.HostVeth), func() error {
				return root.RouteAdd(&netlink.Route{LinkIndex: host.Attrs().Index, Scope: netlink.SCOPE_LINK,
					Dst: ipNet(netip.PrefixFrom(ip, bits))})
			}},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				return fmt.Errorf("%s: %w", s.what, err)
			}
		}
	}
	return nil
}

// Delete stops the pod's servers, deletes its veth pair (the routes and neighbour entries
// go with it) and releases the namespace; sockets still open in it keep it alive until
// they close. Deleting twice is not an error.
func (p *Pod) Delete() error {
	p.mu.Lock()
	if p.deleted {
		p.mu.Unlock()
		return nil
	}
	p.deleted = true
	servers := p.servers
	p.servers = nil
	p.mu.Unlock()

	var errs []error
	for _, s := range servers {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop server on %s: %w", s.Addr(), err))
		}
	}
	root, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		errs = append(errs, fmt.Errorf("open rtnetlink in the root namespace: %w", err))
	} else {
		if err := root.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.spec.HostVeth}}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", p.spec.HostVeth, err))
		}
		root.Close()
	}
	if err := p.ns.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close the namespace handle: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("delete %s: %w", p, errors.Join(errs...))
	}
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
