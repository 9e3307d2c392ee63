package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"k8s.io/klog/v2"
)

// serverRetryInterval is how often a server that could not listen tries again when
// bindAddressHardFail is false, as kube-proxy retries.
const serverRetryInterval = 5 * time.Second

// retry listens every interval until it succeeds or ctx ends, then serves until ctx ends;
// a server that stops on its own is started again. It is kube-proxy's behaviour without
// bindAddressHardFail: the proxier runs on without health or metrics meanwhile.
func (s *server) retry(ctx context.Context, log klog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			log.Error(err, "Server failed to start, retrying", "server", s.name, "address", s.addr, "retryIn", interval)
			continue
		}
		srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
		stopped := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				_ = srv.Shutdown(sctx)
				cancel()
			case <-stopped:
			}
		}()
		log.Info("Serving", "server", s.name, "address", ln.Addr().String())
		err = srv.Serve(ln)
		close(stopped)
		if errors.Is(err, http.ErrServerClosed) {
			return
		}
		log.Error(err, "Server stopped, retrying", "server", s.name, "address", s.addr, "retryIn", interval)
	}
}
