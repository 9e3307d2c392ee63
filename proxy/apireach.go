package proxy

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// apiReach tells the log when the API server cannot be reached, and when it can again.
// Client-go's reflectors retry on their own and, at the default verbosity, say little: a
// dropped watch and a failed new one are not logged at all, and a list that hangs says
// nothing. So the informers' watch errors, the failed requests an APIGate sees, and a first
// list that has not finished after firstListWait start a probe of the API server (GET
// /readyz); while probes fail an error is logged, at once and then with a doubling interval
// up to maxReportInterval, and when one succeeds the outage's length is.
// It only observes: the dataplane stays as programmed until the informers deliver again.
type apiReach struct {
	log   klog.Logger
	probe func(context.Context) error
	// gate, when set, holds the client's requests while the server is known to be away.
	gate *APIGate
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
	a.note(err)
}

// note starts a probe unless one is pending.
func (a *apiReach) note(err error) {
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
			a.gate.open()
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
		a.gate.close()
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

// APIGate holds a client's requests while the API server is known to be unreachable, and
// lets them go the moment a probe finds it back. Without it each failed list or watch grows
// client-go's reflector backoff (up to 30 s, doubled by jitter), so after an outage of a
// minute the informers could wait another minute before they list again; held, they fail
// once and then go as soon as the server answers. The zero value is an open gate.
type APIGate struct {
	mu sync.Mutex
	up chan struct{} // non-nil while closed; closed when the gate opens
	// failed hears of every request that failed below HTTP (no connection, reset): the
	// reflectors retry a failed watch quietly, so this is how an outage is noticed.
	failed func(error)
}

type probeKey struct{}

// Wrap is a rest.Config WrapTransport: requests wait while the gate is closed (or until
// their context ends); the reachability probe's own requests never wait.
func (g *APIGate) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		probe := req.Context().Value(probeKey{}) != nil
		if !probe {
			if err := g.wait(req.Context()); err != nil {
				return nil, err
			}
		}
		resp, err := rt.RoundTrip(req)
		if err != nil && !probe && req.Context().Err() == nil {
			g.requestFailed(err)
		}
		return resp, err
	})
}

// notify sets who hears of failed requests.
func (g *APIGate) notify(failed func(error)) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failed = failed
}

func (g *APIGate) requestFailed(err error) {
	if g == nil {
		return
	}
	g.mu.Lock()
	failed := g.failed
	g.mu.Unlock()
	if failed != nil {
		failed(err)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func (g *APIGate) wait(ctx context.Context) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	up := g.up
	g.mu.Unlock()
	if up == nil {
		return nil
	}
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *APIGate) close() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.up == nil {
		g.up = make(chan struct{})
	}
}

func (g *APIGate) open() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.up != nil {
		close(g.up)
		g.up = nil
	}
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
		err := rc.Get().AbsPath("/readyz").Do(context.WithValue(ctx, probeKey{}, true)).Error()
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			return nil
		}
		return err
	}
}
