package existing

import (
	"net"
	"net/http"
)

// httpVersion answers /version as an API server does, and 404 elsewhere.
type httpVersion struct{ l net.Listener }

func (h *httpVersion) serve() {
	_ = http.Serve(h.l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.2"}`))
	}))
}
