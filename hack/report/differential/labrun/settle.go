package labrun

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/dataplane"
	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
)

// reading is one look at the node while a step settles: the proxy's sync metrics read
// before and after its dataplane, so that a sync ending during the read is seen.
type reading struct {
	// At is when the reading ended, on the runner's clock.
	At            time.Time
	Before, After kubeproxy.SyncMetrics
	// State is the node's dataplane, restricted to what the report compares.
	State dataplane.State
}

// settling decides, reading after reading, when a step's dataplane is the one the proxy
// keeps. The proxy publishes, per IP family, when it last queued a change that needs a
// sync (last_queued_timestamp), when its last sync ended (last_timestamp) and the sync
// durations. Either of two things settles a step:
//
//   - synced: the proxy queued a change after the step began, and for every family that
//     did, the latest sync began after the family's last queued change. Its start is
//     bounded by its end minus the durations recorded since the sample before that end
//     (kube-proxy records a sync's duration as it returns, after its end time; the
//     reference proxier microseconds before), so the metrics are sampled more often than
//     syncs end. Such a sync read everything the
//     proxy had been told; the caller waited for the API to hold the step, and the
//     proxy's watch delivers well within the time a reading takes.
//   - quiet: no change pending, and neither the metrics nor the dataplane changed for the
//     quiet period. This settles a step the proxy needs no sync for (the baseline, a
//     headless Service, a change that moves nothing it programs) without waiting for a
//     periodic resync that may be 30 s away.
//
// A family with a change queued after its last sync ended settles nothing. A change
// queued while a sync runs is older than that sync's end, yet owed the next sync, which
// runs with the metrics still: while a family owes one, the quiet period is longer by
// the longest sync seen, so that the owed sync ends (and settles the step) within it.
type settling struct {
	quiet time.Duration
	// began is the metrics before the step was applied.
	began kubeproxy.SyncMetrics
	// last is the latest sample of the metrics; prior holds, per family, the sample before
	// its last sync's end changed to the current one.
	last, prior kubeproxy.SyncMetrics
	state       *dataplane.State
	// stateSince is when the current state was first read; stillSince when the metrics
	// or the state were last seen changing.
	stateSince, stillSince time.Time
	// longest bounds the longest sync seen since the step began.
	longest time.Duration
	// why is the evidence behind the latest decision.
	why string
}

func newSettling(began kubeproxy.SyncMetrics, quiet time.Duration) *settling {
	return &settling{quiet: quiet, began: began, last: began, prior: kubeproxy.SyncMetrics{}}
}

// sample takes a reading of the metrics alone, taken at the given time.
func (s *settling) sample(at time.Time, m kubeproxy.SyncMetrics) {
	if sameSyncs(s.last, m) {
		return
	}
	for fam, f := range m {
		prev := s.last[fam]
		if !f.Last.Equal(prev.Last) {
			s.prior[fam] = prev
		}
		if f.Syncs > prev.Syncs && f.Seconds > prev.Seconds {
			s.longest = max(s.longest, time.Duration((f.Seconds-prev.Seconds)*float64(time.Second)))
		}
	}
	s.last, s.stillSince = m, at
}

// syncStart is the earliest the family's latest sync can have started; false when that
// cannot be told (no sync ended since the step began, or the proxy restarted since).
func (s *settling) syncStart(fam string) (time.Time, bool) {
	f, ok := s.last[fam]
	prior, seen := s.prior[fam]
	if !ok || !seen || f.Syncs < prior.Syncs || f.Seconds < prior.Seconds {
		return time.Time{}, false
	}
	return f.Last.Add(-time.Duration((f.Seconds - prior.Seconds) * float64(time.Second))), true
}

// ready tells whether the metrics alone show the step synced: the dataplane is worth
// reading now.
func (s *settling) ready() bool {
	ok, _ := s.synced()
	return ok && s.pending() == ""
}

// observe takes a reading of the node and tells whether the step has settled.
func (s *settling) observe(r reading) bool {
	s.sample(r.At, r.Before)
	s.sample(r.At, r.After)
	if s.state == nil || !dataplane.Equal(*s.state, r.State) {
		st := r.State
		s.state, s.stateSince, s.stillSince = &st, r.At, r.At
	}
	if !sameSyncs(r.Before, r.After) {
		s.why = "a sync ended while the node was being read"
		return false
	}
	if why := s.pending(); why != "" {
		s.why = why
		return false
	}
	ok, why := s.synced()
	if ok {
		s.why = "synced: " + why
		return true
	}
	quiet := s.quiet
	if why != "" {
		quiet += s.longest // a family owes a sync
	}
	s.why = cmp.Or(why, "nothing queued since the step began")
	if held := r.At.Sub(s.stillSince); held >= quiet {
		s.why = fmt.Sprintf("quiet: no change pending, no sync and the same dataplane for %s", held.Round(100*time.Millisecond))
		return true
	}
	return false
}

// pending says which family has a change queued after its last sync ended; "" for none.
func (s *settling) pending() string {
	for _, fam := range families(s.last) {
		if f := s.last[fam]; f.Queued.After(f.Last) {
			return fmt.Sprintf("%s: a change queued at %s is not synced yet (last sync ended %s)", familyName(fam), clock(f.Queued), clock(f.Last))
		}
	}
	return ""
}

// synced tells whether the proxy queued a change since the step began and every family
// that did has synced since its last queued change; why says what shows it or, when not,
// which family has not ("" when nothing was queued).
func (s *settling) synced() (bool, string) {
	var fresh []string
	for _, fam := range families(s.last) {
		f := s.last[fam]
		if !f.Queued.After(s.began[fam].Queued) {
			continue // nothing queued for this family since the step began
		}
		start, known := s.syncStart(fam)
		if !known || start.Before(f.Queued) {
			return false, fmt.Sprintf("%s: its last sync (ended %s) may have begun before the change queued at %s", familyName(fam), clock(f.Last), clock(f.Queued))
		}
		fresh = append(fresh, fmt.Sprintf("%s queued a change at %s and synced from %s to %s", familyName(fam), clock(f.Queued), clock(start), clock(f.Last)))
	}
	return len(fresh) > 0, strings.Join(fresh, "; ")
}

// evidence says what the readings showed, for a step that did not settle.
func (s *settling) evidence() string {
	var b strings.Builder
	b.WriteString(s.why)
	for _, fam := range families(s.last) {
		f := s.last[fam]
		fmt.Fprintf(&b, "; %s: %d syncs, last queued %s, last sync ended %s", familyName(fam), f.Syncs, clock(f.Queued), clock(f.Last))
		if start, ok := s.syncStart(fam); ok {
			fmt.Fprintf(&b, " (began no earlier than %s)", clock(start))
		}
		if f.Queued.Equal(s.began[fam].Queued) {
			b.WriteString(", nothing queued since the step began")
		}
	}
	if s.state != nil {
		fmt.Fprintf(&b, "; the dataplane last changed at %s", s.stateSince.UTC().Format(time.TimeOnly))
	}
	return b.String()
}

// sameSyncs tells whether two readings of the metrics show the same syncs and queued changes.
func sameSyncs(a, b kubeproxy.SyncMetrics) bool {
	return maps.EqualFunc(a, b, func(x, y kubeproxy.FamilySyncs) bool {
		return x.Syncs == y.Syncs && x.Seconds == y.Seconds && x.Last.Equal(y.Last) && x.Queued.Equal(y.Queued)
	})
}

func families(m kubeproxy.SyncMetrics) []string {
	return slices.Sorted(maps.Keys(m))
}

func familyName(fam string) string {
	if fam == "" {
		return "the proxy"
	}
	return fam
}

// clock prints a metric's time of day on the node, to the millisecond; "never" for zero.
func clock(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("15:04:05.000")
}
