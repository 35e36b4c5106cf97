package query

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxConcurrentQueries is how many /v1/audit requests (pages and
// exports) are served at once when Config.MaxConcurrentQueries is 0.
// Each holds at most one chunk of rows (about sink.SearchChunkBytes, or
// one record when a record is larger) and a write buffer, so four keep a
// sidecar under a memory limit of a few hundred MiB whatever the clients
// do, and still serve a console and a paging script side by side.
const DefaultMaxConcurrentQueries = 4

// Past the bound, a request waits in a short queue before it is refused:
// a page is usually served in milliseconds, so a client that sends a few
// requests at once (a console loading, a script paging in parallel) is
// served instead of bounced, while a flood is told to back off at once.
// The queue holds at most queueFactor requests per slot, each for at most
// queueWait; a waiting request holds no rows, only its connection.
const (
	queueFactor = 2
	queueWait   = 2 * time.Second
	// retryAfter is the Retry-After of a 429, in seconds.
	retryAfter = 1
)

// limiter bounds the queries served at once.
type limiter struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxWait  int64              // requests in the queue at most
	wait     time.Duration      // how long each waits at most
	inFlight prometheus.Gauge   // nil: no metrics
	rejected prometheus.Counter // nil: no metrics
}

func newLimiter(n int, reg prometheus.Registerer) *limiter {
	l := &limiter{slots: make(chan struct{}, n), maxWait: int64(queueFactor * n), wait: queueWait}
	if reg != nil {
		l.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "audit_queries_in_flight",
			Help: "GET /v1/audit requests (pages and exports) being served; at most server.max_concurrent_queries.",
		})
		l.rejected = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audit_queries_rejected_total",
			Help: "GET /v1/audit requests refused with 429 because server.max_concurrent_queries were being served.",
		})
		reg.MustRegister(l.inFlight, l.rejected)
	}
	return l
}

// acquire takes a slot, waiting in the queue when there is room in it;
// ok is false when the request must be refused (no slot in time, the
// queue full, or the client gone). release must be called once when ok.
func (l *limiter) acquire(ctx context.Context) (release func(), ok bool) {
	select {
	case l.slots <- struct{}{}:
		return l.taken(), true
	default:
	}
	if l.waiting.Add(1) > l.maxWait {
		l.waiting.Add(-1)
		return nil, false
	}
	defer l.waiting.Add(-1)
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return l.taken(), true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, false
}

func (l *limiter) taken() func() {
	if l.inFlight != nil {
		l.inFlight.Inc()
	}
	return func() {
		if l.inFlight != nil {
			l.inFlight.Dec()
		}
		<-l.slots
	}
}

// admit takes a slot for a query, or answers 429 with Retry-After and
// returns false.
func (h *handler) admit(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	release, ok = h.limit.acquire(r.Context())
	if ok {
		return release, true
	}
	if h.limit.rejected != nil {
		h.limit.rejected.Inc()
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeError(w, http.StatusTooManyRequests, "too many concurrent queries; retry later")
	return nil, false
}
