package proxy

import (
	"bufio"
	"context"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	clientmetrics "k8s.io/client-go/tools/metrics"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

const (
	// upstreamMetricsFile lists what kube-proxy v1.37.2 registers in IPVS mode; its header
	// says how it was produced from upstream's code.
	upstreamMetricsFile = "testdata/kube-proxy-v1.37.2-ipvs-metrics.txt"
	// labScrapeFile is /metrics of upstream kube-proxy v1.37.2 in IPVS mode, dual-stack, as
	// the kernel lab scraped it for the cluster benchmark report.
	labScrapeFile = "hack/report/clusterbench/testdata/metrics-lab-kube-proxy-v1.37.2-dualstack.txt"
	readmeFile    = "README.md"
	// The headings of proxy/README.md's two metrics tables.
	notServedHeading = "#### kube-proxy's metrics not served here"
	extraHeading     = "#### Metrics served here that kube-proxy lacks"
)

// metricShape is what a dashboard depends on: name, type, label names and buckets.
type metricShape struct {
	name, typ string
	labels    []string // sorted, without le
	buckets   []string // upper bounds as strconv 'g' prints them; nil unless a histogram
}

func (s metricShape) String() string {
	return s.name + " " + s.typ + " {" + strings.Join(s.labels, ",") + "} [" + strings.Join(s.buckets, ",") + "]"
}

// readUpstreamList reads upstreamMetricsFile.
func readUpstreamList(t *testing.T) map[string]metricShape {
	t.Helper()
	f, err := os.Open(upstreamMetricsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]metricShape{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 4 {
			t.Fatalf("%s:%d: expected name, type, labels and buckets, found %q", upstreamMetricsFile, n, line)
		}
		s := metricShape{name: fields[0], typ: fields[1]}
		if fields[2] != "-" {
			s.labels = strings.Split(fields[2], ",")
		}
		if fields[3] != "-" {
			s.buckets = strings.Split(fields[3], ",")
		}
		out[s.name] = s
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s lists no metric", upstreamMetricsFile)
	}
	return out
}

// shapesOf reads the shape of every family from its first series.
func shapesOf(mfs map[string]*dto.MetricFamily) map[string]metricShape {
	out := map[string]metricShape{}
	for name, mf := range mfs {
		s := metricShape{name: name, typ: strings.ToLower(mf.GetType().String())}
		if len(mf.GetMetric()) > 0 {
			m := mf.GetMetric()[0]
			for _, l := range m.GetLabel() {
				s.labels = append(s.labels, l.GetName())
			}
			slices.Sort(s.labels)
			for _, b := range m.GetHistogram().GetBucket() {
				if math.IsInf(b.GetUpperBound(), 1) {
					continue // the text format writes it, a registry's own gathering does not
				}
				s.buckets = append(s.buckets, strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))
			}
		}
		out[name] = s
	}
	return out
}

// readLabScrape parses labScrapeFile.
func readLabScrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(fixture.RepoFile(t, labScrapeFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return parseExposition(t, labScrapeFile, f)
}

func parseExposition(t *testing.T, what string, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parsing %s: %v", what, err)
	}
	return mfs
}

// readmeRow is one row of a metrics table of proxy/README.md: a metric name, or a prefix
// ending in *, and why.
type readmeRow struct{ pattern, reason string }

func (r readmeRow) matches(name string) bool {
	if p, ok := strings.CutSuffix(r.pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return name == r.pattern
}

var readmeRowRE = regexp.MustCompile("^\\| `([a-z0-9_]+\\*?)` \\|(.*)\\|$")

// readReadmeTable reads the table under heading in proxy/README.md.
func readReadmeTable(t *testing.T, heading string) []readmeRow {
	t.Helper()
	data, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	i := slices.Index(lines, heading)
	if i < 0 {
		t.Fatalf("%s has no heading %q", readmeFile, heading)
	}
	var rows []readmeRow
	inTable := false
	for _, line := range lines[i+1:] {
		if !strings.HasPrefix(line, "|") {
			if inTable || strings.HasPrefix(line, "#") {
				break
			}
			continue
		}
		inTable = true
		m := readmeRowRE.FindStringSubmatch(line)
		if m == nil {
			if strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| Metric") {
				continue
			}
			t.Fatalf("%s, table %q: row %q is not | `metric` | why |", readmeFile, heading, line)
		}
		reason := strings.TrimSpace(strings.ReplaceAll(m[2], "|", " "))
		if reason == "" {
			t.Fatalf("%s, table %q: %s has no reason", readmeFile, heading, m[1])
		}
		rows = append(rows, readmeRow{pattern: m[1], reason: reason})
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows under %q", readmeFile, heading)
	}
	return rows
}

// labelValue is the value of a label of a family's first series; "" if none.
func labelValue(mf *dto.MetricFamily, name string) string {
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
	}
	return ""
}

func matchRow(rows []readmeRow, name string) (readmeRow, bool) {
	for _, r := range rows {
		if r.matches(name) {
			return r, true
		}
	}
	return readmeRow{}, false
}

// The list of upstream's metrics (produced from its code) agrees with what upstream
// kube-proxy served in the lab: every kubeproxy_* and rest_client_* family there is in the
// list, with its type, labels and buckets.
func TestUpstreamMetricsListMatchesLabScrape(t *testing.T) {
	list := readUpstreamList(t)
	scraped := shapesOf(readLabScrape(t))
	seen := 0
	for name, got := range scraped {
		if !strings.HasPrefix(name, "kubeproxy_") && !strings.HasPrefix(name, "rest_client_") {
			continue
		}
		seen++
		want, ok := list[name]
		if !ok {
			t.Errorf("%s served by kube-proxy in the lab is not in %s: regenerate it", name, upstreamMetricsFile)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs:\nin the lab scrape: %v\nin the list:       %v", name, got, want)
		}
	}
	if seen < 10 {
		t.Fatalf("%s holds only %d kubeproxy_ and rest_client_ families; is it a kube-proxy scrape?", labScrapeFile, seen)
	}
}

// variableLabels is how a Desc prints its label names (client_golang's Desc.String).
var variableLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)

// touchVectors gives each vector of m a series, so that /metrics shows every family
// however little the test exercised it: a vector without series is not exposed at all.
func touchVectors(t *testing.T, m *Metrics) {
	t.Helper()
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if !v.Field(i).CanInterface() {
			continue
		}
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok {
			continue
		}
		ch := make(chan *prometheus.Desc, 1)
		go func() { c.Describe(ch); close(ch) }()
		var values []string
		for d := range ch {
			match := variableLabels.FindStringSubmatch(d.String())
			if match == nil {
				t.Fatalf("cannot read the labels of %s", d)
			}
			if match[1] != "" {
				values = slices.Repeat([]string{"x"}, strings.Count(match[1], ",")+1)
			}
		}
		switch vec := c.(type) {
		case *prometheus.HistogramVec:
			vec.WithLabelValues(values...)
		case *prometheus.CounterVec:
			vec.WithLabelValues(values...)
		case *prometheus.GaugeVec:
			vec.WithLabelValues(values...)
		}
	}
	// client-go's hooks, each once: component-base's adapters behind them are kube-proxy's.
	ctx, u := context.Background(), url.URL{Host: "x"}
	clientmetrics.RequestLatency.Observe(ctx, "x", u, time.Second)
	clientmetrics.RequestSize.Observe(ctx, "x", "x", 1)
	clientmetrics.ResponseSize.Observe(ctx, "x", "x", 1)
	clientmetrics.RateLimiterLatency.Observe(ctx, "x", u, time.Second)
	clientmetrics.RequestResult.Increment(ctx, "x", "x", "x")
	clientmetrics.RequestRetry.IncrementRetry(ctx, "x", "x", "x")
	clientmetrics.ExecPluginCalls.Increment(0, "x")
	clientmetrics.ExecPluginPolicyCalls.Increment("x")
	clientmetrics.TransportCreateCalls.Increment("x")
	clientmetrics.TransportCAReloads.Increment("x", "x")
	clientmetrics.TransportCacheGCCalls.Increment("x")
}

// Every metric kube-proxy v1.37 serves in IPVS mode is served here with the same type,
// labels and buckets, or is in proxy/README.md's table of those not served, with why; every
// metric served here that kube-proxy lacks is in the README's other table. The README
// tables are read, so they cannot drift from what /metrics serves.
func TestMetricsMatchKubeProxy(t *testing.T) {
	list := readUpstreamList(t)
	// Upstream's metrics: the list, and what the lab scrape shows besides (Go, process and
	// component-base's own), whose shape is read from the scrape.
	scrape := readLabScrape(t)
	upstream := shapesOf(scrape)
	for name, s := range list {
		upstream[name] = s
	}
	// The Go collector's families (go_godebug_* most) follow the Go release: compared only
	// when this test is built with the release upstream's kube-proxy was.
	upstreamGo := labelValue(scrape["go_info"], "version")
	sameGo := upstreamGo == runtime.Version()
	if !sameGo {
		t.Logf("built with %s, upstream's kube-proxy with %q: its go_* families are not compared", runtime.Version(), upstreamGo)
	}
	notServed := readReadmeTable(t, notServedHeading)
	extra := readReadmeTable(t, extraHeading)

	// A proxier that synced a Service, then /metrics as served.
	fk := newFakes(t)
	feed := newDirectFeed(t, fk, seedConfig(t))
	feed.service(svcObj("web", "10.96.0.20", 80, withNodePort(30080)), false)
	s := sliceObj("web", "a", 8080, corev1.ProtocolTCP, ready("10.244.1.2", "node2"))
	s.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: time.Now().Format(time.RFC3339Nano)}
	feed.slice(s, false)
	if err := feed.p.Sync(); err != nil {
		t.Fatal(err)
	}
	touchVectors(t, feed.p.Metrics())
	srv := httptest.NewServer(MetricsMux(feed.p.Metrics()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served := shapesOf(parseExposition(t, "/metrics", resp.Body))

	for _, name := range slices.Sorted(maps.Keys(upstream)) {
		if _, listed := list[name]; !listed && !sameGo && strings.HasPrefix(name, "go_") {
			continue
		}
		want := upstream[name]
		got, ok := served[name]
		if row, listed := matchRow(notServed, name); listed {
			if ok {
				t.Errorf("%s is served, but %s lists it as not served (%s): remove the row", name, readmeFile, row.reason)
			}
			continue
		}
		if !ok {
			t.Errorf("kube-proxy serves %s (%v); serve it, or add it to %s under %q with why not", name, want, readmeFile, notServedHeading)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from kube-proxy's:\nserved here: %v\nkube-proxy:  %v", name, got, want)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(served)) {
		if _, ok := upstream[name]; ok || (!sameGo && strings.HasPrefix(name, "go_")) {
			continue
		}
		if _, listed := matchRow(extra, name); !listed {
			t.Errorf("%s is served here and not by kube-proxy; add it to %s under %q with what it is", name, readmeFile, extraHeading)
		}
	}
	for _, r := range notServed {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(upstream)), r.matches) {
			t.Errorf("%s, %q: %s names no metric of kube-proxy's", readmeFile, notServedHeading, r.pattern)
		}
	}
	for _, r := range extra {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(served)), r.matches) {
			t.Errorf("%s, %q: %s names no metric served here", readmeFile, extraHeading, r.pattern)
		}
	}
}
