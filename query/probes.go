package query

import (
	"net/http"

	"go.uber.org/zap"
)

// probeRoutes are the routes that need no token and serve no record.
var probeRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// NewProbeHandler returns /healthz, /readyz and, when metrics is non-nil,
// /metrics, as NewHandler serves them, and nothing else: the handler of
// the admin listener (server.admin_listen), which needs neither a store
// nor tokens. A nil ready is always ready.
func NewProbeHandler(ready func() error, metrics http.Handler) http.Handler {
	h := &handler{ready: ready, log: zap.NewNop()}
	if h.ready == nil {
		h.ready = func() error { return nil }
	}
	h.routes = map[string]http.HandlerFunc{"/healthz": h.serveHealth, "/readyz": h.serveReady}
	if metrics != nil {
		h.routes["/metrics"] = metrics.ServeHTTP
	}
	return h
}

// NewAPIHandler is NewHandler without /healthz, /readyz and /metrics
// (404, like any unknown path): the API listener's handler when those
// routes are served by NewProbeHandler on a listener of their own.
func NewAPIHandler(cfg Config) (http.Handler, error) {
	cfg.Metrics = nil
	h, err := NewHandler(cfg)
	if err != nil {
		return nil, err
	}
	return withoutProbes(h), nil
}

// withoutProbes answers the probe routes 404, like any unknown path.
func withoutProbes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probeRoutes[r.URL.Path] {
			w.Header().Set("X-Content-Type-Options", "nosniff")
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		h.ServeHTTP(w, r)
	})
}
