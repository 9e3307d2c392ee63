package clusterbench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Measurement is one proxy at one N, on a fresh cluster. Times are seconds; every time
// but SyncSeconds and ChangeSyncSeconds is on the host's wall clock from the burst's start.
type Measurement struct {
	// Proxy is "reference" or the upstream release ("v1.37.2").
	Proxy    string `json:"proxy"`
	Services int    `json:"services"`
	// BurstSeconds is creating the N Services and N EndpointSlices through the API server.
	BurstSeconds float64 `json:"burstSeconds"`
	// VisibleSeconds runs until a read of the node's kernel found N virtual servers and 2N
	// real servers (Seen).
	VisibleSeconds float64    `json:"visibleSeconds"`
	Seen           Programmed `json:"seen"`
	// VisibleReadSeconds is how long that read took: the table was complete somewhere in
	// it, so VisibleSeconds is late by up to this much (reads of 10,000 virtual servers
	// take seconds under TCG).
	VisibleReadSeconds float64 `json:"visibleReadSeconds,omitempty"`
	// SyncedSeconds runs until the end of the proxy's sync that completed the programming
	// (its last-sync gauge, node clock mapped to the host's), including any kernel work the
	// proxy does after the IPVS table is complete (ip sets, iptables).
	SyncedSeconds float64 `json:"syncedSeconds"`
	// Syncs and SyncSeconds are the proxy's own sync histogram over the same span: how many
	// syncs ran and their summed durations.
	Syncs       int     `json:"syncs"`
	SyncSeconds float64 `json:"syncSeconds"`
	// ChangeVisibleSeconds runs from the update of one EndpointSlice (one endpoint added)
	// until the node's kernel lists the new real server; ChangeSyncSeconds is the proxy's
	// duration of the sync(s) that followed (their mean when ChangeSyncs > 1).
	ChangeVisibleSeconds float64 `json:"changeVisibleSeconds"`
	ChangeSyncSeconds    float64 `json:"changeSyncSeconds"`
	ChangeSyncs          int     `json:"changeSyncs"`
	// Memory is the proxy process's alone, after the change.
	Memory Memory `json:"memory"`
	Rules  Rules  `json:"rules"`
	// ClockOffsetSeconds is node clock minus host clock, and ClockErrorSeconds the bound of
	// that estimate (half the round trip of the read).
	ClockOffsetSeconds float64 `json:"clockOffsetSeconds"`
	ClockErrorSeconds  float64 `json:"clockErrorSeconds"`
	// ClusterSeconds is the fresh cluster's creation (not part of any other number).
	ClusterSeconds float64 `json:"clusterSeconds"`
	// Profile is the CPU profile's file name, when one was taken.
	Profile string `json:"profile,omitempty"`
	// Churn is the churn phase's, when it ran.
	Churn *Churn   `json:"churn,omitempty"`
	Notes []string `json:"notes,omitempty"`
}

// Ratio is a/b, the upstream/reference factor; NaN when either is missing or b is zero.
func Ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// FormatRatio prints a ratio with the precision its size deserves: 0.7x, 12x, 2030x.
func FormatRatio(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "-"
	case r < 10:
		return strconv.FormatFloat(math.Round(r*10)/10, 'f', 1, 64) + "x"
	default:
		return strconv.FormatFloat(r, 'f', 0, 64) + "x"
	}
}

// formatSeconds prints a duration in seconds with three significant figures at most.
func formatSeconds(s float64) string {
	switch {
	case s <= 0 || math.IsNaN(s):
		return "-"
	case s < 0.01:
		return strconv.FormatFloat(s, 'f', 4, 64)
	case s < 1:
		return strconv.FormatFloat(s, 'f', 3, 64)
	case s < 100:
		return strconv.FormatFloat(s, 'f', 2, 64)
	default:
		return strconv.FormatFloat(s, 'f', 0, 64)
	}
}

func formatMiB(kib int64) string {
	if kib <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(kib)/1024, 'f', 0, 64)
}

// columns of the table: how a Measurement fills each, and its value for the ratio line
// (nil: no ratio; the burst and the number of syncs are not the proxy's speed).
type column struct {
	title string
	text  func(Measurement) string
	value func(Measurement) float64
}

var columns = []column{
	{"burst s", func(m Measurement) string { return formatSeconds(m.BurstSeconds) }, nil},
	{"visible s", func(m Measurement) string { return formatSeconds(m.VisibleSeconds) }, func(m Measurement) float64 { return m.VisibleSeconds }},
	{"after burst s", func(m Measurement) string { return formatSeconds(afterBurst(m)) }, afterBurst},
	{"synced s", func(m Measurement) string { return formatSeconds(m.SyncedSeconds) }, func(m Measurement) float64 { return m.SyncedSeconds }},
	{"syncs", func(m Measurement) string {
		if m.SyncedSeconds <= 0 {
			return "-"
		}
		return strconv.Itoa(m.Syncs)
	}, nil},
	{"sync sum s", func(m Measurement) string { return formatSeconds(m.SyncSeconds) }, func(m Measurement) float64 { return m.SyncSeconds }},
	{"+1 visible s", func(m Measurement) string { return formatSeconds(m.ChangeVisibleSeconds) }, func(m Measurement) float64 { return m.ChangeVisibleSeconds }},
	{"+1 sync s", func(m Measurement) string { return formatSeconds(m.ChangeSyncSeconds) }, func(m Measurement) float64 { return m.ChangeSyncSeconds }},
	{"RSS MB", func(m Measurement) string { return formatMiB(m.Memory.RSSKiB) }, func(m Measurement) float64 { return float64(m.Memory.RSSKiB) }},
	{"peak MB", func(m Measurement) string { return formatMiB(m.Memory.PeakKiB) }, func(m Measurement) float64 { return float64(m.Memory.PeakKiB) }},
	{"nat", func(m Measurement) string { return formatCount(m.Rules.NAT, m) }, func(m Measurement) float64 { return float64(m.Rules.NAT) }},
	{"filter", func(m Measurement) string { return formatCount(m.Rules.Filter, m) }, func(m Measurement) float64 { return float64(m.Rules.Filter) }},
}

// afterBurst is the visible time less the burst: how long the kernel lagged behind the
// API server once every object was created.
func afterBurst(m Measurement) float64 {
	if m.VisibleSeconds <= 0 {
		return 0
	}
	return math.Max(m.VisibleSeconds-m.BurstSeconds, 0.001)
}

// formatCount prints a rule count, or "-" when the run never got to read them.
func formatCount(n int, m Measurement) string {
	if m.Memory.RSSKiB == 0 && n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// writeTable prints the measurements grouped by N (ascending), the reference first, and
// after each N measured by both the reference and another proxy, a ratio line: that
// proxy's value over the reference's, column by column.
func writeTable(w io.Writer, ms []Measurement, reference string) error {
	return writeColumns(w, ms, reference, columns)
}

// writeChurnTable prints the churn phase's numbers of the measurements that ran it, laid
// out as writeTable lays out its own.
func writeChurnTable(w io.Writer, ms []Measurement, reference string) error {
	var churned []Measurement
	for _, m := range ms {
		if m.Churn != nil {
			churned = append(churned, m)
		}
	}
	return writeColumns(w, churned, reference, churnColumns)
}

// churnColumns are the churn table's; the counts get no ratio.
var churnColumns = []column{
	{"prog p50 s", func(m Measurement) string { return formatSeconds(m.Churn.ProgrammingP50Seconds) }, func(m Measurement) float64 { return m.Churn.ProgrammingP50Seconds }},
	{"prog p99 s", func(m Measurement) string { return formatSeconds(m.Churn.ProgrammingP99Seconds) }, func(m Measurement) float64 { return m.Churn.ProgrammingP99Seconds }},
	{"kernel p50 s", func(m Measurement) string { return formatKernel(m.Churn.KernelP50Seconds, m.Churn.KernelP50Missed) }, kernelValue(func(c *Churn) (float64, bool) { return c.KernelP50Seconds, c.KernelP50Missed })},
	{"kernel p99 s", func(m Measurement) string { return formatKernel(m.Churn.KernelP99Seconds, m.Churn.KernelP99Missed) }, kernelValue(func(c *Churn) (float64, bool) { return c.KernelP99Seconds, c.KernelP99Missed })},
	{"changes", func(m Measurement) string { return strconv.Itoa(m.Churn.Changes) }, nil},
	{"observed", func(m Measurement) string { return strconv.Itoa(m.Churn.Observed) }, nil},
}

// formatKernel prints a kernel quantile; one that fell on a missed change is a lower bound.
func formatKernel(s float64, missed bool) string {
	if missed {
		return ">" + formatSeconds(s)
	}
	return formatSeconds(s)
}

// kernelValue gives no ratio for a quantile that is only a lower bound.
func kernelValue(get func(*Churn) (float64, bool)) func(Measurement) float64 {
	return func(m Measurement) float64 {
		v, missed := get(m.Churn)
		if missed {
			return math.NaN()
		}
		return v
	}
}

// writeColumns groups ms by N for writeTable and writeChurnTable.
func writeColumns(w io.Writer, ms []Measurement, reference string, columns []column) error {
	byN := map[int][]Measurement{}
	var ns []int
	for _, m := range ms {
		if _, ok := byN[m.Services]; !ok {
			ns = append(ns, m.Services)
		}
		byN[m.Services] = append(byN[m.Services], m)
	}
	slices.Sort(ns)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"N", "proxy"}
	for _, c := range columns {
		header = append(header, c.title)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, n := range ns {
		rows := byN[n]
		slices.SortStableFunc(rows, func(a, b Measurement) int {
			return boolOrder(a.Proxy != reference) - boolOrder(b.Proxy != reference)
		})
		var ref *Measurement
		for i := range rows {
			if rows[i].Proxy == reference {
				ref = &rows[i]
			}
		}
		for _, m := range rows {
			cells := []string{strconv.Itoa(n), m.Proxy}
			for _, c := range columns {
				cells = append(cells, c.text(m))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
		for _, m := range rows {
			if ref == nil || m.Proxy == reference {
				continue
			}
			cells := []string{strconv.Itoa(n), m.Proxy + "/" + reference}
			for _, c := range columns {
				if c.value == nil {
					cells = append(cells, "")
					continue
				}
				cells = append(cells, FormatRatio(Ratio(c.value(m), c.value(*ref))))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
	}
	return tw.Flush()
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return 0
}

// legend explains the table's columns, for the text under it.
const legend = `N: Services created, each ClusterIP without selector, port 80 -> 8080, with one EndpointSlice of 2 ready
  endpoints on the node (addresses of no pod; managed-by ` + ManagedBy + `), created in one burst through
  client-go (parallel creates). Every proxy runs on a fresh lab cluster that it has already synced once, empty.
burst s: the burst's own duration (API server work, not the proxy's). All times below start at the burst's start.
visible s: until a read of the node's kernel (ipvsdump through the node agent, every 0.5 s plus the read's own time)
  found N virtual servers on :80 and 2N real servers on :8080, at the end of that read (results.json has the
  read's own duration: at 10,000 it takes seconds, and "synced" is then the sharper number); after burst s:
  the same less the burst, how far the kernel lagged behind the API server.
synced s: until the end of the proxy's sync that completed them, by its own gauge
  kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} (node clock mapped to the host's; the
  error is in results.json). Upstream programs IPVS first and its ip sets after, one process per entry: its
  sync ends long after the table is visible.
syncs, sync sum s: kubeproxy_sync_proxy_rules_duration_seconds{ip_family="IPv4"} count and sum over that span.
+1 visible s: one EndpointSlice updated with a third endpoint, until the kernel lists the new real server
  (ipvsadm -Ln -t VIP:80 polled every 0.1 s); +1 sync s: the proxy's duration of the sync that applied it
  (the mean, when more than one sync ran meanwhile).
RSS MB, peak MB: VmRSS and VmHWM of the proxy process alone (/proc/<pid>/status in the guest), after the change.
nat, filter: rules in those tables of iptables-save on the node after the change.
ratio lines (<release>/reference): upstream's value over the reference proxier's, per column (none for the
  burst and the number of syncs, which are not the proxy's speed).`

// churnLegend explains the churn table's columns.
const churnLegend = `churn: after the measurements above, on the same cluster, 20 endpoint changes per second for the window
  (open loop: each EndpointSlice update starts at its planned time, whatever the proxy does), each adding the
  endpoint 10.244.250.2 to one Service's slice or removing it again, the Services in a seeded random order, each
  changed again only after all others were. Every update carries endpoints.kubernetes.io/last-change-trigger-time
  (the write's start, on the node's clock), as the endpointslice controller stamps its slices.
prog p50/p99 s: kubeproxy_network_programming_duration_seconds{ip_family="IPv4"} (trigger time to the end of the
  sync that applied it, as sig-scalability measures it): quantiles of the histogram's change over the churn,
  interpolated inside its buckets as Prometheus' histogram_quantile does (buckets 0.25, 0.5, 1, 2, 3 ... s, so
  below 1 s the figures are interpolations, not observations).
kernel p50/p99 s: from each update's start (host clock) until a read of the node's kernel (/proc/net/ip_vs through
  awk, listing the virtual servers that hold 10.244.250.2:8080, every 0.1 s plus the read's time) found the
  endpoint present or absent, at the end of that read: late by up to one read (results.json has the mean read).
  Over all written changes; ">60" when the quantile falls on a change not seen within 60 s (missed).
changes: updates written; observed: of those, seen in the kernel within 60 s.`
