package benchcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-e2e/ipvs-e2e/cmd/ipvs-e2e/internal/cli"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster"
	"github.com/ipvs-e2e/ipvs-e2e/framework/cluster/lab"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
	"github.com/ipvs-e2e/ipvs-e2e/framework/node"
	"github.com/ipvs-e2e/ipvs-e2e/hack/report/clusterbench"
)

type config struct {
	ns             []int
	upstreamNs     []int
	upstream       string
	out            string
	profileSeconds int
	parallel       int
	ipvsdump       string
	skipReference  bool
	churn          time.Duration
	churnNs        []int
	churnSeed      uint64
}

// clusterFlags is `bench cluster`; its Service counts stay text until parseNs.
type clusterFlags struct {
	config
	ns, upstreamNs, churnNs string
	render                  string
}

func (f *clusterFlags) Run(cmd *cobra.Command, _ []string) error {
	stdout := cmd.OutOrStdout()
	if f.render != "" {
		text, err := rerender(f.render)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, text)
		return nil
	}
	c := f.config
	switch {
	case c.parallel < 1 || c.parallel > 1000:
		return cli.Usagef("--parallel %d: expected 1 to 1000 concurrent creates", c.parallel)
	case c.profileSeconds < 0:
		return cli.Usagef("--profile-seconds %d: expected 0 (no profile) or more", c.profileSeconds)
	case c.churn != 0 && (c.churn < 5*time.Second || c.churn > 30*time.Minute):
		return cli.Usagef("--churn %s: expected 0 (no churn phase) or from 5s to 30m", c.churn)
	}
	var err error
	if c.ns, err = parseNs(f.ns); err != nil {
		return &cli.UsageError{Err: fmt.Errorf("-n: %w", err)}
	}
	c.upstreamNs = c.ns
	if f.upstreamNs != "" {
		if c.upstreamNs, err = parseNs(f.upstreamNs); err != nil {
			return &cli.UsageError{Err: fmt.Errorf("--upstream-n: %w", err)}
		}
	}
	if c.churnNs, err = parseNs(f.churnNs); err != nil {
		return &cli.UsageError{Err: fmt.Errorf("--churn-n: %w", err)}
	}
	return run(cmd.Context(), c, stdout)
}

func (f *clusterFlags) Bind(fs *pflag.FlagSet) {
	fs.StringVarP(&f.ns, "n", "n", "100,1000", "Service counts N to measure, comma-separated")
	fs.StringVar(&f.upstreamNs, "upstream-n", "", "the Ns upstream kube-proxy is measured at (default: all of -n); upstream needs ~40 min at 10000")
	fs.StringVar(&f.upstream, "upstream", lab.DefaultVersion, "the upstream kube-proxy release to compare with; empty: the reference proxier only")
	fs.StringVar(&f.out, "out", "_out/bench", "directory for the table, results and profile")
	fs.IntVar(&f.profileSeconds, "profile-seconds", 30, "the reference proxier's CPU is profiled at the largest N from the burst's start until it has synced, in profiles of this many seconds, merged (0: none)")
	fs.IntVar(&f.parallel, "parallel", 32, "concurrent creates in the burst")
	fs.StringVar(&f.ipvsdump, "ipvsdump", cluster.CheckoutPath("bin", "ipvsdump"), "static ipvsdump binary copied into the node")
	fs.DurationVar(&f.churn, "churn", clusterbench.DefaultChurnDuration, "the churn phase's window at the Ns of --churn-n: 20 endpoint changes per second after the other measurements (0: none)")
	fs.StringVar(&f.churnNs, "churn-n", "1000,10000", "the Ns (of those measured) the churn phase runs at, comma-separated")
	fs.Uint64Var(&f.churnSeed, "churn-seed", 1, "seed of the order the churn changes the Services in")
	fs.BoolVar(&f.skipReference, "skip-reference", false, "measure upstream only")
	fs.StringVar(&f.render, "render", "", "measure nothing: rewrite the table beside this "+resultsFile+" from it (after a change of the table's layout)")
}

// parseNs reads "100,1000".
func parseNs(s string) ([]int, error) {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > clusterbench.MaxServices {
			return nil, fmt.Errorf("N %q: expected a whole number from 1 to %d", f, clusterbench.MaxServices)
		}
		ns = append(ns, n)
	}
	if len(ns) == 0 {
		return nil, errors.New("no N given (-n 100,1000)")
	}
	slices.Sort(ns)
	return slices.Compact(ns), nil
}

// run measures each (N, proxy) pair on its own fresh cluster, N ascending and the reference
// first, rewriting the table after each so an interrupted run keeps what it measured.
func run(ctx context.Context, c config, stdout io.Writer) error {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	rep := report{Header: header(c)}
	largest := c.ns[len(c.ns)-1]
	var errs []error
	for _, n := range c.ns {
		var proxies []string
		if !c.skipReference {
			proxies = append(proxies, lab.Reference)
		}
		if c.upstream != "" && slices.Contains(c.upstreamNs, n) {
			proxies = append(proxies, c.upstream)
		}
		for _, proxy := range proxies {
			if ctx.Err() != nil {
				return errors.Join(append(errs, ctx.Err())...)
			}
			profile := 0
			if proxy == lab.Reference && n == largest {
				profile = c.profileSeconds
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
			if err := rep.write(c.out); err != nil {
				return err
			}
		}
	}
	fmt.Fprint(stdout, rep.text())
	slog.Info("bench: written", "table", filepath.Join(c.out, tableFile), "results", filepath.Join(c.out, resultsFile))
	return errors.Join(errs...)
}

// runOne creates a fresh lab cluster running proxy and measures it at n Services.
func runOne(ctx context.Context, c config, proxy string, n, profileSeconds int) (clusterbench.Measurement, string, error) {
	m := clusterbench.Measurement{Proxy: proxy, Services: n}
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
	if err := node.InstallIPVSDump(ctx, nd, c.ipvsdump); err != nil {
		return m, guestKernel, err
	}
	metricsURL := "http://" + kubeproxy.MetricsAddress
	if profileSeconds > 0 {
		if err := enableProfiling(ctx, cs, nd, metricsURL); err != nil {
			return m, guestKernel, err
		}
	}
	t := clusterbench.Target{
		Client: cs, Node: nd, NodeName: lab.NodeName,
		ProxyBinary: p.ProxyBinary(), MetricsURL: metricsURL, IPVSDump: node.DefaultIPVSDumpPath,
	}
	res, art, err := clusterbench.Measure(ctx, t, clusterbench.Options{
		Proxy: proxy, Services: n, Parallel: c.parallel, ProfileSeconds: profileSeconds,
		Timeout: 5*time.Minute + time.Duration(n)*300*time.Millisecond,
		Churn:   churnAt(c, n), ChurnSeed: c.churnSeed,
	})
	res.ClusterSeconds = m.ClusterSeconds
	if len(art.Profiles) > 0 {
		res.Profile = profileBase(res) + ".pprof"
	}
	if werr := writeArtifacts(c.out, res, art); werr != nil {
		err = errors.Join(err, werr)
	}
	return res, guestKernel, err
}

// churnAt is the churn window at n: none unless --churn-n lists it.
func churnAt(c config, n int) time.Duration {
	if !slices.Contains(c.churnNs, n) {
		return 0
	}
	return c.churn
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
				if s, err := clusterbench.ParseSyncMetrics(m, clusterbench.FamilyIPv4); err == nil && !s.Last.IsZero() {
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

func writeArtifacts(out string, m clusterbench.Measurement, art clusterbench.Artifacts) error {
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
func writeHeapProfile(out string, m clusterbench.Measurement, heap []byte) error {
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

func profileBase(m clusterbench.Measurement) string {
	return fmt.Sprintf("cluster-%s-N%d-cpu", m.Proxy, m.Services)
}

const (
	tableFile   = "cluster-table.txt"
	resultsFile = "cluster-results.json"
)

// Header says when, where and with what the numbers were taken.
type Header struct {
	Date        string `json:"date"`
	HostCPUs    int    `json:"hostCPUs"`
	HostKernel  string `json:"hostKernel"`
	QEMU        string `json:"qemu"`
	GuestKernel string `json:"guestKernel"`
	Guest       string `json:"guest"`
	Go          string `json:"go"`
	Upstream    string `json:"upstream"`
	Commit      string `json:"commit"`
}

type report struct {
	Header  Header                     `json:"header"`
	Results []clusterbench.Measurement `json:"results"`
}

func header(c config) Header {
	h := Header{
		Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), HostCPUs: runtime.NumCPU(),
		Guest: "QEMU TCG, 1 vCPU, 2048 MiB", Go: runtime.Version(), Upstream: c.upstream,
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		h.HostKernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("qemu-system-x86_64", "--version").Output(); err == nil {
		h.QEMU = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		h.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			h.Commit += " (with uncommitted changes)"
		}
	}
	return h
}

func (r report) text() string {
	var b bytes.Buffer
	h := r.Header
	fmt.Fprintf(&b, "Proxies side by side in the lab cluster (make bench-cluster), %s\n", h.Date)
	fmt.Fprintf(&b, "machine: %d CPUs, host kernel %s; node: %s, guest kernel %s (%s)\n", h.HostCPUs, h.HostKernel, h.Guest, h.GuestKernel, h.QEMU)
	fmt.Fprintf(&b, "versions: %s; control plane and upstream kube-proxy %s; reference proxier at commit %s\n\n", h.Go, h.Upstream, h.Commit)
	clusterbench.WriteTable(&b, r.Results, lab.Reference)
	b.WriteString("\n" + clusterbench.Legend + "\n")
	if slices.ContainsFunc(r.Results, func(m clusterbench.Measurement) bool { return m.Churn != nil }) {
		b.WriteString("\nNetwork programming latency under churn (same clusters)\n\n")
		clusterbench.WriteChurnTable(&b, r.Results, lab.Reference)
		b.WriteString("\n" + clusterbench.ChurnLegend + "\n")
	}
	var notes []string
	for _, m := range r.Results {
		for _, n := range m.Notes {
			notes = append(notes, fmt.Sprintf("%s N=%d: %s", m.Proxy, m.Services, n))
		}
		if m.Profile != "" {
			notes = append(notes, fmt.Sprintf("%s N=%d: CPU profile %s", m.Proxy, m.Services, m.Profile))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\nnotes:\n  " + strings.Join(notes, "\n  ") + "\n")
	}
	return b.String()
}

// rerender reads a results file and rewrites the table beside it.
func rerender(results string) (string, error) {
	b, err := os.ReadFile(results)
	if err != nil {
		return "", err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return "", fmt.Errorf("%s: expected `ipvs-e2e bench cluster` results JSON: %w", results, err)
	}
	if len(r.Results) == 0 {
		return "", fmt.Errorf("%s: no results in it", results)
	}
	text := r.text()
	return text, os.WriteFile(filepath.Join(filepath.Dir(results), tableFile), []byte(text), 0o644)
}

func (r report) write(dir string) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, resultsFile), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, tableFile), []byte(r.text()), 0o644)
}
