package clusterbench

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// The churn phase follows sig-scalability's network programming latency measurement:
// endpoint changes at a fixed rate, each EndpointSlice write stamped with
// endpoints.kubernetes.io/last-change-trigger-time as the endpointslice controller stamps
// it, so the proxy's kubeproxy_network_programming_duration_seconds measures from the
// write to the end of the sync that applied it.
const (
	// ChurnRate is sig-scalability's: 20 endpoint changes per second.
	ChurnRate = 20
	// DefaultChurnDuration is the window.
	DefaultChurnDuration = 2 * time.Minute
	// ChurnMissedAfter is how long after its write a change not yet in the kernel counts as
	// missed.
	ChurnMissedAfter = time.Minute
)

// ChurnAddress is the endpoint the churn adds to a Service's slice and removes again,
// outside every Service's pair and apart from ChangeAddress.
var ChurnAddress = netip.MustParseAddr("10.244.250.2")

// ChurnChange is one scheduled endpoint change: at At from the churn's start, Service gets
// ChurnAddress (Add) or loses it.
type ChurnChange struct {
	At      time.Duration
	Service int
	Add     bool
}

// ChurnSchedule is count changes at rate per second over n Services, evenly spaced (the
// k-th at k/rate): the Services in a random order fixed by seed, each changed again only
// after every other one was, the first pass adding ChurnAddress, the next removing it, and
// so on. A Service is thus never changed twice within n/rate seconds, so every change is
// seen in the kernel on its own.
func ChurnSchedule(n, rate int, d time.Duration, seed uint64) ([]ChurnChange, error) {
	if n < 1 || rate < 1 {
		return nil, fmt.Errorf("churn: %d Services at %d changes/s: expected at least 1 of each", n, rate)
	}
	count := int(d.Seconds() * float64(rate))
	if count < 1 {
		return nil, fmt.Errorf("churn: %s at %d changes/s is no change: expected a longer window", d, rate)
	}
	order := rand.New(rand.NewPCG(seed, seed>>1|1)).Perm(n)
	out := make([]ChurnChange, count)
	for k := range out {
		out[k] = ChurnChange{
			At:      time.Duration(k) * time.Second / time.Duration(rate),
			Service: order[k%n],
			Add:     (k/n)%2 == 0,
		}
	}
	return out, nil
}

// Churn is what the churn phase measured.
type Churn struct {
	// Seconds is the planned window, Rate the planned changes per second; WrittenRate is
	// the rate the writes actually started at, and WriteLagSeconds how late after its
	// planned time the latest one started (open loop: the writes never wait for the proxy).
	Seconds         float64 `json:"seconds"`
	Rate            int     `json:"rate"`
	WrittenRate     float64 `json:"writtenRate"`
	WriteLagSeconds float64 `json:"writeLagSeconds"`
	// Changes were written; WriteErrors failed at the API server and are not counted.
	Changes     int `json:"changes"`
	WriteErrors int `json:"writeErrors,omitempty"`
	// Observed changes were seen in the node's kernel within ChurnMissedAfter of their
	// write; Missed were not.
	Observed int `json:"observed"`
	Missed   int `json:"missed"`
	// ProgrammingP50/P99Seconds are quantiles of kubeproxy_network_programming_duration_seconds
	// over the churn (the histogram's change from before the first write until the sync after
	// the last change was seen), interpolated inside the buckets as histogram_quantile does;
	// ProgrammingSamples is that change's count.
	ProgrammingP50Seconds float64 `json:"programmingP50Seconds"`
	ProgrammingP99Seconds float64 `json:"programmingP99Seconds"`
	ProgrammingSamples    uint64  `json:"programmingSamples"`
	// KernelP50/P99Seconds are quantiles of the time from a write's start until a read of
	// the kernel found the change, over every written change: a missed change counts as
	// longer than any observed, and a quantile that falls on one is reported as
	// ChurnMissedAfter with KernelP99Missed (or KernelP50Missed) set.
	KernelP50Seconds float64 `json:"kernelP50Seconds"`
	KernelP99Seconds float64 `json:"kernelP99Seconds"`
	KernelP50Missed  bool    `json:"kernelP50Missed,omitempty"`
	KernelP99Missed  bool    `json:"kernelP99Missed,omitempty"`
	// ReadSeconds is the mean duration of one read of the kernel: a change is timed at the
	// end of the read that found it, so the kernel times are late by up to this much.
	ReadSeconds float64 `json:"readSeconds"`
	// ClockOffsetSeconds is node clock minus host clock, measured again before the churn:
	// the trigger times are written on the node's clock.
	ClockOffsetSeconds float64 `json:"clockOffsetSeconds"`
	Seed               uint64  `json:"seed"`
}

// SampleQuantile is the q-quantile (nearest rank) of total samples of which observed are
// known and the rest are larger than all of them; beyond tells that it falls on one of
// those.
func SampleQuantile(observed []float64, total int, q float64) (v float64, beyond bool) {
	if total == 0 || total < len(observed) {
		return math.NaN(), false
	}
	s := slices.Clone(observed)
	slices.Sort(s)
	rank := int(math.Ceil(q*float64(total))) - 1
	rank = max(rank, 0)
	if rank >= len(s) {
		return 0, true
	}
	return s[rank], false
}

// ChurnOptions sets up the churn phase.
type ChurnOptions struct {
	Duration time.Duration
	Seed     uint64
	// Keep are extra endpoints of some Services that every write of their slice keeps (the
	// one-endpoint change's).
	Keep map[int][]netip.Addr
}

// ChurnArtifacts are the raw metrics around the churn.
type ChurnArtifacts struct {
	MetricsBefore, MetricsAfter []byte
	// LastRead is the last read of the kernel that found a change, as the node printed it.
	LastRead []byte
}

// pendingChange is a written change not yet seen in the kernel.
type pendingChange struct {
	vs      netip.AddrPort
	add     bool
	written time.Time
}

// measureChurn runs the churn on a cluster holding the N Services (clusterIPs) and returns
// what it measured, with any error.
func measureChurn(ctx context.Context, t Target, clusterIPs []netip.Addr, o ChurnOptions, log *slog.Logger) (Churn, ChurnArtifacts, error) {
	c := Churn{Seconds: o.Duration.Seconds(), Rate: ChurnRate, Seed: o.Seed}
	var art ChurnArtifacts
	plan, err := ChurnSchedule(len(clusterIPs), ChurnRate, o.Duration, o.Seed)
	if err != nil {
		return c, art, err
	}
	if c.ClockOffsetSeconds, _, err = clockOffset(ctx, t.Node); err != nil {
		return c, art, err
	}
	art.MetricsBefore, err = node.Output(ctx, t.Node, "curl", "-sS", "--fail", "--max-time", "20", t.MetricsURL+"/metrics")
	if err != nil {
		return c, art, fmt.Errorf("reading the proxy's metrics on %s: %w", t.MetricsURL, err)
	}
	before, err := kubeproxy.ProgrammingLatency(art.MetricsBefore, FamilyIPv4)
	if err != nil {
		return c, art, err
	}
	log.Info("clusterbench: churn starts", "changes", len(plan), "rate", ChurnRate, "window", o.Duration)

	pending := make(chan pendingChange, len(plan))
	var (
		mu       sync.Mutex
		written  []time.Time
		writeErr []error
		lag      time.Duration
	)
	var writers sync.WaitGroup
	start := time.Now()
	offset := offsetDuration(c.ClockOffsetSeconds)
	write := func(ch ChurnChange) {
		defer writers.Done()
		extra := slices.Clone(o.Keep[ch.Service])
		if ch.Add {
			extra = append(extra, ChurnAddress)
		}
		s := EndpointSlice(ch.Service, t.NodeName, extra...)
		at := time.Now()
		// The controller's stamp is on its own clock; the proxy subtracts it from the
		// node's, so the write's time goes in on the node's clock.
		s.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: at.Add(offset).UTC().Format(time.RFC3339Nano)}
		_, err := t.Client.DiscoveryV1().EndpointSlices(Namespace).Update(ctx, s, metav1.UpdateOptions{})
		mu.Lock()
		defer mu.Unlock()
		lag = max(lag, at.Sub(start.Add(ch.At)))
		if err != nil {
			writeErr = append(writeErr, fmt.Errorf("update EndpointSlice %s/%s: %w", Namespace, ServiceName(ch.Service), err))
			return
		}
		written = append(written, at)
		pending <- pendingChange{vs: netip.AddrPortFrom(clusterIPs[ch.Service], ServicePort), add: ch.Add, written: at}
	}
	// Open loop: each write starts on its own at its planned time, however long the ones
	// before take, while observeChurn reads the kernel.
	writers.Add(1)
	go func() {
		defer writers.Done()
		for _, ch := range plan {
			if sleep(ctx, time.Until(start.Add(ch.At))) != nil {
				return
			}
			writers.Add(1)
			go write(ch)
		}
	}()
	go func() { writers.Wait(); close(pending) }()

	latencies, missed, reads, readTime, lastSeen, err := observeChurn(ctx, t, pending, &art.LastRead)
	writers.Wait()
	c.WriteLagSeconds = lag.Seconds()
	c.WriteErrors = len(writeErr)
	c.Changes = len(written)
	c.Observed, c.Missed = len(latencies), missed
	if len(written) > 1 {
		slices.SortFunc(written, time.Time.Compare)
		c.WrittenRate = float64(len(written)-1) / written[len(written)-1].Sub(written[0]).Seconds()
	}
	if reads > 0 {
		c.ReadSeconds = readTime.Seconds() / float64(reads)
	}
	c.KernelP50Seconds, c.KernelP50Missed = SampleQuantile(latencies, c.Changes, 0.5)
	c.KernelP99Seconds, c.KernelP99Missed = SampleQuantile(latencies, c.Changes, 0.99)
	for _, p := range []*float64{&c.KernelP50Seconds, &c.KernelP99Seconds} {
		if *p == 0 || math.IsNaN(*p) {
			*p = 0
		}
	}
	if c.KernelP50Missed {
		c.KernelP50Seconds = ChurnMissedAfter.Seconds()
	}
	if c.KernelP99Missed {
		c.KernelP99Seconds = ChurnMissedAfter.Seconds()
	}
	if err != nil {
		return c, art, err
	}
	if len(writeErr) > 0 {
		log.Warn("clusterbench: churn writes failed", "failed", len(writeErr), "first", writeErr[0])
	}
	log.Info("clusterbench: churn written and observed", "changes", c.Changes, "observed", c.Observed, "missed", c.Missed,
		"kernelP50", round(c.KernelP50Seconds), "kernelP99", round(c.KernelP99Seconds), "meanRead", round(c.ReadSeconds))

	// The histogram is read after a sync that ended once the last change was in the
	// kernel; changes never seen may still be pending in the proxy and are left out of it.
	since := lastSeen
	if since.IsZero() {
		since = time.Now()
	}
	deadline := time.Now().Add(5 * time.Minute)
	_, art.MetricsAfter, err = waitSync(ctx, t, Measurement{ClockOffsetSeconds: c.ClockOffsetSeconds}, since, deadline, log)
	if err != nil {
		return c, art, err
	}
	after, err := kubeproxy.ProgrammingLatency(art.MetricsAfter, FamilyIPv4)
	if err != nil {
		return c, art, err
	}
	d, err := after.Sub(before)
	if err != nil {
		return c, art, fmt.Errorf("network programming latency over the churn: %w", err)
	}
	c.ProgrammingSamples = d.Count
	c.ProgrammingP50Seconds, c.ProgrammingP99Seconds = d.Quantile(0.5), d.Quantile(0.99)
	if d.Count == 0 {
		return c, art, fmt.Errorf("the proxy observed no kubeproxy_network_programming_duration_seconds{ip_family=%q} over %d changes stamped with %s: expected one per change",
			FamilyIPv4, c.Changes, corev1.EndpointsLastChangeTriggerTime)
	}
	log.Info("clusterbench: churn programming latency", "samples", d.Count, "p50", round(c.ProgrammingP50Seconds), "p99", round(c.ProgrammingP99Seconds))
	return c, art, nil
}

// observeChurn reads the kernel for the pending changes until the writes are done and
// every change was seen or missed. It returns the latencies of those seen, how many were
// missed, the reads made and their summed time, and when the last change was seen.
func observeChurn(ctx context.Context, t Target, in <-chan pendingChange, lastRead *[]byte) (latencies []float64, missed, reads int, readTime time.Duration, lastSeen time.Time, err error) {
	var waiting []pendingChange
	open := true
	for open || len(waiting) > 0 {
		// Take what was written since the last read, waiting only when nothing is pending.
	drain:
		for open {
			var p pendingChange
			var ok bool
			if len(waiting) > 0 {
				select {
				case p, ok = <-in:
				default:
					break drain
				}
			} else {
				select {
				case p, ok = <-in:
				case <-ctx.Done():
					return latencies, missed, reads, readTime, lastSeen, ctx.Err()
				}
			}
			if !ok {
				open = false
				break
			}
			waiting = append(waiting, p)
		}
		now := time.Now()
		waiting = slices.DeleteFunc(waiting, func(p pendingChange) bool {
			if now.Sub(p.written) > ChurnMissedAfter {
				missed++
				return true
			}
			return false
		})
		if len(waiting) == 0 {
			continue
		}
		readStart := time.Now()
		out, rerr := node.Output(ctx, t.Node, "awk", "-v", "rs="+procAddrPort(netip.AddrPortFrom(ChurnAddress, TargetPort)), holdersScript, "/proc/net/ip_vs")
		readEnd := time.Now()
		reads++
		readTime += readEnd.Sub(readStart)
		if rerr != nil {
			return latencies, missed, reads, readTime, lastSeen, fmt.Errorf("reading /proc/net/ip_vs: %w", rerr)
		}
		holders, perr := ParseHolders(out)
		if perr != nil {
			return latencies, missed, reads, readTime, lastSeen, perr
		}
		waiting = slices.DeleteFunc(waiting, func(p pendingChange) bool {
			if holders[p.vs] != p.add {
				return false
			}
			latencies = append(latencies, readEnd.Sub(p.written).Seconds())
			lastSeen, *lastRead = readEnd, out
			return true
		})
		if err := sleep(ctx, changePoll); err != nil {
			return latencies, missed, reads, readTime, lastSeen, err
		}
	}
	return latencies, missed, reads, readTime, lastSeen, nil
}

// holdersScript prints, from /proc/net/ip_vs, each TCP virtual server that lists the real
// server rs: one short process per read whatever N, where `ipvsadm -Ln -t` per pending
// change costs an exec each (4.5 s for 32 of them under TCG) and a whole-table dump
// seconds at 1,000. The kernel prints addresses as hex: 0A60000A:0050.
const holdersScript = `$1 == "TCP" { vs = $2 } $1 == "->" && $2 == rs { print vs }`

// procAddrPort is an IPv4 address and port as /proc/net/ip_vs prints them.
func procAddrPort(ap netip.AddrPort) string {
	b := ap.Addr().As4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", b[0], b[1], b[2], b[3], ap.Port())
}

// ParseHolders reads holdersScript's output: one virtual server a line, as
// /proc/net/ip_vs prints it (hex IPv4 address and port).
func ParseHolders(out []byte) (map[netip.AddrPort]bool, error) {
	holders := map[netip.AddrPort]bool{}
	for line := range strings.Lines(string(out)) {
		f := strings.TrimSpace(line)
		if f == "" {
			continue
		}
		ap, err := parseProcAddrPort(f)
		if err != nil {
			return nil, err
		}
		holders[ap] = true
	}
	return holders, nil
}

func parseProcAddrPort(s string) (netip.AddrPort, error) {
	addr, port, ok := strings.Cut(s, ":")
	if !ok || len(addr) != 8 || len(port) != 4 {
		return netip.AddrPort{}, fmt.Errorf("/proc/net/ip_vs: expected a virtual server as 8 hex digits, a colon and 4 (0A60000A:0050), found %q", s)
	}
	a, err1 := strconv.ParseUint(addr, 16, 32)
	p, err2 := strconv.ParseUint(port, 16, 16)
	if err1 != nil || err2 != nil {
		return netip.AddrPort{}, fmt.Errorf("/proc/net/ip_vs: expected hex digits in a virtual server, found %q", s)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), uint16(p)), nil
}
