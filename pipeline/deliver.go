package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/internal/backoff"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/sink"
	"github.com/fips-agents/audit-sidecar/spool"
)

// DeliverBatch is the most records one sink write carries unless the sink
// asks for more (sink.Batcher), and DeliverBytes the most payload bytes (a
// batch holds at least one record): records of huge tool results must not
// make a batch of gigabytes.
const (
	DeliverBatch = 1000
	DeliverBytes = 16 << 20
)

// Deliverer moves spooled records into one sink. See the package doc.
type Deliverer struct {
	name    string
	sink    sink.Sink
	spool   *spool.Spool
	metrics *Metrics
	log     *zap.Logger

	mu           sync.Mutex
	failingSince time.Time // zero while healthy
	lost         error     // why the sink's store lost delivered records; nil if it has not
}

// storeChecker is a sink whose store can be deleted or replaced under it
// (sink.SQLite): CheckStore finds it, opens a new store and returns an
// error wrapping sink.ErrReplaced. The deliverer calls it while idle; the
// sink's Write calls it before each batch.
type storeChecker interface {
	CheckStore() error
}

// StoreCheckInterval is how often an idle deliverer checks a
// storeChecker sink's store.
const StoreCheckInterval = time.Second

// NewDeliverer makes a deliverer for the sink registered in sp as name.
func NewDeliverer(name string, s sink.Sink, sp *spool.Spool, m *Metrics, log *zap.Logger) *Deliverer {
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Deliverer{name: name, sink: s, spool: sp, metrics: m, log: log.With(zap.String("sink", name))}
}

// FailingFor returns how long the sink's writes have been failing (0 when
// its last write succeeded).
func (d *Deliverer) FailingFor(now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failingSince.IsZero() {
		return 0
	}
	return now.Sub(d.failingSince)
}

// Run delivers until ctx is done. Once drain is closed it returns as soon
// as the sink has every record the spool holds.
//
// A sink.Pipeliner gets its InFlight batches prepared at once, each in a
// goroutine, and committed in order: a batch is acknowledged in the spool
// only after its commit, and when a prepare, a commit or an
// acknowledgement fails, every later batch is aborted and delivery starts
// again from the spool's cursor. Any other sink is written one batch at a
// time.
func (d *Deliverer) Run(ctx context.Context, drain <-chan struct{}) error {
	// At most 5 s between attempts: a sink that comes back is written to
	// within seconds, and an attempt costs one connection try.
	b := backoff.New(100*time.Millisecond, 5*time.Second)
	max := DeliverBatch
	if bs, ok := d.sink.(sink.Batcher); ok && bs.MaxBatch() > 0 {
		max = bs.MaxBatch()
	}
	var pl sink.Pipeliner = writeOnly{d.sink}
	depth := 1
	if p, ok := d.sink.(sink.Pipeliner); ok && p.InFlight() > 1 {
		pl, depth = p, p.InFlight()
	}
	var checkStore <-chan time.Time
	checker, canCheck := d.sink.(storeChecker)
	if canCheck {
		t := time.NewTicker(StoreCheckInterval)
		defer t.Stop()
		checkStore = t.C
	}
	var inFlight []*flight // in seq order
	abortAll := func() {
		for _, f := range inFlight {
			f.abort()
		}
		inFlight = nil
	}
	defer abortAll()
	for {
		changed := d.spool.Changed()
		// Whether drain was closed is read before the spool is: it is
		// closed after the last append, so a read that follows sees every
		// record. Looked at after an empty read, it could have been closed
		// (and the last records appended) between the two.
		drained := false
		select {
		case <-drain:
			drained = true
		default:
		}
		var readErr error
		for len(inFlight) < depth {
			var after uint64 // the cursor
			if n := len(inFlight); n > 0 {
				after = inFlight[n-1].last()
			}
			recs, err := d.spool.Read(d.name, spool.Range{After: after, Max: max, MaxBytes: DeliverBytes})
			if err != nil || len(recs) == 0 {
				readErr = err
				break
			}
			inFlight = append(inFlight, prepare(ctx, pl, recs))
		}
		if readErr != nil && len(inFlight) == 0 {
			d.log.Error("spool read failed", zap.Error(readErr))
			if b.Wait(ctx) != nil {
				return ctx.Err()
			}
			continue
		}
		d.updateLag()
		if len(inFlight) == 0 {
			if drained {
				return nil
			}
			select {
			case <-changed:
			case <-drain:
			case <-checkStore:
				// Other errors (no store can be opened yet) are for the
				// next write to report.
				if err := checker.CheckStore(); errors.Is(err, sink.ErrReplaced) {
					d.replaced(err)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		f := inFlight[0]
		inFlight = inFlight[1:]
		if err := f.commit(ctx); err != nil {
			abortAll()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, sink.ErrReplaced) {
				// Nothing of the batch was written; it goes to the new
				// store at once.
				d.replaced(err)
				continue
			}
			d.failed(err, len(f.recs))
			if b.Wait(ctx) != nil {
				return ctx.Err()
			}
			continue
		}
		if err := d.spool.Ack(d.name, f.last()); err != nil {
			// The sink has the records; a retry rewrites them idempotently.
			abortAll()
			d.log.Error("spool ack failed", zap.Uint64("seq", f.last()), zap.Error(err))
			if b.Wait(ctx) != nil {
				return ctx.Err()
			}
			continue
		}
		b.Reset()
		d.succeeded(len(f.recs))
		// A purge may drop partitions, which waits for the sink's open
		// transactions: the batches in flight are aborted first.
		d.purge(ctx, f.recs, abortAll)
	}
}

// flight is a batch being prepared in a goroutine of its own.
type flight struct {
	recs []record.Sealed
	done chan struct{}
	prep sink.Prepared
	err  error
}

func prepare(ctx context.Context, pl sink.Pipeliner, recs []record.Sealed) *flight {
	f := &flight{recs: recs, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.prep, f.err = pl.Prepare(ctx, recs)
	}()
	return f
}

func (f *flight) last() uint64 { return f.recs[len(f.recs)-1].Seq }

// commit waits for the prepare and commits.
func (f *flight) commit(ctx context.Context) error {
	<-f.done
	if f.err != nil {
		return f.err
	}
	return f.prep.Commit(ctx)
}

// abort waits for the prepare and drops what it stored.
func (f *flight) abort() {
	<-f.done
	if f.err == nil {
		f.prep.Abort()
	}
}

// writeOnly runs a plain Sink as a Pipeliner of one batch in flight:
// Commit writes.
type writeOnly struct{ sink.Sink }

func (w writeOnly) Prepare(_ context.Context, batch []record.Sealed) (sink.Prepared, error) {
	return pendingWrite{w.Sink, batch}, nil
}

func (w writeOnly) InFlight() int { return 1 }

type pendingWrite struct {
	s     sink.Sink
	batch []record.Sealed
}

func (p pendingWrite) Commit(ctx context.Context) error { return p.s.Write(ctx, p.batch) }
func (p pendingWrite) Abort()                           {}

// purgeMarker is how a retention_purge record's payload begins its action
// field; a payload containing it is decoded to be sure.
var purgeMarker = []byte(`"action":"` + record.ActionRetentionPurge + `"`)

// purge carries out the retention_purge records of a delivered batch in a
// sink that can purge, calling before first. A failure is logged and
// counted; the next purge covers what this one left.
func (d *Deliverer) purge(ctx context.Context, recs []record.Sealed, before func()) {
	p, ok := d.sink.(sink.Purger)
	if !ok {
		return
	}
	for i := range recs {
		if c := recs[i].Indexed; c != nil && c.Action != record.ActionRetentionPurge || !bytes.Contains(recs[i].Payload, purgeMarker) {
			continue
		}
		r, err := record.Parse(recs[i].Payload)
		if err != nil || r.Action != record.ActionRetentionPurge {
			continue
		}
		var det struct {
			Through uint64 `json:"through_seq"`
			Cutoff  string `json:"cutoff"`
		}
		if json.Unmarshal(r.Detail, &det) != nil || det.Through == 0 {
			d.log.Error("retention_purge record without through_seq", zap.Uint64("seq", r.Seq))
			continue
		}
		cutoff, _ := time.Parse(time.RFC3339Nano, det.Cutoff)
		req := sink.Purge{Chain: r.Chain, Seq: r.Seq, Through: det.Through, Cutoff: cutoff}
		if before != nil {
			before()
			before = nil
		}
		if err := p.Purge(ctx, req); err != nil {
			d.metrics.PurgeErrors.WithLabelValues(d.name).Inc()
			d.log.Warn("retention purge failed; the next purge covers it", zap.Uint64("through_seq", det.Through), zap.Error(err))
			continue
		}
		d.log.Info("retention purge done", zap.Uint64("through_seq", det.Through))
	}
}

func (d *Deliverer) failed(err error, n int) {
	d.metrics.SinkErrors.WithLabelValues(d.name).Inc()
	d.metrics.SinkUp.WithLabelValues(d.name).Set(0)
	d.mu.Lock()
	if d.failingSince.IsZero() {
		d.failingSince = time.Now()
	}
	d.mu.Unlock()
	d.log.Warn("sink write failed; records stay spooled and will be retried", zap.Int("records", n), zap.Error(err))
}

func (d *Deliverer) succeeded(n int) {
	d.metrics.Delivered.WithLabelValues(d.name).Add(float64(n))
	d.metrics.SpoolBytes.Set(float64(d.spool.PendingBytes()))
	d.mu.Lock()
	if d.lost == nil {
		d.metrics.SinkUp.WithLabelValues(d.name).Set(1)
	}
	if !d.failingSince.IsZero() {
		d.log.Info("sink recovered", zap.Duration("after", time.Since(d.failingSince)))
		d.failingSince = time.Time{}
	}
	d.mu.Unlock()
}

// replaced handles a sink store found replaced under the deliverer: the
// records delivered to the old one are not in the new one, and the spool
// no longer holds them, so they are not sent again; verify lists them as
// missing.
func (d *Deliverer) replaced(err error) {
	through, _ := d.spool.Cursor(d.name)
	d.log.Error("sink store replaced while open: records delivered to it are not in the store now at its path",
		zap.Uint64("delivered_through", through), zap.Error(err))
	d.StoreLost(err)
}

// StoreLost records that the sink's store lacks records delivered to it
// (found replaced while open, or empty at start; the caller logs why):
// it is counted in audit_sink_replaced_total, and from then on
// audit_sink_up stays 0 and LostRecords returns err, until the sidecar
// restarts. A loss needs an operator; delivery to the store goes on.
func (d *Deliverer) StoreLost(err error) {
	d.metrics.SinkReplaced.WithLabelValues(d.name).Inc()
	d.metrics.SinkUp.WithLabelValues(d.name).Set(0)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lost == nil {
		d.lost = err
	}
}

// LostRecords returns the first error given to StoreLost, or nil.
func (d *Deliverer) LostRecords() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lost
}

func (d *Deliverer) updateLag() {
	if c, ok := d.spool.Cursor(d.name); ok {
		d.metrics.SinkLag.WithLabelValues(d.name).Set(float64(d.spool.State().HeadSeq - c))
	}
}
