package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"go.uber.org/zap"

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
}

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
// Acknowledgements (the sink's cursor in the spool, and the removal of
// records every sink has) are committed by a goroutine of their own while
// the next batch is written: the deliverer reads on from the last record
// written, not from the cursor. The newest acknowledgement is committed
// before Run returns; one lost in a crash only makes a batch be written
// again, which the sink skips.
func (d *Deliverer) Run(ctx context.Context, drain <-chan struct{}) error {
	// At most 5 s between attempts: a sink that comes back is written to
	// within seconds, and an attempt costs one connection try.
	b := newBackoff(100*time.Millisecond, 5*time.Second)
	max := DeliverBatch
	if bs, ok := d.sink.(sink.Batcher); ok && bs.MaxBatch() > 0 {
		max = bs.MaxBatch()
	}
	acks := d.startAcker()
	defer acks.finish()
	written, _ := d.spool.Cursor(d.name)
	for {
		changed := d.spool.Changed()
		recs, err := d.spool.ReadAfter(d.name, written, max, DeliverBytes)
		if err != nil {
			d.log.Error("spool read failed", zap.Error(err))
			if b.wait(ctx) != nil {
				return ctx.Err()
			}
			continue
		}
		d.updateLag()
		if len(recs) == 0 {
			select {
			case <-drain:
				return nil
			default:
			}
			select {
			case <-changed:
			case <-drain:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		if err := d.sink.Write(ctx, recs); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			d.failed(err, len(recs))
			if b.wait(ctx) != nil {
				return ctx.Err()
			}
			continue
		}
		written = recs[len(recs)-1].Seq
		acks.ack(written)
		b.reset()
		d.succeeded(len(recs))
		d.purge(ctx, recs)
	}
}

// acker commits a deliverer's acknowledgements: the newest asked for,
// skipping those it has overtaken.
type acker struct {
	d    *Deliverer
	mu   sync.Mutex
	want uint64        // the newest seq to acknowledge
	wake chan struct{} // a pending want (capacity 1)
	stop chan struct{} // closed by finish
	done chan struct{} // closed when the goroutine is gone
}

func (d *Deliverer) startAcker() *acker {
	a := &acker{d: d, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

// ack asks for every record up to seq to be acknowledged.
func (a *acker) ack(seq uint64) {
	a.mu.Lock()
	a.want = max(a.want, seq)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// finish commits the newest acknowledgement asked for (one attempt when the
// others failed) and stops the goroutine.
func (a *acker) finish() {
	close(a.stop)
	<-a.done
}

func (a *acker) run() {
	defer close(a.done)
	b := newBackoff(50*time.Millisecond, 5*time.Second)
	for {
		select {
		case <-a.wake:
		case <-a.stop:
			a.commit() //nolint:errcheck // logged; the batch is written again after a restart
			return
		}
		for a.commit() != nil {
			if b.waitOr(a.stop) != nil {
				break
			}
		}
		b.reset()
	}
}

// commit acknowledges the newest seq asked for.
func (a *acker) commit() error {
	a.mu.Lock()
	seq := a.want
	a.mu.Unlock()
	if cur, _ := a.d.spool.Cursor(a.d.name); seq <= cur {
		return nil
	}
	if err := a.d.spool.Ack(a.d.name, seq); err != nil {
		// The sink has the records; until an ack succeeds they stay in
		// the spool, and a restart writes them again (skipped).
		a.d.log.Error("spool ack failed", zap.Uint64("seq", seq), zap.Error(err))
		return err
	}
	a.d.metrics.SpoolBytes.Set(float64(a.d.spool.PendingBytes()))
	return nil
}

// purgeMarker is how a retention_purge record's payload begins its action
// field; a payload containing it is decoded to be sure.
var purgeMarker = []byte(`"action":"` + record.ActionRetentionPurge + `"`)

// purge carries out the retention_purge records of a delivered batch in a
// sink that can purge. A failure is logged and counted; the next purge
// covers what this one left.
func (d *Deliverer) purge(ctx context.Context, recs []record.Sealed) {
	p, ok := d.sink.(sink.Purger)
	if !ok {
		return
	}
	for i := range recs {
		if c := recs[i].Columns; c != nil && c.Action != record.ActionRetentionPurge || !bytes.Contains(recs[i].Payload, purgeMarker) {
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
	d.metrics.SinkUp.WithLabelValues(d.name).Set(1)
	d.metrics.SpoolBytes.Set(float64(d.spool.PendingBytes()))
	d.mu.Lock()
	if !d.failingSince.IsZero() {
		d.log.Info("sink recovered", zap.Duration("after", time.Since(d.failingSince)))
		d.failingSince = time.Time{}
	}
	d.mu.Unlock()
}

func (d *Deliverer) updateLag() {
	if c, ok := d.spool.Cursor(d.name); ok {
		d.metrics.SinkLag.WithLabelValues(d.name).Set(float64(d.spool.State().HeadSeq - c))
	}
}
