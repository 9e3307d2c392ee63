package clusterbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
)

// Config is what Run measures (which proxies at which Ns) and where it writes the table,
// results and profiles. Run expects it validated, as `ipvs-e2e bench cluster` does its flags.
type Config struct {
	// Ns are the Service counts measured, ascending, without repeats.
	Ns []int
	// UpstreamNs are the Ns (of Ns) the upstream proxy is measured at.
	UpstreamNs []int
	// Upstream is the upstream kube-proxy release compared with; empty measures the
	// reference proxier only.
	Upstream string
	// Out is the directory for the table, results, raw outputs and profiles.
	Out string
	// ProfileSeconds > 0 profiles the reference proxier's CPU at the largest N (Options).
	ProfileSeconds int
	// Parallel creates at once in the burst.
	Parallel int
	// IPVSDump is the static ipvsdump binary copied into the node.
	IPVSDump string
	// SkipReference measures upstream only.
	SkipReference bool
	// Churn is the churn phase's window at the Ns of ChurnNs (0: none), with the Services'
	// order drawn from ChurnSeed.
	Churn     time.Duration
	ChurnNs   []int
	ChurnSeed uint64
}

// Run measures each (N, proxy) pair of c on its own fresh lab cluster, N ascending and the
// reference first, rewriting the table after each so an interrupted run keeps what it
// measured, and prints the table to stdout at the end.
func Run(ctx context.Context, c Config, stdout io.Writer) error {
	if len(c.Ns) == 0 {
		return errors.New("clusterbench: no N to measure")
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return err
	}
	rep := report{Header: newHeader(c)}
	largest := c.Ns[len(c.Ns)-1]
	var errs []error
	for _, n := range c.Ns {
		var proxies []string
		if !c.SkipReference {
			proxies = append(proxies, lab.Reference)
		}
		if c.Upstream != "" && slices.Contains(c.UpstreamNs, n) {
			proxies = append(proxies, c.Upstream)
		}
		for _, proxy := range proxies {
			if ctx.Err() != nil {
				return errors.Join(append(errs, ctx.Err())...)
			}
			profile := 0
			if proxy == lab.Reference && n == largest {
				profile = c.ProfileSeconds
			}
			m, guestKernel, err := runOne(ctx, c, proxy, n, profile)
			if guestKernel != "" {
				rep.Header.GuestKernel = guestKernel
			}
			if err != nil {
				err = fmt.Errorf("%s at N=%d: %w", proxy, n, err)
				slog.Error("bench: measurement failed", "err", err)
				m.Notes = append(m.Notes, "FAILED: "+err.Error())
				errs = append(errs, err)
			}
			rep.Results = append(rep.Results, m)
			if err := rep.write(c.Out); err != nil {
				return err
			}
		}
	}
	fmt.Fprint(stdout, rep.text())
	slog.Info("bench: written", "table", filepath.Join(c.Out, tableFile), "results", filepath.Join(c.Out, ResultsFile))
	return errors.Join(errs...)
}

// runOne creates a fresh lab cluster running proxy and measures it at n Services.
func runOne(ctx context.Context, c Config, proxy string, n, profileSeconds int) (Measurement, string, error) {
	m := Measurement{Proxy: proxy, Services: n}
	slog.Info("bench: fresh lab cluster", "proxy", proxy, "N", n)
	p, err := lab.New(cluster.Options{Name: "ipvs-bench", KubernetesVersion: proxy, ProxyMode: cluster.ModeIPVS})
	if err != nil {
		return m, "", err
	}
	if err := p.Preflight(ctx); err != nil {
		return m, "", err
	}
	start := time.Now()
	_, err = p.Create(ctx)
	m.ClusterSeconds = time.Since(start).Seconds()
	defer func() {
		if err := p.Delete(context.WithoutCancel(ctx)); err != nil {
			slog.Warn("bench: deleting the lab cluster", "err", err)
		}
	}()
	if err != nil {
		return m, "", err
	}
	// The burst is the API server's load, not client-go's default 5 QPS.
	_, cs, err := cluster.Connect(ctx, p, func(rc *rest.Config) { rc.QPS, rc.Burst = 2000, 4000 })
	if err != nil {
		return m, "", err
	}
	nodes, err := p.Nodes(ctx)
	if err != nil {
		return m, "", err
	}
	nd := nodes[0]
	guestKernel := ""
	if out, err := node.Output(ctx, nd, "uname", "-r"); err == nil {
		guestKernel = strings.TrimSpace(string(out))
	}
	if err := node.InstallIPVSDump(ctx, nd, c.IPVSDump); err != nil {
		return m, guestKernel, err
	}
	metricsURL := "http://" + kubeproxy.MetricsAddress
	if profileSeconds > 0 {
		if err := enableProfiling(ctx, cs, nd, metricsURL); err != nil {
			return m, guestKernel, err
		}
	}
	t := Target{
		Client: cs, Node: nd, NodeName: lab.NodeName,
		ProxyBinary: p.ProxyBinary(), MetricsURL: metricsURL, IPVSDump: node.DefaultIPVSDumpPath,
	}
	res, art, err := Measure(ctx, t, Options{
		Proxy: proxy, Services: n, Parallel: c.Parallel, ProfileSeconds: profileSeconds,
		Timeout: 5*time.Minute + time.Duration(n)*300*time.Millisecond,
		Churn:   churnAt(c, n), ChurnSeed: c.ChurnSeed,
	})
	res.ClusterSeconds = m.ClusterSeconds
	if len(art.Profiles) > 0 {
		res.Profile = profileBase(res) + ".pprof"
	}
	if werr := writeArtifacts(c.Out, res, art); werr != nil {
		err = errors.Join(err, werr)
	}
	return res, guestKernel, err
}

// churnAt is the churn window at n: none unless ChurnNs lists it.
func churnAt(c Config, n int) time.Duration {
	if !slices.Contains(c.ChurnNs, n) {
		return 0
	}
	return c.Churn
}

// enableProfiling sets enableProfiling in the kube-proxy ConfigMap and restarts the proxy
// the seed's way (delete its pod), then waits for the new process's first sync.
func enableProfiling(ctx context.Context, cs kubernetes.Interface, nd node.Node, metricsURL string) error {
	kc := kubeproxy.Cluster{Client: cs, Nodes: []node.Node{nd}}
	if _, err := kubeproxy.EditConfig(ctx, kc, func(conf kubeproxy.Config) (kubeproxy.Config, error) {
		return conf.Set("enableProfiling", "true")
	}); err != nil {
		return fmt.Errorf("enabling profiling in the kube-proxy ConfigMap: %w", err)
	}
	if _, err := kubeproxy.RestartPods(ctx, kc); err != nil {
		return fmt.Errorf("restarting the proxy with profiling: %w", err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := node.Output(ctx, nd, "curl", "-sS", "--fail", "--max-time", "5", metricsURL+"/debug/pprof/")
		if err == nil && bytes.Contains(out, []byte("profile")) {
			if m, err := node.Output(ctx, nd, "curl", "-sS", "--fail", "--max-time", "5", metricsURL+"/metrics"); err == nil {
				if s, err := ParseSyncMetrics(m, FamilyIPv4); err == nil && !s.Last.IsZero() {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the restarted proxy serves no /debug/pprof/ or has not synced within 3m (last error: %v)", err)
		}
		time.Sleep(time.Second)
	}
}

// writeArtifacts writes m's raw outputs under <out>/cluster-raw/<proxy>-N<n> and its
// profiles into out.
func writeArtifacts(out string, m Measurement, art Artifacts) error {
	dir := filepath.Join(out, "cluster-raw", fmt.Sprintf("%s-N%d", m.Proxy, m.Services))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	for name, b := range map[string][]byte{
		"metrics-before.txt": art.MetricsBefore, "metrics-after.txt": art.MetricsAfter,
		"iptables-save.txt": art.IPTablesSave, "proc-status.txt": art.ProcStatus,
		"churn-metrics-before.txt": art.Churn.MetricsBefore, "churn-metrics-after.txt": art.Churn.MetricsAfter,
		"churn-last-read.txt": art.Churn.LastRead,
	} {
		if len(b) > 0 {
			errs = append(errs, os.WriteFile(filepath.Join(dir, name), b, 0o644))
		}
	}
	if len(art.Profiles) > 0 {
		errs = append(errs, writeProfile(out, dir, profileBase(m), art.Profiles))
	}
	if len(art.HeapProfile) > 0 {
		errs = append(errs, writeHeapProfile(out, m, art.HeapProfile))
	}
	return errors.Join(errs...)
}

// writeProfile keeps each back-to-back profile under dir, merges them into
// <out>/<base>.pprof with `go tool pprof -proto`, and writes the merge's top beside it.
func writeProfile(out, dir, base string, profiles [][]byte) error {
	var parts []string
	for i, p := range profiles {
		part := filepath.Join(dir, fmt.Sprintf("cpu-%02d.pprof", i+1))
		if err := os.WriteFile(part, p, 0o644); err != nil {
			return err
		}
		parts = append(parts, part)
	}
	merged := filepath.Join(out, base+".pprof")
	proto, err := exec.Command("go", append([]string{"tool", "pprof", "-proto"}, parts...)...).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof -proto (merging %d profiles): %w", len(parts), err)
	}
	if err := os.WriteFile(merged, proto, 0o644); err != nil {
		return err
	}
	return writeTop(merged)
}

// writeHeapProfile writes the proxy's heap profile as <out>/cluster-<proxy>-N<n>-heap.pprof
// and the top of its live bytes beside it.
func writeHeapProfile(out string, m Measurement, heap []byte) error {
	path := filepath.Join(out, fmt.Sprintf("cluster-%s-N%d-heap.pprof", m.Proxy, m.Services))
	if err := os.WriteFile(path, heap, 0o644); err != nil {
		return err
	}
	return writeTop(path, "-sample_index=inuse_space")
}

// writeTop writes `go tool pprof -top` of the profile at path, with flags, beside it:
// <name>.pprof gets <name>.top.txt.
func writeTop(path string, flags ...string) error {
	args := append(append([]string{"tool", "pprof", "-top"}, flags...), "-nodecount=60", path)
	top, err := exec.Command("go", args...).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof -top %s: %w", path, err)
	}
	return os.WriteFile(strings.TrimSuffix(path, ".pprof")+".top.txt", top, 0o644)
}

// profileBase names m's merged CPU profile (without .pprof) and its top.
func profileBase(m Measurement) string {
	return fmt.Sprintf("cluster-%s-N%d-cpu", m.Proxy, m.Services)
}
