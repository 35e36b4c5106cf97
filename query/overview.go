package query

import (
	"context"
	"errors"
	"time"

	"github.com/fips-agents/audit-sidecar/sink"
)

// OverviewStore is a Store that counts for the console's overview. Each
// method is one statement over the newest f.Max records of the window
// [f.From, f.To) of f.Tenant (every tenant when ""), bounded by f.Max
// whatever the store holds (see sink.OverviewFilter); it is called
// concurrently and must not keep f.
type OverviewStore interface {
	CountByHour(ctx context.Context, f sink.OverviewFilter) ([]sink.HourCount, sink.Counted, error)
	CountRedactions(ctx context.Context, f sink.OverviewFilter) (map[string]int64, sink.Counted, error)
}

var (
	_ OverviewStore = (*sink.SQLite)(nil)
	_ OverviewStore = (*sink.Postgres)(nil)
)

// ErrNoOverview is a store that cannot count (not an OverviewStore).
var ErrNoOverview = errors.New("this store does not count records for an overview")

// Window is the records an overview counts: the window [From, To) and
// at most Max of its newest records.
type Window struct {
	From, To time.Time
	Max      int
}

// check refuses a window the stores could not compare with their times.
func (w Window) check() error {
	from, to := w.From.UTC(), w.To.UTC()
	switch {
	case from.Year() < 1 || to.Year() > 9999 || !from.Before(to):
		return &ParamError{"window", "must be a time range inside the years 0001 to 9999"}
	case w.Max < 1 || w.Max > sink.MaxOverviewRecords:
		return &ParamError{"window", "counts 1 to 1000000 records"}
	}
	return nil
}

func (w Window) filter(p *Principal) sink.OverviewFilter {
	return sink.OverviewFilter{From: w.From.UTC(), To: w.To.UTC(), Tenant: p.cred.tenant, Max: w.Max}
}

// CountByHour counts the records of w that p may read (its tenant's,
// for a tenant token) by hour and action, in one statement of the store
// that holds a query slot as a page does: ErrNoOverview when the store
// cannot count, ErrBusy, ErrStoreSlow, a *ParamError for a bad window.
func (r *Reader) CountByHour(ctx context.Context, p *Principal, w Window) ([]sink.HourCount, sink.Counted, error) {
	return overviewCount(ctx, r, p, w, OverviewStore.CountByHour)
}

// CountRedactions sums the redactions of the records of w that p may
// read by PII type, as CountByHour counts them.
func (r *Reader) CountRedactions(ctx context.Context, p *Principal, w Window) (map[string]int64, sink.Counted, error) {
	return overviewCount(ctx, r, p, w, OverviewStore.CountRedactions)
}

func overviewCount[T any](ctx context.Context, r *Reader, p *Principal, w Window, count func(OverviewStore, context.Context, sink.OverviewFilter) (T, sink.Counted, error)) (T, sink.Counted, error) {
	var zero T
	os, ok := r.h.store.(OverviewStore)
	if !ok {
		return zero, sink.Counted{}, ErrNoOverview
	}
	if err := w.check(); err != nil {
		return zero, sink.Counted{}, err
	}
	release, err := r.admit(ctx, p)
	if err != nil {
		return zero, sink.Counted{}, err
	}
	defer release()
	v, c, err := count(os, ctx, w.filter(p))
	if errors.Is(err, sink.ErrSearchTimeout) {
		return zero, sink.Counted{}, ErrStoreSlow
	}
	return v, c, err
}
