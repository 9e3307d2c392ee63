package labrun

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
)

// family is one IP family's sync metrics as a proxy serves them; times are seconds after t0.
type family struct {
	name         string
	syncs        int
	sum          float64
	last, queued float64
}

var t0 = time.Unix(1764900000, 0)

// metricsText renders the families the way /metrics does and parses it back, so that
// the samples go through kubeproxy.ParseSyncMetrics as the runner's readings do.
func metricsText(t *testing.T, fams ...family) kubeproxy.SyncMetrics {
	t.Helper()
	var b strings.Builder
	b.WriteString("# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram\n")
	for _, f := range fams {
		fmt.Fprintf(&b, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=%q,le=\"+Inf\"} %d\n", f.name, f.syncs)
		fmt.Fprintf(&b, "kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family=%q} %g\n", f.name, f.sum)
		fmt.Fprintf(&b, "kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=%q} %d\n", f.name, f.syncs)
	}
	gauge := func(name string, v func(family) float64) {
		fmt.Fprintf(&b, "# TYPE %s gauge\n", name)
		for _, f := range fams {
			fmt.Fprintf(&b, "%s{ip_family=%q} %.3f\n", name, f.name, float64(t0.Unix())+v(f))
		}
	}
	gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds", func(f family) float64 { return f.last })
	gauge("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", func(f family) float64 { return f.queued })
	m, err := kubeproxy.ParseSyncMetrics([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// state is a dataplane that differs by version.
func state(version int) dataplane.State {
	var st dataplane.State
	for i := range version {
		st.IPVS.Services = append(st.IPVS.Services, dataplane.VirtualServer{Protocol: "TCP", Port: uint16(80 + i), Scheduler: "rr"})
	}
	return st
}

// sample is one recorded reading: at seconds after t0, the metrics (before and after the
// dataplane when a sync ended between them) and the dataplane's version.
type sample struct {
	at            float64
	before, after []family
	state         int
}

func TestSettling(t *testing.T) {
	v4 := func(syncs int, sum, last, queued float64) family { return family{"IPv4", syncs, sum, last, queued} }
	v6 := func(syncs int, sum, last, queued float64) family { return family{"IPv6", syncs, sum, last, queued} }
	one := func(at float64, state int, fams ...family) sample { return sample{at: at, after: fams, state: state} }
	for _, tc := range []struct {
		name    string
		began   []family
		samples []sample
		// settles is the index of the sample that settles, -1 for none; why starts its
		// evidence.
		settles int
		why     string
	}{
		{
			name:  "baseline: nothing queued settles after the quiet period, not at a resync",
			began: []family{v4(3, 6, -10, -40)},
			samples: []sample{
				one(2, 1, v4(3, 6, -10, -40)), one(4, 1, v4(3, 6, -10, -40)), one(6, 1, v4(3, 6, -10, -40)),
				one(8, 1, v4(3, 6, -10, -40)), one(10, 1, v4(3, 6, -10, -40)),
			},
			settles: 3, why: "quiet: no change pending, no sync and the same dataplane for 6s",
		},
		{
			name:  "upstream: a change queued, then a sync that began after it",
			began: []family{v4(10, 20, -5, -8)},
			samples: []sample{
				one(2, 1, v4(10, 20, -5, 1)),
				one(4, 2, v4(11, 23, 5, 1)),
			},
			settles: 1, why: "synced: IPv4 queued a change at",
		},
		{
			name:  "a change queued during a sync waits for the sync after it",
			began: []family{v4(10, 20, -5, -8)},
			samples: []sample{
				one(3, 1, v4(11, 24, 4, 2)), // began at 0, before the change at 2
				one(5, 1, v4(11, 24, 4, 2)),
				one(8, 2, v4(12, 27, 7, 2)), // began at 4
			},
			settles: 2, why: "synced: IPv4 queued a change at 02:00:02.000 and synced from 02:00:04.000 to 02:00:07.000",
		},
		{
			name:  "a change queued during a long sync: the sync it is owed runs with the metrics still",
			began: []family{v4(10, 20, -5, -8)},
			samples: []sample{
				one(3, 1, v4(11, 30, 2, 1)), // began at -8, before the change at 1
				one(5, 1, v4(11, 30, 2, 1)), one(7, 1, v4(11, 30, 2, 1)), one(9, 1, v4(11, 30, 2, 1)),
				one(12, 1, v4(11, 30, 2, 1)),
				one(15, 2, v4(12, 40, 14, 1)), // began at 4
			},
			settles: 5, why: "synced: IPv4 queued a change at 02:00:01.000 and synced from 02:00:04.000 to 02:00:14.000",
		},
		{
			name:  "a sync owed for longer than the longest sync plus the quiet period is not coming",
			began: []family{v4(10, 20, -5, -8)},
			samples: []sample{
				one(3, 1, v4(11, 30, 2, 1)), one(9, 1, v4(11, 30, 2, 1)), one(18, 1, v4(11, 30, 2, 1)), one(19, 1, v4(11, 30, 2, 1)),
			},
			settles: 3, why: "quiet: no change pending, no sync and the same dataplane for 16s",
		},
		{
			name:  "a sync ending while the node is read is not trusted",
			began: []family{v4(10, 20, -5, -8)},
			samples: []sample{
				{at: 3, before: []family{v4(10, 20, -5, 1)}, after: []family{v4(11, 21, 3, 1)}, state: 1},
				one(5, 2, v4(11, 21, 3, 1)),
			},
			settles: 1, why: "synced",
		},
		{
			name:  "dual stack: an IPv4 change leaves IPv6 alone (upstream syncs only the family it concerns)",
			began: []family{v4(10, 20, -5, -8), v6(10, 5, -30, -60)},
			samples: []sample{
				one(3, 1, v4(11, 22, 3, 1), v6(10, 5, -30, -60)),
			},
			settles: 0, why: "synced: IPv4 queued a change",
		},
		{
			name:  "dual stack: both families queued, IPv6 synced with nothing to do (no duration observed)",
			began: []family{v4(10, 20, -5, -8), v6(10, 5, -5, -8)},
			samples: []sample{
				one(3, 1, v4(11, 22, 3, 1), v6(10, 5, 3, 1)),
			},
			settles: 0, why: "synced: IPv4 queued a change at 02:00:01.000 and synced from 02:00:01.000 to 02:00:03.000; IPv6",
		},
		{
			name:  "dual stack: one family still pending",
			began: []family{v4(10, 20, -5, -8), v6(10, 5, -5, -8)},
			samples: []sample{
				one(3, 1, v4(11, 22, 3, 1), v6(10, 5, -5, 1)),
			},
			settles: -1, why: "IPv6: a change queued at 02:00:01.000 is not synced yet (last sync ended 01:59:55.000)",
		},
		{
			name:  "a periodic resync (nothing queued) restarts the quiet period",
			began: []family{v4(10, 20, -5, -40)},
			samples: []sample{
				one(2, 1, v4(10, 20, -5, -40)), one(4, 1, v4(11, 22, 3, -40)), one(6, 1, v4(11, 22, 3, -40)),
				one(8, 1, v4(11, 22, 3, -40)), one(10, 1, v4(11, 22, 3, -40)),
			},
			settles: 4, why: "quiet",
		},
		{
			name:  "a changing dataplane restarts the quiet period",
			began: []family{v4(10, 20, -5, -40)},
			samples: []sample{
				one(2, 1, v4(10, 20, -5, -40)), one(4, 2, v4(10, 20, -5, -40)), one(6, 3, v4(10, 20, -5, -40)),
				one(8, 3, v4(10, 20, -5, -40)), one(10, 3, v4(10, 20, -5, -40)),
			},
			settles: -1, why: "nothing queued since the step began",
		},
		{
			name:  "a restarted proxy's sync cannot be placed: the quiet period decides",
			began: []family{v4(10, 20, -5, -8)},
			samples: []sample{
				one(3, 1, v4(1, 2, 2, 1)), one(5, 1, v4(1, 2, 2, 1)), one(7, 1, v4(1, 2, 2, 1)), one(9, 1, v4(1, 2, 2, 1)),
			},
			settles: 3, why: "quiet",
		},
		{
			name:  "a proxy without the ip_family label",
			began: []family{{"", 10, 20, -5, -8}},
			samples: []sample{
				one(3, 1, family{"", 11, 22, 3, 1}),
			},
			settles: 0, why: "synced: the proxy queued a change",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSettling(metricsText(t, tc.began...), 6*time.Second)
			settled := -1
			for i, x := range tc.samples {
				before := x.before
				if before == nil {
					before = x.after
				}
				r := reading{
					At:     t0.Add(time.Duration(x.at * float64(time.Second))),
					Before: metricsText(t, before...), After: metricsText(t, x.after...),
					State: state(x.state),
				}
				if s.observe(r) {
					settled = i
					break
				}
			}
			if settled != tc.settles {
				t.Errorf("settled at sample %d, want %d (evidence: %s)", settled, tc.settles, s.evidence())
			}
			if !strings.HasPrefix(s.why, tc.why) {
				t.Errorf("evidence %q, want it to start with %q", s.why, tc.why)
			}
		})
	}
}

// What a step that never settles fails with names each family's syncs and the change
// still waiting.
func TestSettlingEvidence(t *testing.T) {
	s := newSettling(metricsText(t, family{"IPv4", 10, 20, -5, -8}), 6*time.Second)
	m := metricsText(t, family{"IPv4", 11, 24, 4, 2})
	s.observe(reading{At: t0.Add(5 * time.Second), Before: m, After: m, State: state(1)})
	want := "IPv4: its last sync (ended 02:00:04.000) may have begun before the change queued at 02:00:02.000; " +
		"IPv4: 11 syncs, last queued 02:00:02.000, last sync ended 02:00:04.000 (began no earlier than 02:00:00.000); the dataplane last changed at 02:00:05"
	if got := s.evidence(); got != want {
		t.Errorf("evidence:\n got %s\nwant %s", got, want)
	}
}

// Sampling the metrics between readings of the node tells the syncs apart: the sync that
// began after the endpoints' change is seen as such, where one reading after both syncs
// can only bound its start by both durations.
func TestSettlingSamples(t *testing.T) {
	began := metricsText(t, family{"IPv4", 10, 20, -5, -8})
	at := func(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
	samples := []struct {
		at        float64
		m         family
		wantReady bool
	}{
		{1, family{"IPv4", 11, 22, 1, -1}, true},   // the Service's sync, from -1 to 1
		{2.5, family{"IPv4", 11, 22, 1, 2}, false}, // the endpoints queued at 2
		{5, family{"IPv4", 12, 25, 5, 2}, true},    // their sync, from 2 to 5
	}
	s := newSettling(began, 6*time.Second)
	for _, x := range samples {
		s.sample(at(x.at), metricsText(t, x.m))
		if s.ready() != x.wantReady {
			t.Errorf("at %gs: ready %v, want %v (%s)", x.at, !x.wantReady, x.wantReady, s.evidence())
		}
	}
	last := metricsText(t, samples[len(samples)-1].m)
	if !s.observe(reading{At: at(6), Before: last, After: last, State: state(2)}) {
		t.Errorf("sampled: not settled: %s", s.evidence())
	}
	unsampled := newSettling(began, 6*time.Second)
	if unsampled.observe(reading{At: at(6), Before: last, After: last, State: state(2)}) {
		t.Errorf("one reading after both syncs settled: %s", unsampled.why)
	}
	if want := "IPv4: its last sync (ended 02:00:05.000) may have begun before the change queued at 02:00:02.000"; unsampled.why != want {
		t.Errorf("evidence %q, want %q", unsampled.why, want)
	}
}
