package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/sink"
)

// loadSQLite fills the SQLite file c.path through sink.SQLite.Write, as
// a sidecar's store fills: one writer, batches of c.batch records.
func loadSQLite(ctx context.Context, c *config) error {
	if c.drop {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(c.path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	if _, err := os.Stat(c.path); err == nil {
		b, err := openSQLite(ctx, c)
		if err != nil {
			return err
		}
		n, _, _, err := b.extent(ctx)
		b.close()
		switch {
		case err != nil:
			return err
		case n >= int64(c.rows):
			logf("%s already holds %d records: not loading", c.path, n)
			return nil
		case n > 0:
			return fmt.Errorf("%s holds %d records, fewer than -rows %d: rerun with -drop", c.path, n, c.rows)
		}
	}
	s, err := sink.OpenSQLiteWith(c.path, nil, c.sqliteOptions())
	if err != nil {
		return err
	}
	defer s.Close()
	n, el, err := writeAll(ctx, c, newTimeline(dataSpan(c)), s.Write)
	if err != nil {
		return err
	}
	fmt.Printf("Load: %d records in %s through sink.SQLite.Write (%d writers, batches of %d): **%.0f records/s**\n\n",
		n, el.Round(time.Second), c.writers, c.batch, float64(n)/el.Seconds())
	return nil
}

// sqliteBackend is a SQLite store under measure: the sink opened as the
// sidecar opens it (its queries run on its own read-only pool), and a
// connection of the bench's own for samples, plans and sizes.
type sqliteBackend struct {
	c  *config
	s  *sink.SQLite
	db *sql.DB
}

func openSQLite(ctx context.Context, c *config) (backend, error) {
	if _, err := os.Stat(c.path); err != nil {
		return nil, err
	}
	s, err := sink.OpenSQLiteWith(c.path, nil, c.sqliteOptions())
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+c.path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		s.Close()
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &sqliteBackend{c: c, s: s, db: db}, nil
}

func (b *sqliteBackend) close() {
	b.db.Close()
	b.s.Close()
}

func (b *sqliteBackend) searchEach(ctx context.Context, f sink.Filter, fn func(*sink.Row) error) error {
	return b.s.SearchEach(ctx, f, fn)
}

func (b *sqliteBackend) chains(ctx context.Context) ([]string, error) { return b.s.Chains(ctx) }

// extent counts the records by max(rowid): the table is append-only
// (rowids grow with each insert), and count(*) would read all of it.
func (b *sqliteBackend) extent(ctx context.Context) (n int64, minTS, maxTS string, err error) {
	err = b.db.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0), coalesce((SELECT min(ts) FROM audit_records), ''),
		coalesce((SELECT max(ts) FROM audit_records), '') FROM audit_records`).Scan(&n, &minTS, &maxTS)
	return n, minTS, maxTS, err
}

// samples reads 20 000 rows at random rowids.
func (b *sqliteBackend) samples(ctx context.Context, seed uint64) ([]sample, error) {
	n, _, _, err := b.extent(ctx)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 99))
	var out []sample
	for range min(n, 20000) {
		var ts, chain string
		var seq int64
		var s sample
		err := b.db.QueryRowContext(ctx, `SELECT ts, chain, seq, tenant, "user", session, trace FROM audit_records WHERE rowid = ?`,
			1+r.Int64N(n)).Scan(&ts, &chain, &seq, &s.tenant, &s.user, &s.session, &s.trace)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		k, err := parseKey(ts, chain, seq)
		if err != nil {
			return nil, err
		}
		s.key = *k
		out = append(out, s)
	}
	return out, nil
}

func (b *sqliteBackend) header(ctx context.Context, out io.Writer) error {
	var ver string
	var pageSize, pages, version int64
	if err := b.db.QueryRowContext(ctx, `SELECT sqlite_version(), (SELECT page_size FROM pragma_page_size), (SELECT page_count FROM pragma_page_count), (SELECT user_version FROM pragma_user_version)`).
		Scan(&ver, &pageSize, &pages, &version); err != nil {
		return err
	}
	fmt.Fprintf(out, "Store: SQLite %s (modernc.org/sqlite, pure Go), %s, schema %d, page size %d, %s; the sink's own settings (no ANALYZE statistics, default page cache); the file in the OS page cache.\n\n",
		ver, b.c.path, version, pageSize, size(pageSize*pages))
	return nil
}

func (b *sqliteBackend) plansIntro() string {
	return "For each filter, the slowest measured call's filter: the SQL rebuilt as sink/search.go builds it (sink.SQLiteSearchSQL), checked against Search's rows, and its EXPLAIN QUERY PLAN. A filter no index serves is read window by window: the probe that finds the end of the first window is shown first."
}

func (b *sqliteBackend) explain(ctx context.Context, name string, f sink.Filter, _ []sink.Filter, out io.Writer) error {
	want, err := searchAll(ctx, b.searchEach, f)
	if err != nil {
		return err
	}
	w, err := rebuild(f, sink.SQLiteSearchSQL, sink.SQLiteSearchProbeSQL, func(q string, args []any) (*sink.Key, error) {
		var ts, chain string
		var seq int64
		switch err := b.db.QueryRowContext(ctx, q, args...).Scan(&ts, &chain, &seq); {
		case errors.Is(err, sql.ErrNoRows):
			return nil, nil
		case err != nil:
			return nil, err
		}
		return parseKey(ts, chain, seq)
	})
	if err != nil {
		return err
	}
	rows, err := b.db.QueryContext(ctx, w.q, w.args...)
	if err != nil {
		return err
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return err
	}
	var got []sink.Row
	for rows.Next() {
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			rows.Close()
			return err
		}
		chain, _ := (*vals[0].(*any)).(string)
		seq, _ := (*vals[1].(*any)).(int64)
		got = append(got, sink.Row{Chain: chain, Seq: uint64(seq)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := w.check(got, want); err != nil {
		return err
	}
	fmt.Fprintf(out, "### %s\n\nFilter: %s; %d rows.\n\n", name, describe(&f), len(want.rows))
	if w.probe != "" {
		plan, err := b.plan(ctx, w.probe, w.probeArgs)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Probe:\n\n```sql\n%s\n-- args: %s\n```\n\n```\n%s\n```\n\nThe first window's query:\n\n", w.probe, fmtArgs(w.probeArgs), plan)
	}
	plan, err := b.plan(ctx, w.q, w.args)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "```sql\n%s\n-- args: %s\n```\n\n```\n%s\n```\n\n", w.q, fmtArgs(w.args), plan)
	return nil
}

// plan is EXPLAIN QUERY PLAN of q, one line per step.
func (b *sqliteBackend) plan(ctx context.Context, q string, args []any) (string, error) {
	rows, err := b.db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n"), rows.Err()
}

// sizes are those of the table and of each index (the dbstat table:
// this reads the whole file).
func (b *sqliteBackend) sizes(ctx context.Context, out io.Writer) error {
	rows, err := b.db.QueryContext(ctx, `SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC`)
	if err != nil {
		fmt.Fprintf(out, "## Sizes\n\n(not read: %v)\n", err)
		return nil
	}
	defer rows.Close()
	fmt.Fprintf(out, "## Sizes\n\n| table or index | size |\n|---|---:|\n")
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return err
		}
		fmt.Fprintf(out, "| %s | %s |\n", name, size(n))
	}
	return rows.Err()
}

// sqliteOptions are the options the store is opened with: its query
// indexes (-sqlite-query-indexes).
func (c *config) sqliteOptions() sink.SQLiteOptions {
	var o sink.SQLiteOptions
	for _, ix := range strings.Split(c.sqliteIndexes, ",") {
		if ix = strings.TrimSpace(ix); ix != "" {
			o.QueryIndexes = append(o.QueryIndexes, ix)
		}
	}
	return o
}
