package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/scenario"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/clusterbench"
	"github.com/ipvs-e2e/ipvs-e2e/proxy"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel"
	"github.com/ipvs-e2e/ipvs-e2e/proxy/kernel/iptables"
)

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		n, changes int
		profile    string
		timeout    time.Duration
	)
	cfg, err := proxierFlags("seedguest bench", args, stderr, func(fs *pflag.FlagSet) {
		fs.IntVarP(&n, "services", "n", 1000, "Services to create, each with 2 ready endpoints on this node")
		fs.IntVar(&changes, "changes", 3, "single-endpoint changes to time after the full sync")
		fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the proxier's start and first sync here")
		fs.DurationVar(&timeout, "sync-timeout", 2*time.Hour, "give up when the first sync takes longer")
	})
	if err != nil {
		return err
	}
	if n < 1 || n > clusterbench.MaxServices {
		return usageError(fmt.Sprintf("-n %d: expected 1 to %d Services", n, clusterbench.MaxServices))
	}
	defer klog.Flush()
	k, err := kernel.Linux()
	if err != nil {
		return err
	}
	defer k.Close()
	// From empty: whatever a previous run left goes first, and the table must then be empty.
	if err := proxy.Cleanup(k, proxy.CleanupOptions{}); err != nil {
		return fmt.Errorf("cleaning the kernel before the run: %w", err)
	}
	if vss, err := k.IPVS.Services(); err != nil || len(vss) > 0 {
		return fmt.Errorf("the IPVS table is not empty before the run (%d virtual servers, err %v)", len(vss), err)
	}
	nodeName := cfg.HostnameOverride
	if nodeName == "" {
		nodeName = benchNode
	}
	nodeIP, err := primaryAddress(k)
	if err != nil {
		return err
	}
	res := scenario.BenchResult{Services: n, Profile: profile}
	log := func(format string, a ...any) {
		fmt.Fprintf(stdout, "bench n=%d: "+format+"\n", append([]any{n}, a...)...)
	}

	t := time.Now()
	objs := []kruntime.Object{nodeObject(nodeName, nodeIP, netip.MustParsePrefix(benchPodCIDR))}
	for i := range n {
		objs = append(objs, benchService(i), benchSlice(i, nodeName))
	}
	client := fake.NewClientset(objs...)
	objs = nil
	res.StoreSeconds = time.Since(t).Seconds()
	log("store holds %d Services and %d EndpointSlices (%.2f s)", n, n, res.StoreSeconds)
	runtime.GC()
	res.RSSBeforeMB, _ = procStatusMB("VmRSS")

	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	logger := klog.Background()
	start := time.Now()
	setup := proxy.SetupOptionsFrom(cfg)
	setup.Logger = logger
	if err := proxy.Setup(k, setup); err != nil {
		pprof.StopCPUProfile()
		return err
	}
	p, err := proxy.New(proxy.Options{Config: cfg, NodeName: nodeName, Client: client, Kernel: k, Families: []int{4}, Logger: logger})
	if err != nil {
		pprof.StopCPUProfile()
		return err
	}
	m := p.Metrics()
	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(runCtx) }()
	var (
		stopped bool
		runErr  error
	)
	stopProxier := func() error {
		if !stopped {
			stopped = true
			stop()
			runErr = <-runDone
		}
		return runErr
	}
	defer stopProxier()

	full := func() (uint64, float64) { return histogram(m.FullSyncDuration) }
	partial := func() (uint64, float64) { return histogram(m.PartialSyncDuration) }
	errorsNow := func() int { return int(counter(m.SyncErrors)) }
	programmedVS := func() int { return int(gauge(m.Programmed, "virtual_servers")) }
	programmedRS := func() int { return int(gauge(m.Programmed, "real_servers")) }
	err = poll(ctx, 20*time.Millisecond, timeout, func() (bool, error) {
		if e := errorsNow(); e > 0 {
			return false, fmt.Errorf("a sync of the proxier failed (%d failed syncs): see its log above", e)
		}
		// The gauges are set right after the sync's duration is observed: a first sync
		// seen with no virtual servers yet is read again at the next poll.
		if c, sum := full(); c > 0 && res.FirstSyncVirtualServers == 0 {
			res.FirstSyncSeconds, res.FirstSyncVirtualServers = sum, programmedVS()
		}
		return programmedVS() == n && programmedRS() == 2*n, nil
	})
	res.StartToProgrammedSeconds = time.Since(start).Seconds()
	pprof.StopCPUProfile()
	if err != nil {
		return fmt.Errorf("waiting for %d virtual servers and %d real servers (the proxier reports %d and %d): %w", n, 2*n, programmedVS(), programmedRS(), err)
	}
	count, sum := histogram(m.SyncDuration)
	res.Syncs, res.SyncSeconds = int(count), sum
	log("first (full) sync: %.2f s for %d of %d Services; all %d programmed after %d syncs taking %.2f s, %.2f s after the proxier's start",
		res.FirstSyncSeconds, res.FirstSyncVirtualServers, n, n, res.Syncs, res.SyncSeconds, res.StartToProgrammedSeconds)

	t = time.Now()
	st, err := kernel.Read(k, kernel.ReadOptions{IPVS: true, Links: true})
	if err != nil {
		return err
	}
	res.KernelReadSeconds = time.Since(t).Seconds()
	res.VirtualServers = len(st.IPVS.Services)
	for _, vs := range st.IPVS.Services {
		res.RealServers += len(vs.RealServers)
	}
	if l, ok := st.Link(dataplane.KubeIPVSInterface); ok {
		res.Addresses = len(l.Addrs)
	}
	rules, err := k.IPTables.Save(iptables.IPv4, "nat", "filter")
	if err != nil {
		return err
	}
	res.NATRules, res.FilterRules = rules.RuleCount("nat"), rules.RuleCount("filter")
	log("kernel: %d virtual servers, %d real servers, %d addresses on kube-ipvs0 (read in %.2f s); iptables nat %d rules, filter %d",
		res.VirtualServers, res.RealServers, res.Addresses, res.KernelReadSeconds, res.NATRules, res.FilterRules)
	if res.VirtualServers != n || res.RealServers != 2*n || res.Addresses != n {
		return fmt.Errorf("the proxier reports all programmed, but the kernel holds %d virtual servers, %d real servers and %d addresses; expected %d, %d and %d",
			res.VirtualServers, res.RealServers, res.Addresses, n, 2*n, n)
	}

	for j := range min(changes, n) {
		i := n - 1 - j
		c, err := benchChange(ctx, client, i, nodeName, full, partial)
		if err != nil {
			return err
		}
		res.Changes = append(res.Changes, c)
		log("+1 endpoint on %s: in the kernel after %.3f s; the proxier's sync took %.3f s (full=%v)", c.Service, c.VisibleSeconds, c.SyncSeconds, c.Full)
	}
	res.SyncErrors = errorsNow()
	res.RSSMB, _ = procStatusMB("VmRSS")
	res.PeakRSSMB, _ = procStatusMB("VmHWM")
	log("RSS %.1f MB (%.1f MB before the proxier started; peak %.1f MB)", res.RSSMB, res.RSSBeforeMB, res.PeakRSSMB)
	if err := stopProxier(); err != nil {
		return err
	}

	t = time.Now()
	if err := proxy.Cleanup(k, proxy.CleanupOptions{}); err != nil {
		return fmt.Errorf("cleaning up after the run: %w", err)
	}
	res.CleanupSeconds = time.Since(t).Seconds()
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s%s\n", scenario.BenchPrefix, b)
	return nil
}

// benchChange adds a third endpoint to Service i's slice and times it into the kernel.
func benchChange(ctx context.Context, client *fake.Clientset, i int, node string, full, partial func() (uint64, float64)) (scenario.ChangeResult, error) {
	svc := benchService(i)
	c := scenario.ChangeResult{Service: svc.Name}
	vip := netip.AddrPortFrom(netip.MustParseAddr(svc.Spec.ClusterIP), clusterbench.ServicePort)
	probe, err := newRSProbe(dataplane.TCP, vip)
	if err != nil {
		return c, err
	}
	defer probe.Close()
	rs := netip.AddrPortFrom(clusterbench.ChangeAddress, clusterbench.TargetPort)
	fc0, fs0 := full()
	pc0, ps0 := partial()
	start := time.Now()
	if _, err := client.DiscoveryV1().EndpointSlices(clusterbench.Namespace).Update(ctx, benchSlice(i, node, clusterbench.ChangeAddress), metav1.UpdateOptions{}); err != nil {
		return c, err
	}
	err = poll(ctx, 2*time.Millisecond, 5*time.Minute, func() (bool, error) { return probe.has(rs), nil })
	c.VisibleSeconds = time.Since(start).Seconds()
	if err != nil {
		return c, fmt.Errorf("%s -> %s: %w", vip, rs, err)
	}
	err = poll(ctx, 5*time.Millisecond, 5*time.Minute, func() (bool, error) {
		fc, fs := full()
		pc, ps := partial()
		switch {
		case pc > pc0:
			c.SyncSeconds = ps - ps0
		case fc > fc0:
			c.SyncSeconds, c.Full = fs-fs0, true
		default:
			return false, nil
		}
		return true, nil
	})
	return c, err
}

// benchService is clusterbench's Service i (make bench-cluster's workload) with the
// ClusterIP an API server would allocate, 10.96.0.10+i: the fake clientset allocates none.
func benchService(i int) *corev1.Service {
	svc := clusterbench.Service(i)
	ip := addrAdd(netip.MustParseAddr("10.96.0.10"), i).String()
	svc.ResourceVersion = "1"
	svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	return svc
}

// benchSlice is clusterbench's EndpointSlice of Service i: two ready endpoints on the
// node, and the extra ones a change adds (with the next resource version).
func benchSlice(i int, node string, extra ...netip.Addr) *discoveryv1.EndpointSlice {
	es := clusterbench.EndpointSlice(i, node, extra...)
	es.ResourceVersion = strconv.Itoa(1 + len(extra))
	return es
}

func addrAdd(a netip.Addr, n int) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// histogram reads the IPv4 series of a histogram: sample count and sum.
func histogram(h *prometheus.HistogramVec) (uint64, float64) {
	var m dto.Metric
	if err := h.WithLabelValues("IPv4").(prometheus.Metric).Write(&m); err != nil {
		return 0, 0
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// gauge reads the IPv4 series of kubeproxy_ipvs_programmed_objects of one kind.
func gauge(g *prometheus.GaugeVec, kind string) float64 {
	var m dto.Metric
	if err := g.WithLabelValues("IPv4", kind).Write(&m); err != nil {
		return 0
	}
	return m.GetGauge().GetValue()
}

func counter(c *prometheus.CounterVec) float64 {
	var m dto.Metric
	if err := c.WithLabelValues("IPv4").Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// poll calls cond every interval until it is done, fails, or timeout passes.
func poll(ctx context.Context, interval, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// procStatusMB reads a "kB" field of /proc/self/status (VmRSS, VmHWM) in MB.
func procStatusMB(field string) (float64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return statusField(f, field)
}

func statusField(r io.Reader, field string) (float64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a number of kB", field, rest)
		}
		return kb / 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s line in /proc/self/status", field)
}
