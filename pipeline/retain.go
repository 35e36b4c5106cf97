package pipeline

import (
	"context"
	"encoding/hex"
	"time"

	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/chain"
	"github.com/fips-agents/audit-sidecar/record"
	"github.com/fips-agents/audit-sidecar/spool"
)

// Retention is the purge policy: records sealed more than MaxAge ago are
// purged, checked every Interval, at Interval granularity.
type Retention struct {
	MaxAge   time.Duration
	Interval time.Duration
}

// marks are the retention marks the ingester commits: the first record
// of each period is marked with the MAC before it, so that a purge can
// later name its boundary exactly. Periods are interval long and begin
// at multiples of interval since the zero time; interval 0 marks nothing.
type marks struct {
	interval time.Duration
	last     time.Time    // the start of the newest marked period
	added    []spool.Mark // not yet committed
	drop     uint64       // marks through this seq go with the next commit
}

// newMarks continues the marks the spool holds.
func newMarks(r Retention, sp *spool.Spool) (marks, error) {
	if r.MaxAge <= 0 {
		return marks{}, nil
	}
	m := marks{interval: r.Interval}
	held, err := sp.Marks()
	if err != nil {
		return marks{}, err
	}
	if n := len(held); n > 0 {
		m.last = held[n-1].Time
	}
	return m, nil
}

// begins reports whether a record ingested at at would begin a period.
func (m *marks) begins(at time.Time) bool {
	return m.interval > 0 && at.Truncate(m.interval).After(m.last)
}

// sealing marks the record about to be sealed after head, ingested at at,
// when it is the first of its period.
func (m *marks) sealing(at time.Time, head chain.Head) {
	if m.interval <= 0 {
		return
	}
	if p := at.Truncate(m.interval); p.After(m.last) {
		m.added = append(m.added, spool.Mark{Time: p, Seq: head.Seq + 1, Prev: head.MAC})
		m.last = p
	}
}

func (m *marks) pending() bool { return len(m.added) > 0 || m.drop > 0 }

// extra puts the marks to commit into x.
func (m *marks) extra(x *spool.Extra) { x.Marks, x.DropMarksThrough = m.added, m.drop }

func (m *marks) committed() { m.added, m.drop = m.added[:0], 0 }

// retain appends a retention_purge record when a whole period of the chain
// is older than the policy's MaxAge, and commits it. The record names the
// last seq purged and its MAC (from the mark of the next period), so a
// verifier can check that what remains begins exactly there; each sink
// purges when it stores the record (see Deliverer).
func (in *Ingester) retain(ctx context.Context) error {
	if err := in.commit(ctx); err != nil { // marks of the open batch
		return err
	}
	held, err := in.cfg.Spool.Marks()
	if err != nil {
		in.log.Error("retention: read marks", zap.Error(err))
		return nil
	}
	cutoff := in.cfg.Now().Add(-in.cfg.Retention.MaxAge)
	var m *spool.Mark
	for i := range held {
		if held[i].Time.After(cutoff) {
			break
		}
		if held[i].Seq > 1 {
			m = &held[i]
		}
	}
	if m == nil {
		return nil
	}
	in.addOwn(record.ActionRetentionPurge, map[string]any{
		"policy":      map[string]any{"max_age": in.cfg.Retention.MaxAge.String()},
		"cutoff":      record.FormatTime(m.Time),
		"through_seq": m.Seq - 1,
		"through_mac": hex.EncodeToString(m.Prev[:]),
	})
	if in.cfg.Checkpoint.Signer != nil {
		// A purge is honoured by a verifier only once a signed checkpoint
		// covers it: one follows it in the same commit.
		in.checkpoint()
	}
	in.marks.drop = m.Seq
	in.cfg.Metrics.RetentionThrough.Set(float64(m.Seq - 1))
	in.log.Info("retention: purging records sealed before the cutoff",
		zap.Uint64("through_seq", m.Seq-1), zap.Time("cutoff", m.Time))
	return in.commit(ctx)
}
