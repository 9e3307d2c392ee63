package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// More nodes in one guest. Every Kubernetes node the lab needs beyond the first is a
// network namespace of the same guest: network state that kube-proxy programs (IPVS,
// iptables, ipsets, kube-ipvs0, conntrack, /proc/sys/net) is per network namespace in
// Linux, so each node has its own, and its own kube-proxy. Filesystem and processes are
// shared; that is the part that is not a real node.
//
// The node network is the guest's QEMU user network, 10.0.2.0/24, made a real L2 segment:
// the first node's eth0 becomes a port of bridge nodeBridge, which takes over its address,
// and each further node is a veth pair from the bridge to that node's eth0 with the next
// address (10.0.2.16, ...) and the same default route via the host (10.0.2.2). So every
// node reaches the API server and every other node directly, as kind's nodes do on their
// Docker bridge; pods reach other nodes' pods through routes to each node's podCIDR via
// its InternalIP (see routeNodes), as kindnet installs them.
//
// Each further node runs its own ipvs-nodeagent process (this binary, started inside the
// node's namespace) for its Node, pods and kube-proxy. The first node's agent proxies the
// host's exec and file requests for it (agentapi.NodesPath) and its pods' logs.

// nodeBridge is the bridge of the node network in the first node's namespace.
const nodeBridge = "br-lab"

// worker is a further node, run by its own agent process in its own namespace.
type worker struct {
	name string
	ip   netip.Addr
	ns   netns.NsHandle
	cmd  *exec.Cmd
	done chan struct{}
}

// workerName names the i-th further node (1-based) after the first, as kind numbers its
// workers: lab-node, lab-node2, lab-node3.
func workerName(first string, i int) string { return fmt.Sprintf("%s%d", first, i+1) }

// startWorkers makes the node network and starts an agent for each further node.
func (a *agent) startWorkers(ctx context.Context) error {
	if a.cfg.workers == 0 {
		return nil
	}
	self, err := netip.ParseAddr(a.cfg.nodeIP)
	if err != nil {
		return fmt.Errorf("node IP %q: %w", a.cfg.nodeIP, err)
	}
	gw, err := netip.ParseAddr(a.cfg.nodeGateway)
	if err != nil {
		return fmt.Errorf("node gateway %q: %w", a.cfg.nodeGateway, err)
	}
	prefix := netip.PrefixFrom(self, a.cfg.nodePrefixLen)
	if err := bridgeUplink(a.cfg.uplink, prefix, gw); err != nil {
		return fmt.Errorf("node network: %w", err)
	}
	ip := self
	for i := 1; i <= a.cfg.workers; i++ {
		ip = ip.Next()
		if !prefix.Masked().Contains(ip) {
			return fmt.Errorf("node network %s has no address left for node %d", prefix.Masked(), i+1)
		}
		w := &worker{name: workerName(a.cfg.nodeName, i), ip: ip}
		if err := a.startWorker(ctx, w, prefix.Bits(), gw); err != nil {
			return fmt.Errorf("node %s: %w", w.name, err)
		}
		a.workers[w.name] = w
	}
	return nil
}

// bridgeUplink moves the node's address from the uplink (eth0) to a bridge with the uplink
// as its port, keeping the uplink's MAC so QEMU's user network sees the same host.
func bridgeUplink(uplink string, addr netip.Prefix, gw netip.Addr) error {
	eth, err := netlink.LinkByName(uplink)
	if err != nil {
		return fmt.Errorf("uplink %s: %w", uplink, err)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: nodeBridge, HardwareAddr: eth.Attrs().HardwareAddr}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", nodeBridge, err)
	}
	ipn := ipNet(addr)
	for _, step := range []struct {
		what string
		do   func() error
	}{
		{"set " + nodeBridge + " up", func() error { return netlink.LinkSetUp(br) }},
		{"make " + uplink + " a port of " + nodeBridge, func() error { return netlink.LinkSetMaster(eth, br) }},
		{fmt.Sprintf("add %s to %s", addr, nodeBridge), func() error { return netlink.AddrAdd(br, &netlink.Addr{IPNet: ipn}) }},
		{fmt.Sprintf("remove %s from %s", addr, uplink), func() error { return netlink.AddrDel(eth, &netlink.Addr{IPNet: ipn}) }},
		{fmt.Sprintf("default route via %s on %s", gw, nodeBridge), func() error {
			return netlink.RouteReplace(&netlink.Route{LinkIndex: br.Attrs().Index, Gw: gw.AsSlice()})
		}},
	} {
		if err := step.do(); err != nil {
			return fmt.Errorf("%s: %w", step.what, err)
		}
	}
	slog.Info("node network bridged", "bridge", nodeBridge, "uplink", uplink, "address", addr)
	return nil
}

// startWorker creates the node's namespace, wires it to the bridge and starts its agent.
func (a *agent) startWorker(ctx context.Context, w *worker, bits int, gw netip.Addr) error {
	ns, err := newNetns()
	if err != nil {
		return fmt.Errorf("create its network namespace: %w", err)
	}
	w.ns = ns
	br, err := netlink.LinkByName(nodeBridge)
	if err != nil {
		return err
	}
	hostEnd := "n-" + w.name
	if len(hostEnd) > 15 {
		hostEnd = hostEnd[:15]
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostEnd, MasterIndex: br.Attrs().Index},
		PeerName: "eth0", PeerNamespace: netlink.NsFd(ns)}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", hostEnd, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return err
	}
	inside, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer inside.Close()
	for _, name := range []string{"lo", "eth0"} {
		l, err := inside.LinkByName(name)
		if err != nil {
			return fmt.Errorf("%s in the node: %w", name, err)
		}
		if err := inside.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up in the node: %w", name, err)
		}
		if name == "eth0" {
			if err := inside.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(w.ip, bits))}); err != nil {
				return fmt.Errorf("add %s/%d to eth0 in the node: %w", w.ip, bits, err)
			}
			if err := inside.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
				return fmt.Errorf("default route via %s in the node: %w", gw, err)
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{
		"--node-name=" + w.name, "--node-ip=" + w.ip.String(),
		"--kubeconfig=" + a.cfg.kubeconfig, "--listen=" + a.cfg.listen,
		"--tls-cert=" + a.cfg.tlsCert, "--tls-key=" + a.cfg.tlsKey, "--token-file=" + a.cfg.tokenFile,
		"--kubelet-address=" + a.cfg.kubeletAddress, fmt.Sprintf("--kubelet-port=%d", a.cfg.kubeletPort),
		"--state-dir=" + filepath.Join(a.cfg.stateDir, w.name), "--kube-proxy-version=" + a.cfg.kubeProxyVersion,
		"--schedule=false",
		"--ipvsdump=" + a.cfg.ipvsdump, "--kube-proxy=" + a.cfg.kubeProxy, "--ipvs-proxier=" + a.cfg.proxier,
	}
	cmd := exec.Command(self, args...)
	out := &prefixWriter{prefix: "[" + w.name + "] ", w: os.Stderr}
	cmd.Stdout, cmd.Stderr = out, out
	if err := startInNetns(ns, cmd); err != nil {
		return fmt.Errorf("start its agent: %w", err)
	}
	w.cmd, w.done = cmd, make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(w.done)
		if ctx.Err() == nil {
			slog.Error("the agent of a further node exited", "node", w.name, "err", err)
		}
	}()
	slog.Info("node started in its own network namespace", "node", w.name, "ip", w.ip, "veth", hostEnd, "pid", cmd.Process.Pid)
	return nil
}

// stopWorkers ends the further nodes' agents (each stops its pods and kube-proxy).
func (a *agent) stopWorkers() {
	for _, w := range a.workers {
		if w.cmd == nil || w.cmd.Process == nil {
			continue
		}
		w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			w.cmd.Process.Kill()
			<-w.done
		}
	}
}

// newNetns creates a network namespace and returns its handle; the creating thread goes
// back to its namespace (or, failing that, is retired with its goroutine).
func newNetns() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if serr := netns.Set(orig); serr != nil {
			ch <- result{ns, errors.Join(err, serr)}
			return // the thread stays locked and is retired
		}
		runtime.UnlockOSThread()
		ch <- result{ns, err}
	}()
	r := <-ch
	return r.ns, r.err
}

// startInNetns starts cmd inside the namespace: a child inherits the network namespace of
// the thread that forks it. The thread is never unlocked, so Go retires it.
func startInNetns(ns netns.NsHandle, cmd *exec.Cmd) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			ch <- err
			return
		}
		ch <- cmd.Start()
	}()
	return <-ch
}

// routeNodes keeps a route to every other node's podCIDR via its InternalIP, so pods and
// nodes reach pods on other nodes (kindnet's part on kind).
func (a *agent) routeNodes(inf cache.SharedIndexInformer) {
	sync := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok || n.Name == a.cfg.nodeName || n.Spec.PodCIDR == "" {
			return
		}
		dst, err := netip.ParsePrefix(n.Spec.PodCIDR)
		if err != nil {
			return
		}
		via := nodeInternalIP(n)
		if !via.IsValid() || via.Is4() != dst.Addr().Is4() {
			return
		}
		r := &netlink.Route{Dst: ipNet(dst.Masked()), Gw: via.AsSlice()}
		if err := netlink.RouteReplace(r); err != nil {
			slog.Warn("route to a node's pods", "node", n.Name, "podCIDR", dst, "via", via, "err", err)
			return
		}
		slog.Info("route to a node's pods", "node", n.Name, "podCIDR", dst, "via", via)
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: sync,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Node), cur.(*corev1.Node)
			if o.Spec.PodCIDR != n.Spec.PodCIDR || nodeInternalIP(o) != nodeInternalIP(n) {
				sync(cur)
			}
		},
	})
}

func nodeInternalIP(n *corev1.Node) netip.Addr {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				return ip
			}
		}
	}
	return netip.Addr{}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// prefixWriter prefixes each line a further node's agent writes, in the one agent log.
type prefixWriter struct {
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := p.w.Write(append([]byte(p.prefix), p.buf[:i+1]...)); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
}
