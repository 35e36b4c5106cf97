package inject

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// EventPoster creates one event through the API server. Post is called
// from one goroutine at a time, with a context that bounds it; an error
// means the event was not created. It is never retried: events tell
// people why, they are not the audit trail.
type EventPoster interface {
	Post(ctx context.Context, ev *Event) error
}

// Defaults of RecorderConfig.
const (
	DefaultEventQueue  = 64
	DefaultPostTimeout = 5 * time.Second
	DefaultEventWindow = 5 * time.Minute
	DefaultEventKeys   = 1024
)

// RecorderConfig configures a Recorder; a zero field takes the default
// named beside it.
type RecorderConfig struct {
	Instance    string                // reportingInstance: the injector pod's name; required
	Controller  string                // reportingController: DefaultController
	QueueSize   int                   // events waiting to be posted: DefaultEventQueue
	PostTimeout time.Duration         // bound of one post: DefaultPostTimeout
	Window      time.Duration         // identical events within it are one: DefaultEventWindow
	MaxKeys     int                   // distinct events remembered: DefaultEventKeys
	Registerer  prometheus.Registerer // nil: no metrics registered
	Logger      *zap.Logger           // nil: no logs
	Now         func() time.Time      // nil: time.Now
}

// Recorder reports pods the injector could not inject as Kubernetes
// events, off the admission path: Warn only counts and queues, and Run
// posts. A full queue drops the event (and counts it): an admission is
// never held up, nor is the API server, which calls the webhook,
// flooded by it.
//
// Identical events (the same object, action and note: a ReplicaSet
// whose every pod is refused for the same reason) are aggregated: the
// first is posted at once, the repeats within Window are counted, and
// when the window ends with repeats one more event is posted whose
// series says how many there were in all; a key seen again after a quiet
// window starts over. So each distinct reason costs the API server at
// most one event per Window, however fast a controller retries.
type Recorder struct {
	cfg    RecorderConfig
	poster EventPoster
	queue  chan *Event
	m      recorderMetrics

	mu   sync.Mutex
	keys map[eventKey]*eventState
}

type eventKey struct {
	ref        ObjectRef
	ns, action string
	note       string
}

type eventState struct {
	first, last time.Time
	until       time.Time // the end of the current window
	count       int32     // occurrences since first
	posted      int32     // count carried by the last event queued
}

type recorderMetrics struct {
	sent, failed, dropped, aggregated prometheus.Counter
}

// NewRecorder returns a Recorder that posts through p.
func NewRecorder(p EventPoster, cfg RecorderConfig) (*Recorder, error) {
	if cfg.Instance == "" {
		return nil, errors.New("events: instance required (the injector pod's name)")
	}
	if p == nil {
		return nil, errors.New("events: poster required")
	}
	if cfg.Controller == "" {
		cfg.Controller = DefaultController
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultEventQueue
	}
	if cfg.PostTimeout <= 0 {
		cfg.PostTimeout = DefaultPostTimeout
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultEventWindow
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultEventKeys
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "audit_inject_events_total",
		Help: "Kubernetes events about pods the injector could not inject, by result: sent (created), failed (the API server refused or did not answer in time), dropped (the queue or the table of distinct events was full), aggregated (a repeat counted into a series instead of posted).",
	}, []string{"result"})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(vec)
	}
	return &Recorder{
		cfg: cfg, poster: p, queue: make(chan *Event, cfg.QueueSize),
		m: recorderMetrics{
			sent: vec.WithLabelValues("sent"), failed: vec.WithLabelValues("failed"),
			dropped: vec.WithLabelValues("dropped"), aggregated: vec.WithLabelValues("aggregated"),
		},
		keys: map[eventKey]*eventState{},
	}, nil
}

// Warn reports that the pod regarding ref, in namespace ns, was refused
// (ActionRefused) or admitted without the sidecar (ActionAdmitted), and
// why. It never blocks and never fails: the event is queued, counted
// into a series, or dropped.
func (r *Recorder) Warn(ref ObjectRef, ns, action, note string) {
	// Cut before keying: a key holds no more than an event can.
	k := eventKey{ref: ref, ns: ns, action: action, note: truncateUTF8(note, maxNote)}
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.keys[k]
	switch {
	case st != nil && now.Before(st.until):
		st.count++
		st.last = now
		r.m.aggregated.Inc()
		return
	case st != nil:
		// The window is over and the flush has not run yet: this
		// occurrence continues the series, posted now.
		st.count++
		st.last = now
	case len(r.keys) >= r.cfg.MaxKeys:
		r.m.dropped.Inc()
		return
	default:
		st = &eventState{first: now, last: now, count: 1}
		r.keys[k] = st
	}
	st.until = now.Add(r.cfg.Window)
	r.queueLocked(k, st)
}

// queueLocked queues the event of k, carrying st's count.
func (r *Recorder) queueLocked(k eventKey, st *eventState) {
	ev := newEvent(k.ref, k.ns, r.cfg.Controller, r.cfg.Instance, k.action, k.note, st.first, st.last, st.count)
	// A full queue drops: the API server is slow or down, and waiting
	// would hold up the admission that called Warn. The count stays in
	// st, so the next window's event carries it.
	select {
	case r.queue <- ev:
		st.posted = st.count
	default:
		r.m.dropped.Inc()
	}
}

// flush ends the windows that are over: a key with repeats not yet
// posted gets one more event, with its series, and a new window; a key
// without is forgotten.
func (r *Recorder) flush() {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, st := range r.keys {
		switch {
		case now.Before(st.until):
		case st.count > st.posted:
			st.until = now.Add(r.cfg.Window)
			r.queueLocked(k, st)
		default:
			delete(r.keys, k)
		}
	}
}

// Run posts the queued events, one at a time, each within PostTimeout,
// and ends the windows as they run out, until ctx is done; events still
// queued then are not posted. It returns nil.
func (r *Recorder) Run(ctx context.Context) error {
	tick := time.NewTicker(max(r.cfg.Window/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-r.queue:
			r.post(ctx, ev)
		case <-tick.C:
			r.flush()
		}
	}
}

func (r *Recorder) post(ctx context.Context, ev *Event) {
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PostTimeout)
	defer cancel()
	if err := r.poster.Post(pctx, ev); err != nil {
		r.m.failed.Inc()
		r.cfg.Logger.Warn("kubernetes event not created", zap.String("namespace", ev.Metadata.Namespace),
			zap.String("regarding", ev.Regarding.Kind+"/"+ev.Regarding.Name), zap.Error(err))
		return
	}
	r.m.sent.Inc()
}
