package sink

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/record"
)

// OverviewFilter selects the records an overview figure counts: those of
// the window [From, To) (both required), of Tenant when it is set, and
// of them at most the newest Max (1..MaxOverviewRecords). Each figure is
// one statement that walks the time index (or the tenant's) backwards
// from To and stops after Max rows, so its cost is bounded by Max
// whatever the window or the table holds.
type OverviewFilter struct {
	From, To time.Time
	Tenant   string
	Max      int
}

// MaxOverviewRecords is the largest OverviewFilter.Max.
const MaxOverviewRecords = 1_000_000

// HourCount is how many records of one action an hour of the window
// holds, and the event time of the newest of them.
type HourCount struct {
	Hour   string // the hour's start, "2006-01-02T15" (UTC)
	Action string
	N      int64
	Newest string // record.TimeLayout
}

// Counted says which records a figure counted: N of them, the oldest at
// Oldest (record.TimeLayout; "" when none). N == Max means the window
// may hold more, older than Oldest, that were not counted.
type Counted struct {
	N      int64
	Oldest string
}

// overviewRows is the statement of the newest f.Max rows of f's window,
// with cols, in dialect d: the one index walk every figure makes.
func overviewRows(f *OverviewFilter, d dialect, cols string) (string, []any, error) {
	if f.From.IsZero() || f.To.IsZero() || !f.From.Before(f.To) {
		return "", nil, fmt.Errorf("%w: an overview needs from < to", ErrInvalidFilter)
	}
	if f.Max < 1 || f.Max > MaxOverviewRecords {
		return "", nil, fmt.Errorf("%w: overview max %d not in 1..%d", ErrInvalidFilter, f.Max, MaxOverviewRecords)
	}
	w := &where{d: d}
	w.add(`ts >= %s`, record.FormatTime(f.From))
	w.add(`ts < %s`, record.FormatTime(f.To))
	if f.Tenant != "" {
		w.add(`tenant = %s`, f.Tenant)
	}
	var sb strings.Builder
	sb.WriteString(`SELECT ` + cols + ` FROM audit_records`)
	w.writeTo(&sb)
	w.args = append(w.args, f.Max)
	sb.WriteString(` ORDER BY ts DESC, chain DESC, seq DESC LIMIT ` + d.placeholder(len(w.args)))
	return sb.String(), w.args, nil
}

// hoursSQL counts the rows of overviewRows by hour and action.
func hoursSQL(f *OverviewFilter, d dialect) (string, []any, error) {
	inner, args, err := overviewRows(f, d, `ts, action`)
	if err != nil {
		return "", nil, err
	}
	return `SELECT substr(ts, 1, 13), action, count(*), max(ts), min(ts) FROM (` + inner + `) x GROUP BY 1, 2 ORDER BY 1, 2`, args, nil
}

// redactionsSQL sums the redactions of the rows of overviewRows by type:
// a version 2 payload's manifest (redactions.rules[].type and .count)
// and a version 1 payload's counts (redactions: {type: count}). Rows
// whose payload is not JSON, or whose counts are not numbers, count for
// nothing here (verify reports them). The last row is the rows counted
// and the oldest of them, under the type "".
func redactionsSQL(f *OverviewFilter, d dialect) (string, []any, error) {
	inner, args, err := overviewRows(f, d, d.overviewPayload)
	if err != nil {
		return "", nil, err
	}
	return `WITH x AS MATERIALIZED (` + inner + `) ` + d.redactionSums, args, nil
}

// sqliteRedactions and pgRedactions are the dialects' sums over x(ts, p).
const (
	sqliteRedactions = `SELECT json_extract(r.value, '$.type'), sum(json_extract(r.value, '$.count')), '' FROM x, json_each(x.p, '$.redactions.rules') r
		WHERE x.p IS NOT NULL AND json_type(x.p, '$.redactions.rules') = 'array' AND json_type(r.value, '$.count') = 'integer' AND json_type(r.value, '$.type') = 'text' GROUP BY 1
	UNION ALL
	SELECT r.key, sum(r.value), '' FROM x, json_each(x.p, '$.redactions') r
		WHERE x.p IS NOT NULL AND json_extract(x.p, '$.v') = 1 AND json_type(x.p, '$.redactions') = 'object' AND r.type = 'integer' GROUP BY 1
	UNION ALL
	SELECT '', count(*), coalesce(min(ts), '') FROM x`
	pgRedactions = `SELECT r->>'type', sum((r->>'count')::bigint)::bigint, '' FROM x, jsonb_array_elements(CASE WHEN jsonb_typeof(x.p->'redactions'->'rules') = 'array' THEN x.p->'redactions'->'rules' ELSE '[]'::jsonb END) r
		WHERE jsonb_typeof(r->'count') = 'number' AND jsonb_typeof(r->'type') = 'string' AND (r->>'count') ~ '^[0-9]{1,15}$' GROUP BY 1
	UNION ALL
	SELECT e.key, sum(e.value::bigint)::bigint, '' FROM x, jsonb_each_text(CASE WHEN x.p->>'v' = '1' AND jsonb_typeof(x.p->'redactions') = 'object' THEN x.p->'redactions' ELSE '{}'::jsonb END) e
		WHERE e.value ~ '^[0-9]{1,15}$' GROUP BY 1
	UNION ALL
	SELECT '', count(*), coalesce(min(ts), '') FROM x`
)

// scanner is what a query's rows are read through (database/sql or pgx).
type scanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// readHours reads the rows of hoursSQL.
func readHours(rows scanner) ([]HourCount, Counted, error) {
	var out []HourCount
	var c Counted
	for rows.Next() {
		var h HourCount
		var oldest string
		if err := rows.Scan(&h.Hour, &h.Action, &h.N, &h.Newest, &oldest); err != nil {
			return nil, Counted{}, err
		}
		c.N += h.N
		if c.Oldest == "" || oldest < c.Oldest {
			c.Oldest = oldest
		}
		out = append(out, h)
	}
	return out, c, rows.Err()
}

// readRedactions reads the rows of redactionsSQL.
func readRedactions(rows scanner) (map[string]int64, Counted, error) {
	out := map[string]int64{}
	var c Counted
	for rows.Next() {
		var typ, oldest string
		var n sql.NullInt64
		if err := rows.Scan(&typ, &n, &oldest); err != nil {
			return nil, Counted{}, err
		}
		if typ == "" {
			c = Counted{N: n.Int64, Oldest: oldest}
			continue
		}
		out[typ] += n.Int64
	}
	return out, c, rows.Err()
}

// CountByHour counts the records of f by hour (of event time, UTC) and
// action, in one statement (see OverviewFilter).
func (s *SQLite) CountByHour(ctx context.Context, f OverviewFilter) ([]HourCount, Counted, error) {
	return sqliteOverview(ctx, s, f, hoursSQL, readHours)
}

// CountRedactions sums the redactions of the records of f by PII type,
// in one statement (see OverviewFilter) that reads their payloads.
func (s *SQLite) CountRedactions(ctx context.Context, f OverviewFilter) (map[string]int64, Counted, error) {
	return sqliteOverview(ctx, s, f, redactionsSQL, readRedactions)
}

func sqliteOverview[T any](ctx context.Context, s *SQLite, f OverviewFilter, build func(*OverviewFilter, dialect) (string, []any, error), read func(scanner) (T, Counted, error)) (T, Counted, error) {
	v, c, err := overview(ctx, f, sqliteDialect, build, read, func(ctx context.Context, text string, args []any) (scanner, func(), error) {
		db, release, err := s.acquireReader()
		if err != nil {
			return nil, nil, err
		}
		rows, err := db.QueryContext(ctx, text, args...)
		if err != nil {
			release()
			return nil, nil, err
		}
		return rows, func() { rows.Close(); release() }, nil
	})
	if err != nil {
		return v, c, fmt.Errorf("sqlite overview: %w", err)
	}
	return v, c, nil
}

// overview runs the statement build makes of f in dialect d through
// query (which returns the rows and what closes them) under the search
// deadline, and reads its result with read.
func overview[T any](ctx context.Context, f OverviewFilter, d dialect, build func(*OverviewFilter, dialect) (string, []any, error), read func(scanner) (T, Counted, error), query func(context.Context, string, []any) (scanner, func(), error)) (T, Counted, error) {
	var zero T
	text, args, err := build(&f, d)
	if err != nil {
		return zero, Counted{}, err
	}
	type result struct {
		v T
		c Counted
	}
	got, err := withDeadline(ctx, func(ctx context.Context) (result, error) {
		rows, done, err := query(ctx, text, args)
		if err != nil {
			return result{}, err
		}
		defer done()
		v, c, err := read(rows)
		return result{v, c}, err
	})
	if err != nil {
		return zero, Counted{}, err
	}
	return got.v, got.c, nil
}

// CountByHour is SQLite.CountByHour.
func (p *Postgres) CountByHour(ctx context.Context, f OverviewFilter) ([]HourCount, Counted, error) {
	return pgOverview(ctx, p, f, hoursSQL, readHours)
}

// CountRedactions is SQLite.CountRedactions.
func (p *Postgres) CountRedactions(ctx context.Context, f OverviewFilter) (map[string]int64, Counted, error) {
	return pgOverview(ctx, p, f, redactionsSQL, readRedactions)
}

func pgOverview[T any](ctx context.Context, p *Postgres, f OverviewFilter, build func(*OverviewFilter, dialect) (string, []any, error), read func(scanner) (T, Counted, error)) (T, Counted, error) {
	v, c, err := overview(ctx, f, postgresDialect, build, read, func(ctx context.Context, text string, args []any) (scanner, func(), error) {
		rows, err := p.rpool.Query(ctx, text, args...)
		if err != nil {
			return nil, nil, err
		}
		return rows, rows.Close, nil
	})
	if err != nil {
		return v, c, fmt.Errorf("postgres overview: %w", pgSafeErr(err))
	}
	return v, c, nil
}
