package proxy

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// apiReach tells the log when the API server cannot be reached, and when it can again.
// Client-go's reflectors retry on their own and, at the default verbosity, say little: a
// dropped watch is not logged at all, and a list that hangs says nothing. So the informers'
// watch errors, and a first list that has not finished after firstListWait, start a probe of
// the API server (GET /readyz); while probes fail an error is logged, at once and then with
// a doubling interval up to maxReportInterval, and when one succeeds the outage's length is.
// It only observes: the dataplane stays as programmed until the informers deliver again.
type apiReach struct {
	log   klog.Logger
	probe func(context.Context) error
	// trouble carries the latest watch error; one pending is enough to start a probe.
	trouble chan error

	firstListWait, probeInterval, probeTimeout, reportInterval, maxReportInterval time.Duration
}

func newAPIReach(log klog.Logger, probe func(context.Context) error) *apiReach {
	return &apiReach{
		log: log, probe: probe, trouble: make(chan error, 1),
		firstListWait: 3 * time.Second, probeInterval: 2 * time.Second, probeTimeout: 4 * time.Second,
		reportInterval: 10 * time.Second, maxReportInterval: 5 * time.Minute,
	}
}

// watchError is the informers' WatchErrorHandlerWithContext: client-go's own handling
// (its log lines), then a note for run.
func (a *apiReach) watchError(ctx context.Context, r *cache.Reflector, err error) {
	cache.DefaultWatchErrorHandler(ctx, r, err)
	select {
	case a.trouble <- err:
	default:
	}
}

// run watches until ctx ends; synced is closed once the informers have listed everything.
func (a *apiReach) run(ctx context.Context, synced <-chan struct{}) {
	firstList := time.NewTimer(a.firstListWait)
	defer firstList.Stop()
	for {
		var cause error
		select {
		case <-ctx.Done():
			return
		case cause = <-a.trouble:
		case <-firstList.C:
			select {
			case <-synced:
				continue
			default:
				cause = errors.New("the first list of Services, EndpointSlices and the Node has not finished")
			}
		}
		a.outage(ctx, cause)
	}
}

// outage probes until the API server answers or ctx ends.
func (a *apiReach) outage(ctx context.Context, cause error) {
	start := time.Now()
	reported := false
	var nextReport time.Time
	interval := a.reportInterval
	for {
		pctx, cancel := context.WithTimeout(ctx, a.probeTimeout)
		err := a.probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if reported {
				a.log.Info("The API server answers again; Service and EndpointSlice changes are followed again", "unreachableFor", roundDuration(time.Since(start)))
			}
			// Watch errors from the outage are answered by this probe.
			select {
			case <-a.trouble:
			default:
			}
			return
		}
		if now := time.Now(); !now.Before(nextReport) {
			a.log.Error(err, "Cannot reach the API server: Service and EndpointSlice changes are not seen, the programmed rules stay as they are",
				"for", roundDuration(now.Sub(start)), "after", cause.Error(), "nextReportIn", interval)
			reported = true
			nextReport = now.Add(interval)
			interval = min(2*interval, a.maxReportInterval)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.probeInterval):
		}
	}
}

// roundDuration keeps log lines readable: 12.3s, 2m5s.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// readyzProbe asks the API server behind client for /readyz: nil when it is ready or
// answers that this client may not ask (it is reachable then). It is nil for a client
// without a REST client (the fake clientset).
func readyzProbe(client kubernetes.Interface) func(context.Context) error {
	rc := client.Discovery().RESTClient()
	if rc == nil {
		return nil
	}
	return func(ctx context.Context) error {
		err := rc.Get().AbsPath("/readyz").Do(ctx).Error()
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			return nil
		}
		return err
	}
}
