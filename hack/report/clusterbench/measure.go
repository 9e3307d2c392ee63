package clusterbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Target is the cluster a measurement runs on: an API client and the node whose proxy is
// measured.
type Target struct {
	Client kubernetes.Interface
	Node   node.Node
	// NodeName is the node's Kubernetes name (the endpoints' nodeName).
	NodeName string
	// ProxyBinary is the proxy's executable on the node, to find its process.
	ProxyBinary string
	// MetricsURL is the proxy's metrics server as seen on the node.
	MetricsURL string
	// IPVSDump is ipvsdump's path on the node (node.InstallIPVSDump).
	IPVSDump string
}

// Options of one measurement.
type Options struct {
	// Proxy names the proxy in the results ("reference", "v1.37.2").
	Proxy    string
	Services int
	// Parallel creates at once in the burst; 0 means 32.
	Parallel int
	// Timeout bounds the wait for the full programming (upstream needs ~40 min at 10,000);
	// 0 means 10 minutes.
	Timeout time.Duration
	// ProfileSeconds > 0 profiles the proxy's CPU (/debug/pprof/profile, which needs
	// enableProfiling) from the burst's start until the one-endpoint change was applied, in
	// back-to-back profiles of that many seconds (the last one runs past it).
	ProfileSeconds int
	// Churn > 0 runs the churn phase for that long after everything else, on the same
	// cluster (measureChurn), with the Services' order drawn from ChurnSeed.
	Churn     time.Duration
	ChurnSeed uint64
}

// Artifacts are the raw outputs behind a measurement.
type Artifacts struct {
	// Profiles are the back-to-back CPU profiles, in order (`go tool pprof` merges them).
	Profiles      [][]byte
	MetricsBefore []byte
	MetricsAfter  []byte
	IPTablesSave  []byte
	ProcStatus    []byte
	// HeapProfile is the proxy's /debug/pprof/heap after the change and a forced GC, when
	// profiling: what it holds live at that moment (its RSS also holds the heap's growth
	// room, up to twice the live heap at the last GC, and the binary).
	HeapProfile []byte
	Churn       ChurnArtifacts
}

const (
	kernelPoll  = 500 * time.Millisecond
	changePoll  = 100 * time.Millisecond
	metricsPoll = time.Second
	// maxTornReads is how many unparsable reads of a changing IPVS table in a row are
	// taken for torn dumps before the table counts as broken.
	maxTornReads = 5
)

// Measure runs the benchmark once on a cluster whose proxy has synced and that holds no
// benchmark objects yet. It returns what it measured so far together with any error.
func Measure(ctx context.Context, t Target, o Options) (Measurement, Artifacts, error) {
	m := Measurement{Proxy: o.Proxy, Services: o.Services}
	var art Artifacts
	if o.Services < 1 || o.Services > MaxServices {
		return m, art, fmt.Errorf("clusterbench: %d Services: expected 1 to %d", o.Services, MaxServices)
	}
	if o.Parallel <= 0 {
		o.Parallel = 32
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	log := slog.With("proxy", o.Proxy, "N", o.Services)

	pid, err := proxyPID(ctx, t)
	if err != nil {
		return m, art, err
	}
	m.ClockOffsetSeconds, m.ClockErrorSeconds, err = clockOffset(ctx, t.Node)
	if err != nil {
		return m, art, err
	}
	log.Info("clusterbench: proxy found", "pid", pid, "nodeClockOffset", fmt.Sprintf("%.3fs ±%.3fs", m.ClockOffsetSeconds, m.ClockErrorSeconds))
	art.MetricsBefore, err = node.Output(ctx, t.Node, "curl", "-sS", "--fail", "--max-time", "20", t.MetricsURL+"/metrics")
	if err != nil {
		return m, art, fmt.Errorf("reading the proxy's metrics on %s: %w", t.MetricsURL, err)
	}
	before, err := ParseSyncMetrics(art.MetricsBefore, FamilyIPv4)
	if err != nil {
		return m, art, err
	}
	if before.Last.IsZero() {
		return m, art, errors.New("the proxy has not finished a sync yet: measure a proxy that has synced the empty cluster once")
	}
	if _, err := t.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return m, art, fmt.Errorf("create namespace %s: %w", Namespace, err)
	}

	var profile struct {
		sync.WaitGroup
		outs [][]byte
		err  error
	}
	profileUntil := make(chan struct{})
	stopProfiling := sync.OnceFunc(func() { close(profileUntil) })
	defer stopProfiling()
	if o.ProfileSeconds > 0 {
		profile.Add(1)
		go func() {
			defer profile.Done()
			url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", t.MetricsURL, o.ProfileSeconds)
			for {
				out, err := node.Output(ctx, t.Node, "curl", "-sS", "--fail", "--max-time", strconv.Itoa(o.ProfileSeconds+120), url)
				if err != nil {
					profile.err = err
					return
				}
				profile.outs = append(profile.outs, out)
				select {
				case <-profileUntil:
					return
				default:
				}
			}
		}()
		time.Sleep(200 * time.Millisecond) // the profile starts before the burst
	}

	burstStart := time.Now()
	clusterIPs, err := createAll(ctx, t.Client, t.NodeName, o.Services, o.Parallel)
	m.BurstSeconds = time.Since(burstStart).Seconds()
	if err != nil {
		return m, art, err
	}
	log.Info("clusterbench: burst done", "took", round(m.BurstSeconds))

	// Full programming, seen in the kernel.
	deadline := burstStart.Add(o.Timeout)
	lastIncomplete := burstStart
	lastLog := time.Now()
	torn := 0
	for {
		start := time.Now()
		out, err := node.Output(ctx, t.Node, t.IPVSDump)
		if err != nil {
			return m, art, fmt.Errorf("reading the IPVS table: %w", err)
		}
		p, err := CountProgrammed(string(out))
		if err != nil {
			// A netlink dump of a table that changes under it can list a service twice:
			// a torn read, retried; only a table that never reads whole is an error.
			if torn++; torn > maxTornReads {
				return m, art, fmt.Errorf("%d reads of the IPVS table in a row did not parse: %w", torn, err)
			}
			lastIncomplete = start
			continue
		}
		torn = 0
		m.Seen = p
		if p.Complete(o.Services) {
			m.VisibleSeconds = time.Since(burstStart).Seconds()
			m.VisibleReadSeconds = time.Since(start).Seconds()
			break
		}
		lastIncomplete = start
		if time.Since(lastLog) > 30*time.Second {
			log.Info("clusterbench: waiting for the kernel", "virtualServers", p.VirtualServers, "realServers", p.RealServers, "elapsed", round(time.Since(burstStart).Seconds()))
			lastLog = time.Now()
			// A proxy that died (OOM at a large N) never completes: say so now, not at the
			// timeout. A node command that failed says nothing about the proxy.
			var cmdErr *node.CommandError
			if now, err := proxyPID(ctx, t); !errors.As(err, &cmdErr) && (err != nil || now != pid) {
				return m, art, fmt.Errorf("the proxy's process (pid %d) is gone %s into the wait, with %d of %d virtual servers in the kernel (now: pid %d, %v)",
					pid, time.Since(burstStart).Round(time.Second), p.VirtualServers, o.Services, now, err)
			}
		}
		if time.Now().After(deadline) {
			return m, art, fmt.Errorf("after %s the kernel holds %d of %d virtual servers and %d of %d real servers", o.Timeout, p.VirtualServers, o.Services, p.RealServers, 2*o.Services)
		}
		if err := sleep(ctx, kernelPoll); err != nil {
			return m, art, err
		}
	}
	log.Info("clusterbench: all in the kernel", "visible", round(m.VisibleSeconds))

	// The sync that completed it: the first one ending after the last read that found it
	// incomplete began.
	after, _, err := waitSync(ctx, t, m, lastIncomplete, deadline, log)
	if err != nil {
		return m, art, err
	}
	m.SyncedSeconds = after.Last.Add(-offsetDuration(m.ClockOffsetSeconds)).Sub(burstStart).Seconds()
	m.Syncs, m.SyncSeconds = after.Since(before)
	log.Info("clusterbench: proxy synced", "synced", round(m.SyncedSeconds), "syncs", m.Syncs, "syncSum", round(m.SyncSeconds))

	if err := measureChange(ctx, t, &m, clusterIPs[o.Services/2], o.Services/2, log); err != nil {
		return m, art, err
	}

	stopProfiling()
	if art.ProcStatus, err = node.Output(ctx, t.Node, "cat", fmt.Sprintf("/proc/%d/status", pid)); err != nil {
		return m, art, fmt.Errorf("reading the proxy's memory: %w", err)
	}
	if m.Memory, err = ParseProcStatus(string(art.ProcStatus)); err != nil {
		return m, art, err
	}
	if art.IPTablesSave, err = node.Output(ctx, t.Node, "iptables-save"); err != nil {
		return m, art, fmt.Errorf("iptables-save on the node: %w", err)
	}
	if m.Rules, err = CountRules(string(art.IPTablesSave)); err != nil {
		return m, art, err
	}
	art.MetricsAfter, _ = node.Output(ctx, t.Node, "curl", "-sS", "--fail", "--max-time", "20", t.MetricsURL+"/metrics")
	if pid2, err := proxyPID(ctx, t); err != nil || pid2 != pid {
		m.Notes = append(m.Notes, fmt.Sprintf("the proxy's process changed during the run (pid %d, now %d, %v): its numbers mix two processes", pid, pid2, err))
	}
	if o.ProfileSeconds > 0 {
		profile.Wait()
		if profile.err != nil {
			m.Notes = append(m.Notes, "CPU profile failed: "+profile.err.Error())
		}
		art.Profiles = profile.outs
		heap, err := node.Output(ctx, t.Node, "curl", "-sS", "--fail", "--max-time", "60", t.MetricsURL+"/debug/pprof/heap?gc=1")
		if err != nil {
			m.Notes = append(m.Notes, "heap profile failed: "+err.Error())
		}
		art.HeapProfile = heap
	}
	if o.Churn > 0 {
		keep := map[int][]netip.Addr{o.Services / 2: {ChangeAddress}}
		c, churnArt, err := measureChurn(ctx, t, clusterIPs, ChurnOptions{Duration: o.Churn, Seed: o.ChurnSeed, Keep: keep}, log)
		m.Churn, art.Churn = &c, churnArt
		if err != nil {
			return m, art, fmt.Errorf("churn: %w", err)
		}
		if pid2, err := proxyPID(ctx, t); err != nil || pid2 != pid {
			m.Notes = append(m.Notes, fmt.Sprintf("the proxy's process changed during the churn (pid %d, now %d, %v)", pid, pid2, err))
		}
	}
	log.Info("clusterbench: done", "rssMB", m.Memory.RSSKiB/1024, "nat", m.Rules.NAT, "filter", m.Rules.Filter)
	return m, art, nil
}

// measureChange adds ChangeAddress to the i-th Service's slice and times it.
func measureChange(ctx context.Context, t Target, m *Measurement, vip netip.Addr, i int, log *slog.Logger) error {
	slices := t.Client.DiscoveryV1().EndpointSlices(Namespace)
	cur, err := slices.Get(ctx, ServiceName(i), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get EndpointSlice %s/%s: %w", Namespace, ServiceName(i), err)
	}
	upd := EndpointSlice(i, t.NodeName, ChangeAddress)
	upd.ResourceVersion = cur.ResourceVersion
	metricsBefore, err := readSync(ctx, t)
	if err != nil {
		return err
	}
	vs := netip.AddrPortFrom(vip, ServicePort).String()
	start := time.Now()
	if _, err := slices.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update EndpointSlice %s/%s: %w", Namespace, ServiceName(i), err)
	}
	lastIncomplete := start
	deadline := start.Add(5 * time.Minute)
	torn := 0
	for {
		pollStart := time.Now()
		out, err := node.Output(ctx, t.Node, "ipvsadm", "-Ln", "-t", vs)
		if err != nil {
			return fmt.Errorf("reading virtual server %s: %w", vs, err)
		}
		ok, err := HasRealServer(string(out), vip, ChangeAddress)
		if err != nil {
			if torn++; torn > maxTornReads {
				return fmt.Errorf("%d reads of virtual server %s in a row did not parse: %w", torn, vs, err)
			}
			ok = false
		} else {
			torn = 0
		}
		if ok {
			m.ChangeVisibleSeconds = time.Since(start).Seconds()
			break
		}
		lastIncomplete = pollStart
		if time.Now().After(deadline) {
			return fmt.Errorf("real server %s:%d did not appear under %s within 5m of the EndpointSlice update", ChangeAddress, TargetPort, vs)
		}
		if err := sleep(ctx, changePoll); err != nil {
			return err
		}
	}
	after, _, err := waitSync(ctx, t, *m, lastIncomplete, deadline, log)
	if err != nil {
		return err
	}
	n, sum := after.Since(metricsBefore)
	m.ChangeSyncs = n
	if n > 0 {
		m.ChangeSyncSeconds = sum / float64(n)
	}
	log.Info("clusterbench: one endpoint added", "visible", round(m.ChangeVisibleSeconds), "sync", round(m.ChangeSyncSeconds), "syncs", n)
	return nil
}

// waitSync polls the proxy's metrics until its last sync ended after since (host clock).
func waitSync(ctx context.Context, t Target, m Measurement, since, deadline time.Time, log *slog.Logger) (SyncMetrics, []byte, error) {
	threshold := since.Add(offsetDuration(m.ClockOffsetSeconds - m.ClockErrorSeconds))
	lastLog := time.Now()
	for {
		out, err := node.Output(ctx, t.Node, "curl", "-sS", "--fail", "--max-time", "20", t.MetricsURL+"/metrics")
		if err != nil {
			log.Warn("clusterbench: reading the proxy's metrics", "err", err)
		} else {
			s, err := ParseSyncMetrics(out, FamilyIPv4)
			if err != nil {
				return s, out, err
			}
			if !s.Last.Before(threshold) {
				return s, out, nil
			}
		}
		if time.Since(lastLog) > 30*time.Second {
			log.Info("clusterbench: waiting for the proxy's sync to end", "elapsed", round(time.Since(since).Seconds()))
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			return SyncMetrics{}, nil, fmt.Errorf("the proxy finished no sync after %s (host clock) before the deadline; its metrics show none", since.Format(time.RFC3339Nano))
		}
		if err := sleep(ctx, metricsPoll); err != nil {
			return SyncMetrics{}, nil, err
		}
	}
}

func readSync(ctx context.Context, t Target) (SyncMetrics, error) {
	out, err := node.Output(ctx, t.Node, "curl", "-sS", "--fail", "--max-time", "20", t.MetricsURL+"/metrics")
	if err != nil {
		return SyncMetrics{}, fmt.Errorf("reading the proxy's metrics on %s: %w", t.MetricsURL, err)
	}
	return ParseSyncMetrics(out, FamilyIPv4)
}

// createAll creates the N Services and their slices, Parallel at a time, and returns the
// ClusterIPs the API server gave them.
func createAll(ctx context.Context, cs kubernetes.Interface, nodeName string, n, parallel int) ([]netip.Addr, error) {
	ips := make([]netip.Addr, n)
	jobs := make(chan int)
	errs := make(chan error, parallel)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				svc, err := cs.CoreV1().Services(Namespace).Create(ctx, Service(i), metav1.CreateOptions{})
				if err != nil {
					errs <- fmt.Errorf("create Service %s/%s: %w", Namespace, ServiceName(i), err)
					cancel()
					return
				}
				ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
				if err != nil {
					errs <- fmt.Errorf("Service %s/%s: expected a ClusterIP, found %q", Namespace, ServiceName(i), svc.Spec.ClusterIP)
					cancel()
					return
				}
				ips[i] = ip
				if _, err := cs.DiscoveryV1().EndpointSlices(Namespace).Create(ctx, EndpointSlice(i, nodeName), metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create EndpointSlice %s/%s: %w", Namespace, ServiceName(i), err)
					cancel()
					return
				}
			}
		}()
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return ips, ctx.Err()
}

// proxyPID finds the one process running t.ProxyBinary on the node.
func proxyPID(ctx context.Context, t Target) (int, error) {
	script := `for p in /proc/[0-9]*; do [ "$(readlink "$p/exe" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"; done; true`
	out, err := node.Output(ctx, t.Node, "sh", "-c", script, "sh", t.ProxyBinary)
	if err != nil {
		return 0, fmt.Errorf("looking for the proxy's process on the node: %w", err)
	}
	return ParsePIDs(string(out), t.ProxyBinary)
}

// ParsePIDs expects exactly one process id in the text.
func ParsePIDs(text, binary string) (int, error) {
	f := strings.Fields(text)
	if len(f) != 1 {
		return 0, fmt.Errorf("expected one process running %s on the node, found %d (%q)", binary, len(f), strings.Join(f, " "))
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("expected a process id, found %q", f[0])
	}
	return pid, nil
}

// clockOffset estimates node clock minus host clock from three reads of the node's clock,
// keeping the one with the shortest round trip. Busybox's date has no %N here; its
// adjtimex reports microseconds.
func clockOffset(ctx context.Context, n node.Node) (offset, errBound float64, err error) {
	best := math.Inf(1)
	for range 3 {
		h0 := time.Now()
		g, exact, err := nodeClock(ctx, n)
		h1 := time.Now()
		if err != nil {
			return 0, 0, err
		}
		if rtt := h1.Sub(h0).Seconds(); rtt < best {
			best, offset, errBound = rtt, g-(float64(h0.UnixNano())/1e9+rtt/2), rtt/2
			if !exact {
				errBound += 1
			}
		}
	}
	return offset, errBound, nil
}

func nodeClock(ctx context.Context, n node.Node) (float64, bool, error) {
	if out, err := node.Output(ctx, n, "adjtimex"); err == nil {
		v, err := ParseAdjtimex(string(out))
		return v, err == nil, err
	}
	out, err := node.Output(ctx, n, "date", "+%s.%N")
	if err != nil {
		return 0, false, fmt.Errorf("reading the node's clock (adjtimex, date): %w", err)
	}
	return ParseUnixTime(string(out))
}

func offsetDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func round(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) + "s" }
