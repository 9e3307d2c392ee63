package labrun

import (
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/framework/kubeproxy"
)

// syncState is what the metrics say about the proxy's syncs.
type syncState struct {
	// Latest is the end of the latest sync of any family. A dual-stack kube-proxy syncs
	// only the family a change concerns, so the other family's time says nothing.
	Latest time.Time
	// Pending tells whether some family has a change queued after its last sync ended.
	Pending bool
}

// readSyncState reads syncState from /metrics text.
func readSyncState(metrics []byte) (syncState, error) {
	m, err := kubeproxy.ParseSyncMetrics(metrics)
	if err != nil {
		return syncState{}, err
	}
	return syncState{Latest: m.Latest(), Pending: m.Pending()}, nil
}
