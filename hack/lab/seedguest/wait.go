package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	mobyipvs "github.com/moby/ipvs"
	"golang.org/x/sys/unix"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
)

// rsProbe asks the kernel for one virtual server's real servers: one small netlink request,
// cheap enough to poll every few milliseconds even beside 10,000 virtual servers (reading
// the whole table there takes seconds under TCG).
type rsProbe struct {
	h   *mobyipvs.Handle
	svc *mobyipvs.Service
}

func newRSProbe(proto dataplane.Protocol, vip netip.AddrPort) (*rsProbe, error) {
	p, ok := map[dataplane.Protocol]uint16{dataplane.TCP: unix.IPPROTO_TCP, dataplane.UDP: unix.IPPROTO_UDP, dataplane.SCTP: unix.IPPROTO_SCTP}[proto]
	if !ok {
		return nil, fmt.Errorf("protocol %q: expected TCP, UDP or SCTP", proto)
	}
	if !vip.Addr().Is4() {
		return nil, fmt.Errorf("%s: the probe takes IPv4 virtual servers", vip)
	}
	h, err := mobyipvs.New("")
	if err != nil {
		return nil, err
	}
	return &rsProbe{h: h, svc: &mobyipvs.Service{
		AddressFamily: unix.AF_INET, Protocol: p, Address: net.IP(vip.Addr().AsSlice()), Port: vip.Port(),
	}}, nil
}

// has tells whether the virtual server exists and holds the real server; a missing
// virtual server is "not yet", not an error.
func (p *rsProbe) has(rs netip.AddrPort) bool {
	dsts, err := p.h.GetDestinations(p.svc)
	if err != nil {
		return false
	}
	for _, d := range dsts {
		if a, ok := netip.AddrFromSlice(d.Address); ok && a.Unmap() == rs.Addr() && d.Port == rs.Port() {
			return true
		}
	}
	return false
}

func (p *rsProbe) Close() { p.h.Close() }

// waitVSCmd waits until the kernel's IPVS table has the real server behind the virtual
// server, then prints how long that took and the proxier's own sync and programming
// metrics, so that a reader sees the wait the lab inserts between `kubectl apply` and
// `ipvsadm -Ln`.
func waitVSCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wait-vs", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", time.Minute, "how long to wait")
	metrics := fs.String("metrics", "http://127.0.0.1:10249/metrics", "the proxier's metrics URL ('' to skip)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 3 {
		return usageError("wait-vs: expected [-timeout D] PROTO VIP:PORT RIP:PORT, e.g. TCP 10.106.71.137:80 10.244.3.214:80")
	}
	proto, err := dataplane.ParseProtocol(fs.Arg(0))
	if err != nil {
		return usageError(err.Error())
	}
	vip, err1 := netip.ParseAddrPort(fs.Arg(1))
	rip, err2 := netip.ParseAddrPort(fs.Arg(2))
	if err := errors.Join(err1, err2); err != nil {
		return usageError(err.Error())
	}
	probe, err := newRSProbe(proto, vip)
	if err != nil {
		return err
	}
	defer probe.Close()
	start := time.Now()
	deadline := time.NewTimer(*timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !probe.has(rip) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%s %s -> %s was not in the kernel's IPVS table after %s: see the proxier's log", proto, vip, rip, *timeout)
		case <-tick.C:
		}
	}
	fmt.Fprintf(stdout, "%s %s -> %s is in the kernel's IPVS table (waited %.2f s)\n", proto, vip, rip, time.Since(start).Seconds())
	if *metrics != "" {
		text, err := fetch(ctx, *metrics)
		if err != nil {
			return fmt.Errorf("reading the proxier's metrics: %w", err)
		}
		for _, l := range selectMetrics(text, "kubeproxy_sync_proxy_rules_duration_seconds_sum", "kubeproxy_sync_proxy_rules_duration_seconds_count",
			"kubeproxy_network_programming_duration_seconds_sum", "kubeproxy_network_programming_duration_seconds_count") {
			fmt.Fprintln(stdout, l)
		}
	}
	return nil
}

// selectMetrics keeps the lines of a Prometheus text exposition whose metric name is one
// of names.
func selectMetrics(text string, names ...string) []string {
	var out []string
	for l := range strings.Lines(text) {
		name, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		name, _, _ = strings.Cut(name, "{")
		for _, n := range names {
			if name == n {
				out = append(out, strings.TrimSpace(l))
			}
		}
	}
	return out
}

// waitSyncedCmd waits until the proxier of `seedguest node` has finished a sync (its
// kubeproxy_sync_proxy_rules_last_timestamp_seconds metric appears), failing at once when
// the node process is gone.
func waitSyncedCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wait-synced", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait")
	metrics := fs.String("metrics", "http://127.0.0.1:10249/metrics", "the proxier's metrics URL")
	pidFile := fs.String("pidfile", "", "file holding the node process's PID, checked while waiting")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return usageError("wait-synced: expected [-timeout D] [-metrics URL] [-pidfile FILE]")
	}
	start := time.Now()
	err := poll(ctx, 50*time.Millisecond, *timeout, func() (bool, error) {
		if *pidFile != "" {
			if err := processAlive(*pidFile); err != nil {
				return false, err
			}
		}
		text, err := fetch(ctx, *metrics)
		if err != nil {
			return false, nil // not listening yet
		}
		return len(selectMetrics(text, "kubeproxy_sync_proxy_rules_last_timestamp_seconds")) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the proxier's first sync: %w", err)
	}
	fmt.Fprintf(stdout, "the proxier has finished its first sync (waited %.2f s)\n", time.Since(start).Seconds())
	return nil
}

// processAlive fails when the process named by the PID file has exited.
func processAlive(pidFile string) error {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return err
	}
	pid := strings.TrimSpace(string(b))
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return fmt.Errorf("process %s (%s) has exited", pid, pidFile)
	}
	// A zombie has exited too; its parent (the shell) just has not reaped it.
	if _, rest, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(rest, "Z") {
		return fmt.Errorf("process %s (%s) has exited", pid, pidFile)
	}
	return nil
}
