package scenario

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
	"github.com/ipvs-e2e/ipvs-e2e/manifests"
)

// BenchPrefix starts the one line of JSON (a BenchResult) that `seedguest bench`
// (hack/lab/seedguest) prints in the guest.
const BenchPrefix = "BENCH "

// BenchResult is what one `seedguest bench -n N` measured in the guest. Times are seconds.
type BenchResult struct {
	Services int `json:"services"`
	// StoreSeconds is the time to fill the object store (not the proxier's work).
	StoreSeconds float64 `json:"storeSeconds"`
	// FirstSyncSeconds is the proxier's first sync, a full one from an empty kernel, by its
	// kubeproxy_sync_full_proxy_rules_duration_seconds; FirstSyncVirtualServers is what it
	// programmed. It can be fewer than N: the proxier starts syncing once the informers'
	// caches hold the initial list, while their event handlers may still be delivering it
	// (kube-proxy starts the same way); the rest follows in the next syncs.
	FirstSyncSeconds        float64 `json:"firstSyncSeconds"`
	FirstSyncVirtualServers int     `json:"firstSyncVirtualServers"`
	// Syncs and SyncSeconds count and sum the proxier's syncs (its
	// kubeproxy_sync_proxy_rules_duration_seconds) until all N Services were programmed.
	Syncs       int     `json:"syncs"`
	SyncSeconds float64 `json:"syncSeconds"`
	// StartToProgrammedSeconds runs, on the wall clock, from the proxier's start (kernel
	// setup, informers' list and watch) to its kubeproxy_ipvs_programmed_objects gauges
	// reporting N virtual servers and 2N real servers.
	StartToProgrammedSeconds float64 `json:"startToProgrammedSeconds"`
	// What a read of the kernel found right then, and how long the read took.
	VirtualServers    int     `json:"virtualServers"`
	RealServers       int     `json:"realServers"`
	Addresses         int     `json:"addresses"`
	KernelReadSeconds float64 `json:"kernelReadSeconds"`
	NATRules          int     `json:"natRules"`
	FilterRules       int     `json:"filterRules"`
	// Changes are the single-endpoint additions measured afterwards.
	Changes []ChangeResult `json:"changes"`
	// RSS of this process: before the proxier started (the store and runtime alone), after
	// the changes, and the peak (VmHWM).
	RSSBeforeMB float64 `json:"rssBeforeMB"`
	RSSMB       float64 `json:"rssMB"`
	PeakRSSMB   float64 `json:"peakRSSMB"`
	// CleanupSeconds is proxy.Cleanup of everything afterwards.
	CleanupSeconds float64 `json:"cleanupSeconds"`
	SyncErrors     int     `json:"syncErrors"`
	Profile        string  `json:"profile,omitempty"`
}

// ChangeResult is one EndpointSlice update that adds an endpoint to one Service.
type ChangeResult struct {
	Service string `json:"service"`
	// VisibleSeconds runs from the update call to the real server being in the kernel
	// (polled every 2 ms with one netlink request for that virtual server).
	VisibleSeconds float64 `json:"visibleSeconds"`
	// SyncSeconds is the proxier's own duration of the sync that applied it; Full tells
	// whether that sync was a full one (the periodic resync can coincide).
	SyncSeconds float64 `json:"syncSeconds"`
	Full        bool    `json:"full"`
}

// medianChange is the median change by visibility time (the middle one of an odd count,
// the lower middle otherwise).
func (r BenchResult) medianChange() (ChangeResult, bool) {
	if len(r.Changes) == 0 {
		return ChangeResult{}, false
	}
	cs := slices.Clone(r.Changes)
	slices.SortFunc(cs, func(a, b ChangeResult) int {
		switch {
		case a.VisibleSeconds < b.VisibleSeconds:
			return -1
		case a.VisibleSeconds > b.VisibleSeconds:
			return 1
		}
		return 0
	})
	return cs[(len(cs)-1)/2], true
}

// Upstream is kube-proxy v1.37.2 in ipvs mode measured in this same lab (guest 1 vCPU,
// TCG, 2 GiB) by the lead, from /work/shared/notes/lab-cluster.md, last section: N
// ClusterIP Services with 2 ready local endpoints each, created in one burst. Not measured
// by this program: the table labels them "upstream from notes (not this run)".
type Upstream struct {
	Services int
	// AllVisible: every VS and RS in IPVS after the burst; SyncEnds: its programming
	// sync ends (all ipsets and rules done).
	AllVisible, SyncEnds float64
	// OneVisible and OneSync: one endpoint added, visible in IPVS / its sync's duration.
	OneVisible, OneSync float64
	RSSMB               float64
}

// UpstreamFromNotes are the measured rows.
var UpstreamFromNotes = []Upstream{
	{Services: 100, AllVisible: 5.0, SyncEnds: 20, OneVisible: 1.4, OneSync: 2.3, RSSMB: 67},
	{Services: 1000, AllVisible: 7.2, SyncEnds: 168, OneVisible: 1.7, OneSync: 3.0, RSSMB: 78},
	{Services: 5000, AllVisible: 347, SyncEnds: 899, OneVisible: 2.5, OneSync: 5.8, RSSMB: 114},
	{Services: 10000, AllVisible: 329, SyncEnds: 2230, OneVisible: 4.4, OneSync: 11.8, RSSMB: 159},
}

func upstreamFor(n int) (Upstream, bool) {
	i := slices.IndexFunc(UpstreamFromNotes, func(u Upstream) bool { return u.Services == n })
	if i < 0 {
		return Upstream{}, false
	}
	return UpstreamFromNotes[i], true
}

// BenchOptions configure RunBench.
type BenchOptions struct {
	GuestBinary string
	// Services are the sizes, run one after the other in one guest (each from an empty
	// kernel); the largest gets the CPU profile.
	Services []int
	Changes  int
	// OutDir receives table.txt, results.json, cpu-N.pprof and cpu-N.top.txt.
	OutDir string
	// Timeout bounds the guest run; zero sizes it from the Service counts.
	Timeout time.Duration
	// Log, when set, receives the guest's output as it comes (progress).
	Log io.Writer
}

// BenchReport is what RunBench measured and wrote.
type BenchReport struct {
	Results []BenchResult
	Files   []string
	// Elapsed is the guest run's wall time, Boot its boot.
	Elapsed, Boot time.Duration
	MemoryMiB     int
	ProfileTop    string
}

// RunBench runs `seedguest bench` for each size in one lab guest and writes the report.
func RunBench(ctx context.Context, l *kernellab.Lab, o BenchOptions) (*BenchReport, error) {
	if len(o.Services) == 0 {
		return nil, errors.New("bench: no Service counts given")
	}
	if o.Changes <= 0 {
		o.Changes = 3
	}
	largest := slices.Max(o.Services)
	mem := 1024
	if largest > 2000 {
		mem = 2048
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
		if largest > 2000 {
			o.Timeout = 90 * time.Minute
		}
	}
	cfg, err := manifests.FS.ReadFile(manifests.KubeProxyIPVS)
	if err != nil {
		return nil, err
	}
	profile := fmt.Sprintf("/tmp/cpu-%d.pprof", largest)
	job := kernellab.Job{
		Name: "bench",
		Files: []kernellab.File{
			{Path: GuestPath, Source: o.GuestBinary, Mode: 0o755},
			{Path: configInGuest, Data: cfg},
		},
		Network:   &kernellab.Network{},
		Hostname:  NodeName,
		MemoryMiB: mem,
		Timeout:   o.Timeout,
	}
	if o.Log != nil {
		// The last command prints the profile in base64: progress readers need none of it.
		mw := &muteWriter{w: o.Log}
		job.Stream = mw
		job.OnDone = func(c kernellab.CommandResult) { mw.muted = c.Index >= len(o.Services)-1 }
	}
	for _, n := range o.Services {
		args := []string{"seedguest", "bench", "-n", fmt.Sprint(n), "--changes", fmt.Sprint(o.Changes),
			"--config", configInGuest, "--hostname-override", NodeName, "--cluster-cidr", ClusterCIDR, "-v=2"}
		if n == largest {
			args = append(args, "--cpuprofile", profile)
		}
		job.Commands = append(job.Commands, kernellab.Command{Name: fmt.Sprintf("bench %d", n), Args: args})
	}
	job.Commands = append(job.Commands, kernellab.Command{Name: "profile", Args: []string{"base64", profile}})
	res, err := l.Run(ctx, job)
	if err != nil {
		return nil, err
	}
	rep := &BenchReport{Elapsed: res.Elapsed, Boot: res.Boot, MemoryMiB: mem}
	for _, c := range res.Commands[:len(o.Services)] {
		r, err := ParseBenchOutput(c.Output)
		if err != nil || !c.OK() {
			return nil, fmt.Errorf("%s %s: %v\n%s", c.Name, status(c), err, tail(c.Output, 40))
		}
		rep.Results = append(rep.Results, r)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	write := func(name string, data []byte) error {
		p := filepath.Join(o.OutDir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
		rep.Files = append(rep.Files, p)
		return nil
	}
	if pc := res.Commands[len(res.Commands)-1]; pc.OK() {
		prof, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(pc.Output), ""))
		if err != nil {
			return nil, fmt.Errorf("decoding the CPU profile from the guest: %w", err)
		}
		name := fmt.Sprintf("cpu-%d.pprof", largest)
		if err := write(name, prof); err != nil {
			return nil, err
		}
		if top, err := pprofTop(ctx, filepath.Join(o.OutDir, name)); err == nil {
			rep.ProfileTop = top
			if err := write(fmt.Sprintf("cpu-%d.top.txt", largest), []byte(top)); err != nil {
				return nil, err
			}
		}
	} else {
		return nil, fmt.Errorf("reading the CPU profile in the guest %s:\n%s", status(pc), tail(pc.Output, 10))
	}
	js, err := json.MarshalIndent(rep.Results, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := write("results.json", append(js, '\n')); err != nil {
		return nil, err
	}
	if err := write("table.txt", []byte(rep.Table())); err != nil {
		return nil, err
	}
	return rep, nil
}

func status(c kernellab.CommandResult) string {
	if !c.Finished {
		return "did not finish"
	}
	return "exited " + strconv.Itoa(c.ExitCode)
}

// muteWriter passes writes through until muted. Stream and OnDone run on the same
// goroutine, so no lock is needed.
type muteWriter struct {
	w     io.Writer
	muted bool
}

func (m *muteWriter) Write(p []byte) (int, error) {
	if m.muted {
		return len(p), nil
	}
	return m.w.Write(p)
}

// ParseBenchOutput finds the result line in a `seedguest bench` output.
func ParseBenchOutput(out string) (BenchResult, error) {
	var r BenchResult
	for l := range strings.Lines(out) {
		if js, ok := strings.CutPrefix(strings.TrimSpace(l), BenchPrefix); ok {
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				return r, fmt.Errorf("bad result line: %w", err)
			}
			return r, nil
		}
	}
	return r, fmt.Errorf("no %q line in the output", strings.TrimSpace(BenchPrefix))
}

// pprofTop summarises a CPU profile with `go tool pprof -top`,
// by own time, then by cumulative time (which names the proxier's steps).
func pprofTop(ctx context.Context, path string) (string, error) {
	var out bytes.Buffer
	for _, args := range [][]string{{"-top", "-nodecount=30"}, {"-top", "-cum", "-nodecount=40"}} {
		cmd := exec.CommandContext(ctx, "go", append(append([]string{"tool", "pprof"}, args...), path)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return out.String(), err
		}
		out.WriteString("\n")
	}
	return out.String(), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Table renders the results, then upstream's numbers from the notes as ratios.
func (rep *BenchReport) Table() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Reference proxier in the kernel lab (guest 1 vCPU, TCG, %d MiB; %s in all, boot %s):\n\n",
		rep.MemoryMiB, rep.Elapsed.Round(time.Second), rep.Boot.Round(100*time.Millisecond))
	t := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "N\tfull sync s\tsyncs\tstart->programmed s\tfirst sync s (VS)\tone change s (visible/sync)\tRSS MB\tnat rules\tfilter rules\t")
	for _, r := range rep.Results {
		one := "-"
		if c, ok := r.medianChange(); ok {
			one = fmt.Sprintf("%.3f / %.3f", c.VisibleSeconds, c.SyncSeconds)
			if c.Full {
				one += " (full)"
			}
		}
		fmt.Fprintf(t, "%d\t%.2f\t%d\t%.2f\t%.2f (%d)\t%s\t%.0f\t%d\t%d\t\n", r.Services, r.SyncSeconds, r.Syncs, r.StartToProgrammedSeconds,
			r.FirstSyncSeconds, r.FirstSyncVirtualServers, one, r.RSSMB, r.NATRules, r.FilterRules)
	}
	t.Flush()
	b.WriteString(`
full sync: N Services x 2 endpoints from an empty kernel, the sum of the proxier's own sync
  durations (kubeproxy_sync_proxy_rules_duration_seconds) until its
  kubeproxy_ipvs_programmed_objects gauges reported N virtual servers and 2N real servers;
  start->programmed adds its start (kernel setup, informers' list and watch), wall clock.
  A read of the kernel right then found them all (results.json). The first sync can cover
  fewer Services (VS): the proxier syncs once the informers' caches hold the list, while
  their handlers may still be delivering it; the next syncs program the rest.
one change: an EndpointSlice update adding one endpoint to one Service, the median of the
  changes: until the real server is in the kernel (polled every 2 ms), and the proxier's
  own duration of that sync ("full" when the periodic full resync took it).
RSS: the whole bench process, which also holds the fake API object store and the informer
  caches (results.json has its RSS before the proxier started).
`)
	b.WriteString("\nUpstream kube-proxy v1.37.2 (ipvs mode), upstream from notes (not this run): /work/shared/notes/lab-cluster.md,\n")
	b.WriteString("same lab, Services created in one burst while it ran; ratio = upstream / this proxier:\n\n")
	t = tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "N\tupstream sync ends s\tratio\tupstream +1 visible/sync s\tratio (visible/sync)\tupstream RSS MB\tratio\t")
	for _, r := range rep.Results {
		u, ok := upstreamFor(r.Services)
		if !ok {
			fmt.Fprintf(t, "%d\t(not measured)\t\t\t\t\t\t\n", r.Services)
			continue
		}
		ratio := func(up, ours float64) string {
			if ours <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.0fx", up/ours)
		}
		oneRatio := "-"
		if c, ok := r.medianChange(); ok {
			oneRatio = ratio(u.OneVisible, c.VisibleSeconds) + " / " + ratio(u.OneSync, c.SyncSeconds)
		}
		fmt.Fprintf(t, "%d\t%.0f\t%s\t%.1f / %.1f\t%s\t%.0f\t%.1fx\t\n", r.Services, u.SyncEnds, ratio(u.SyncEnds, r.StartToProgrammedSeconds),
			u.OneVisible, u.OneSync, oneRatio, u.RSSMB, u.RSSMB/r.RSSMB)
	}
	t.Flush()
	b.WriteString("(upstream's sync is timed from the burst, ours from the proxier's start with the objects already stored: the\n" +
		"ratio uses start->programmed, the larger of our two times. Upstream also had the `kubernetes` Service and a real API server.)\n")
	return b.String()
}
