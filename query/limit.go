package query

import (
	"context"
	"net/http"
	"strconv"
	"sync"
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

// limiter bounds the queries served at once, and each credential's share
// of them: a token may hold at most share slots (half of them, at least
// one), so that a token whose client holds its slots (stops reading,
// sends the costliest queries) cannot keep the other tokens out. A
// request of a token that holds its share waits in a queue of its own
// (queueFactor requests per slot of the share, each for at most wait),
// never in the shared queue.
type limiter struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxWait  int64              // requests in the queue at most
	wait     time.Duration      // how long each waits at most
	share    int                // slots one credential holds at most
	inFlight prometheus.Gauge   // nil: no metrics
	rejected prometheus.Counter // nil: no metrics

	mu     sync.Mutex
	tokens map[any]*tokenShare // by credential; entries live while used
}

// tokenShare is one credential's slots and queue.
type tokenShare struct {
	slots   chan struct{}
	waiting int64 // under limiter.mu
	users   int   // requests holding or waiting for the entry, under limiter.mu
}

// shareOf is how many of n slots one credential may hold.
func shareOf(n int) int { return max(1, n/2) }

func newLimiter(n int, reg prometheus.Registerer) *limiter {
	l := &limiter{slots: make(chan struct{}, n), maxWait: int64(queueFactor * n), wait: queueWait,
		share: shareOf(n), tokens: map[any]*tokenShare{}}
	if reg != nil {
		l.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "audit_queries_in_flight",
			Help: "GET /v1/audit requests (pages and exports) being served; at most server.max_concurrent_queries.",
		})
		l.rejected = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audit_queries_rejected_total",
			Help: "GET /v1/audit requests refused with 429 because server.max_concurrent_queries were being served, or the token's share of them.",
		})
		reg.MustRegister(l.inFlight, l.rejected)
	}
	return l
}

// acquire takes a slot for a request of credential who: first one of
// its share, then one of the slots, waiting in the queues when there is
// room in them, at most l.wait in all; ok is false when the request must
// be refused (no slot in time, a queue full, or the client gone). release
// must be called once when ok.
func (l *limiter) acquire(ctx context.Context, who any) (release func(), ok bool) {
	// One wait in all, started at the first queue the request enters.
	var deadline <-chan time.Time
	var stopTimer func() bool
	timer := func() <-chan time.Time {
		if deadline == nil {
			t := time.NewTimer(l.wait)
			deadline, stopTimer = t.C, t.Stop
		}
		return deadline
	}
	defer func() {
		if stopTimer != nil {
			stopTimer()
		}
	}()

	ts := l.enter(who)
	select {
	case ts.slots <- struct{}{}:
	default:
		if !l.queueForShare(ts) {
			l.leave(who, ts)
			return nil, false
		}
		select {
		case ts.slots <- struct{}{}:
			l.dequeueForShare(ts)
		case <-timer():
			l.dequeueForShare(ts)
			l.leave(who, ts)
			return nil, false
		case <-ctx.Done():
			l.dequeueForShare(ts)
			l.leave(who, ts)
			return nil, false
		}
	}
	giveBack := func() { <-ts.slots; l.leave(who, ts) }

	select {
	case l.slots <- struct{}{}:
		return l.taken(giveBack), true
	default:
	}
	if l.waiting.Add(1) > l.maxWait {
		l.waiting.Add(-1)
		giveBack()
		return nil, false
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		return l.taken(giveBack), true
	case <-timer():
	case <-ctx.Done():
	}
	giveBack()
	return nil, false
}

// enter returns who's share, created when it has none.
func (l *limiter) enter(who any) *tokenShare {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.tokens[who]
	if ts == nil {
		ts = &tokenShare{slots: make(chan struct{}, l.share)}
		l.tokens[who] = ts
	}
	ts.users++
	return ts
}

// leave ends a request's use of who's share; the last one removes it.
func (l *limiter) leave(who any, ts *tokenShare) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts.users--; ts.users == 0 {
		delete(l.tokens, who)
	}
}

// queueForShare takes a place in ts's queue, if there is one.
func (l *limiter) queueForShare(ts *tokenShare) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts.waiting >= int64(queueFactor*l.share) {
		return false
	}
	ts.waiting++
	return true
}

func (l *limiter) dequeueForShare(ts *tokenShare) {
	l.mu.Lock()
	ts.waiting--
	l.mu.Unlock()
}

func (l *limiter) taken(giveBack func()) func() {
	if l.inFlight != nil {
		l.inFlight.Inc()
	}
	return func() {
		if l.inFlight != nil {
			l.inFlight.Dec()
		}
		<-l.slots
		giveBack()
	}
}

// admit takes a slot for a query, or answers 429 with Retry-After and
// returns false.
func (h *handler) admit(w http.ResponseWriter, r *http.Request, cred *credential) (release func(), ok bool) {
	release, ok = h.limit.acquire(r.Context(), cred)
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
